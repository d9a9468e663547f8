using HaKit.Resources;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>One log line per event: what the node decided and why (the detector state, the arbiter's answer, the epochs, the fence result).</summary>
internal static class EventLog
{
    /// <summary>The line <see cref="Log"/> writes for <paramref name="e"/> (the admin API's event text), or null when it writes none.</summary>
    /// <param name="nodeName">The local node.</param>
    /// <param name="e">The event.</param>
    /// <returns>The formatted message.</returns>
    public static string? Describe(string nodeName, ClusterEvent e)
    {
        var capture = new LineCapture();
        Log(capture, nodeName, e);
        return capture.Line;
    }

    /// <summary>Logs <paramref name="e"/> at its level (events with no log line of their own are skipped).</summary>
    /// <param name="logger">The node's logger.</param>
    /// <param name="nodeName">The local node.</param>
    /// <param name="e">The event.</param>
    public static void Log(ILogger logger, string nodeName, ClusterEvent e)
    {
        switch (e)
        {
            case PeerHealthChanged { To: PeerHealth.Dead or PeerHealth.Suspect, Observation.Leaving: true } p:
                if (p.To == PeerHealth.Dead)
                {
                    RuntimeLog.PeerLeft(logger, p.Peer, p.Observation.ToString());
                }

                break;
            case PeerHealthChanged { To: PeerHealth.Dead } p when p.Silence is { } silence:
                RuntimeLog.PeerDead(logger, p.Peer, silence.TotalSeconds, p.Observation.Links.Count == 1 ? "1 link" : $"{p.Observation.Links.Count} links", p.Observation.ToString());
                break;
            case PeerHealthChanged { To: PeerHealth.Dead } p:
                RuntimeLog.PeerNeverHeard(logger, p.Peer, p.Observation.ToString());
                break;
            case PeerHealthChanged { To: PeerHealth.Suspect } p:
                RuntimeLog.PeerSuspect(logger, p.Peer, p.Silence?.TotalSeconds ?? 0, p.Observation.ToString());
                break;
            case PeerHealthChanged p:
                RuntimeLog.PeerAlive(logger, p.Peer, p.Observation.ToString());
                break;
            case LinkHealthChanged { To: PeerHealth.Dead } l:
                RuntimeLog.LinkDown(logger, l.Link, l.Peer, l.Detail);
                break;
            case LinkHealthChanged l:
                RuntimeLog.LinkChanged(logger, l.Link, l.Peer, l.To == PeerHealth.Alive ? "up" : "late", l.Detail);
                break;
            case RoleChanged { To: GroupRole.Acquiring } r:
                RuntimeLog.Acquiring(logger, r.Group, r.Epoch, r.Why.ToString());
                break;
            case RoleChanged { To: GroupRole.Active, TakeoverDuration: { } d } r:
                RuntimeLog.TakeoverComplete(logger, r.Group, d.TotalMilliseconds, r.Epoch, r.Takeover?.ToString().ToLowerInvariant() ?? "takeover");
                break;
            case RoleChanged { To: GroupRole.Blocked } r:
                RuntimeLog.Blocked(logger, r.Group, r.Why.Reason);
                break;
            case RoleChanged r:
                RuntimeLog.RoleChanged(logger, r.Group, r.From.ToString(), r.To.ToString(), r.Epoch, r.Why.Reason);
                break;
            case SplitBrainDetected s:
                RuntimeLog.SplitBrain(logger, s.Group, s.LocalNode, s.LocalEpoch, s.PeerNode, s.PeerEpoch, s.Winner);
                break;
            case TakeoverDelayed t:
                RuntimeLog.TakeoverDelayed(logger, t.Group, t.Reason);
                break;
            case FenceCompleted f:
                RuntimeLog.Fence(logger, f.Node, f.Result.Succeeded ? "fenced" : "FAILED", f.Result.Explanation);
                break;
            case GroupFailed g:
                RuntimeLog.GroupFailed(logger, g.Group, g.Kind.ToString(), g.Resource, g.Message);
                break;
            case GroupHealthReported h:
                RuntimeLog.GroupHealth(logger, h.Group, h.Outcome.ToString().ToLowerInvariant(), h.Resource, h.Message, h.Restarts);
                break;
            case LocalPauseDetected p:
                RuntimeLog.LocalPause(logger, p.Duration.TotalMilliseconds);
                break;
            case PeerCrashHinted h:
                RuntimeLog.CrashHinted(logger, h.Peer, h.Evidence, string.Join(", ", h.Shortened), h.Why);
                break;
            case PeerRestarted p:
                RuntimeLog.PeerRestarted(logger, p.Peer, p.PreviousIncarnation, p.Incarnation);
                break;
            case PersistFailed p:
                RuntimeLog.PersistFailed(logger, p.Group, p.Epoch, p.Error);
                break;
            case ResourceActionCompleted a:
                RuntimeLog.ResourceAction(logger, a.Record.Group, a.Record.Action.ToString().ToLowerInvariant(), a.Record.Resource,
                    a.Record.TimedOut ? "timed out" : a.Record.FailureKind == ResourceFailureKind.None ? (a.Record.Status?.ToString() ?? "ok") : $"{a.Record.FailureKind}: {a.Record.Message}",
                    a.Record.Duration.TotalMilliseconds);
                break;
            case GroupHandedOver h:
                RuntimeLog.HandedOver(logger, h.Group, h.To);
                break;
            case ReachabilityMove m:
                RuntimeLog.IpfailMove(logger, m.Group, m.To, m.Score, m.Targets, m.PeerScore, m.Lost.Count == 0 ? "none throughout" : string.Join(", ", m.Lost));
                break;
            case ShutdownReady:
                RuntimeLog.ShutdownReady(logger, nodeName);
                break;
        }
    }
}

/// <summary>A logger that keeps the formatted message of the one line written to it (so event text and log lines are the same words).</summary>
internal sealed class LineCapture : ILogger
{
    /// <summary>The last formatted message.</summary>
    public string? Line { get; private set; }

    /// <inheritdoc />
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    /// <inheritdoc />
    public bool IsEnabled(LogLevel logLevel) => true;

    /// <inheritdoc />
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Line = formatter(state, exception);
}
