using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Arbitration;

/// <summary>
/// Heartbeat's classic two-node arbiter (with ipfail-style ping nodes). Cooperative acquisitions
/// (<see cref="AcquireReason.Initial"/>, <see cref="AcquireReason.Handoff"/>, <see cref="AcquireReason.Renew"/>) are
/// always granted: the peer is alive and the ownership rules already agreed. A failover
/// (<see cref="AcquireReason.PeerDead"/>) is granted only if this node still reaches at least one reachability
/// target, so that a node cut off from the network does not take over from a peer that is merely unreachable; with no
/// targets configured it is granted (pure Heartbeat two-node behaviour).
/// </summary>
/// <remarks>
/// Grants do not expire (no lease). Fencing, when configured, is a separate step taken by the runtime. Thread-safe;
/// <see cref="RequestAsync"/> never throws: a probe that throws counts as unreachable, and cancellation by the caller
/// yields a denial.
/// </remarks>
internal sealed partial class TwoNodeArbiter : IArbiter
{
    private readonly IReachabilityProbe[] _targets;
    private readonly ILogger _logger;

    /// <summary>Creates the arbiter.</summary>
    /// <param name="targets">Reachability targets (may be empty).</param>
    /// <param name="logger">Logs probe results and failures. <value>Default: none.</value></param>
    /// <exception cref="ArgumentNullException"><paramref name="targets"/> or one of its items is <see langword="null"/>.</exception>
    public TwoNodeArbiter(IReadOnlyList<IReachabilityProbe> targets, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        _targets = new IReachabilityProbe[targets.Count];
        for (var i = 0; i < _targets.Length; i++)
        {
            _targets[i] = targets[i] ?? throw new ArgumentNullException(nameof(targets), $"Reachability target {i} is null.");
        }

        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Name => "two-node";

    /// <summary>The reachability targets.</summary>
    public IReadOnlyList<IReachabilityProbe> Targets => _targets;

    /// <inheritdoc />
    public async ValueTask<ArbiterDecision> RequestAsync(ArbiterRequest request, CancellationToken cancellationToken)
    {
        if (request is null)
        {
            return ArbiterDecision.Deny("no request");
        }

        switch (request.Reason)
        {
            case AcquireReason.Initial:
            case AcquireReason.Handoff:
            case AcquireReason.Renew:
                return ArbiterDecision.Grant($"peer cooperative: {request.Reason}");
            case AcquireReason.PeerDead:
                break;
            default:
                return ArbiterDecision.Deny($"unknown acquire reason {request.Reason}");
        }

        if (_targets.Length == 0)
        {
            return ArbiterDecision.Grant("no ping targets configured");
        }

        var probes = new Task<bool>[_targets.Length];
        for (var i = 0; i < _targets.Length; i++)
        {
            probes[i] = ProbeSafelyAsync(_targets[i], cancellationToken);
        }

        // ProbeSafelyAsync never faults, so WhenAll completes with every result.
        var results = await Task.WhenAll(probes).ConfigureAwait(false);

        var reachable = 0;
        var text = new StringBuilder(32 * _targets.Length);
        for (var i = 0; i < _targets.Length; i++)
        {
            if (i > 0)
            {
                text.Append(", ");
            }

            text.Append(_targets[i].Target).Append(results[i] ? " reachable" : " unreachable");
            if (results[i])
            {
                reachable++;
            }
        }

        var list = text.ToString();
        if (reachable > 0)
        {
            LogTakeoverAllowed(request.Group, reachable, _targets.Length, list);
            return ArbiterDecision.Grant(list);
        }

        var why = cancellationToken.IsCancellationRequested
            ? $"request cancelled before a ping target answered: {list}"
            : $"no ping target reachable: {list}";
        LogTakeoverRefused(request.Group, why);
        return ArbiterDecision.Deny(why);
    }

    /// <summary>
    /// Does nothing: TwoNode grants are not leases and hold no state outside this node; the release is announced to
    /// the peer in heartbeats by the ownership core.
    /// </summary>
    /// <param name="group">The group.</param>
    /// <param name="node">The releasing node.</param>
    /// <param name="cancellationToken">Not used.</param>
    /// <returns>A completed task.</returns>
    public ValueTask ReleaseAsync(string group, string node, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    private async Task<bool> ProbeSafelyAsync(IReachabilityProbe probe, CancellationToken cancellationToken)
    {
        try
        {
            return await probe.ProbeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LogProbeFailed(probe.Target, e);
            return false;
        }
    }

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Two-node arbiter allows takeover of group {Group}: {Reachable}/{Total} ping targets answer ({Results})")]
    private partial void LogTakeoverAllowed(string group, int reachable, int total, string results);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Two-node arbiter refuses takeover of group {Group}: {Reason}")]
    private partial void LogTakeoverRefused(string group, string reason);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Reachability probe {Target} threw; counted as unreachable")]
    private partial void LogProbeFailed(string target, Exception exception);
}
