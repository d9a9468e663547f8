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

    /// <summary>
    /// Describes one event of each kind a takeover raises (crash hint, the role changes, the resource action, peer and link
    /// health, a local pause) and throws the lines away. Each message's state is its own generic instantiation of the logging code,
    /// which ahead-of-time preparation cannot reach: without this, the first takeover of a process paid 5 to 12 ms per event on
    /// its loop for <see cref="Describe"/> (the admin event journal's text). Run on the warm-up thread; no output, no state.
    /// </summary>
    /// <param name="nodeName">This node's name.</param>
    /// <param name="group">A group of this node (its name is in the lines).</param>
    /// <returns>How many lines were formatted.</returns>
    public static int WarmUp(string nodeName, string group)
    {
        const string Peer = "peer";
        var why = new DecisionContext("warm-up", [], null, null, 1, new Dictionary<string, ulong>());
        var observation = new PeerObservation(Peer, PeerHealth.Dead, [], false);
        ClusterEvent[] events =
        [
            new PeerCrashHinted(TimeSpan.Zero, Peer, "link", "evidence", [group], "why"),
            new RoleChanged(TimeSpan.Zero, group, nodeName, GroupRole.Standby, GroupRole.Acquiring, 2, why, null, TakeoverReason.Failover),
            new RoleChanged(TimeSpan.Zero, group, nodeName, GroupRole.Acquiring, GroupRole.Starting, 2, why, null, TakeoverReason.Failover),
            new RoleChanged(TimeSpan.Zero, group, nodeName, GroupRole.Starting, GroupRole.Active, 2, why, TimeSpan.FromMilliseconds(1), TakeoverReason.Failover),
            new RoleChanged(TimeSpan.Zero, group, nodeName, GroupRole.Active, GroupRole.Stopping, 2, why),
            new ResourceActionCompleted(TimeSpan.Zero, new ResourceActionRecord(group, "resource", ResourceAction.Start, ResourceFailureKind.None, null, null, TimeSpan.FromMilliseconds(1), false)),
            new PeerHealthChanged(TimeSpan.Zero, Peer, PeerHealth.Alive, PeerHealth.Suspect, observation, TimeSpan.FromMilliseconds(1)),
            new PeerHealthChanged(TimeSpan.Zero, Peer, PeerHealth.Suspect, PeerHealth.Dead, observation, TimeSpan.FromMilliseconds(1)),
            new PeerHealthChanged(TimeSpan.Zero, Peer, PeerHealth.Dead, PeerHealth.Alive, observation, null),
            new LinkHealthChanged(TimeSpan.Zero, Peer, "link", PeerHealth.Alive, PeerHealth.Suspect, "detail"),
            new LinkHealthChanged(TimeSpan.Zero, Peer, "link", PeerHealth.Suspect, PeerHealth.Dead, "detail"),
            new LocalPauseDetected(TimeSpan.Zero, TimeSpan.FromMilliseconds(1)),
        ];
        var formatted = 0;
        foreach (var e in events)
        {
            formatted += Describe(nodeName, e) is null ? 0 : 1;
        }

        return formatted;
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
            case LocalPauseDetected { BeforeFirstTick: true } p:
                RuntimeLog.FirstTickLate(logger, p.Duration.TotalMilliseconds);
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
