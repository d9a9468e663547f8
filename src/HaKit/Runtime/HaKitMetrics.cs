using System.Diagnostics.Metrics;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Wire;

namespace HaKit.Runtime;

/// <summary>
/// The <c>HaKit</c> meter and its instruments. Names follow OpenTelemetry conventions:
/// <c>hakit.heartbeats.sent</c> / <c>hakit.heartbeats.received</c> (tag <c>link</c>),
/// <c>hakit.packets.dropped</c> (tag <c>reason</c>), <c>hakit.failovers</c> and <c>hakit.role.changes</c> (tag <c>group</c>),
/// <c>hakit.split_brains</c>, <c>hakit.fences</c> (tag <c>result</c>), and the histogram <c>hakit.takeover.duration</c> in milliseconds
/// (tags <c>group</c>, <c>reason</c>).
/// </summary>
internal sealed class HaKitMetrics : IDisposable
{
    /// <summary>The meter name to listen to (<c>HaKit</c>).</summary>
    public const string MeterName = HaKitTelemetry.MeterName;

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _received;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _failovers;
    private readonly Counter<long> _roleChanges;
    private readonly Counter<long> _splitBrains;
    private readonly Counter<long> _fences;
    private readonly Histogram<double> _takeover;
    private readonly Counter<long> _arbiterAnswers;
    private readonly Counter<long> _notifications;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>, or on a new <see cref="Meter"/> when none is given.</summary>
    /// <param name="meterFactory">The host's meter factory (dependency injection), or <see langword="null"/>.</param>
    public HaKitMetrics(IMeterFactory? meterFactory = null)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _sent = _meter.CreateCounter<long>("hakit.heartbeats.sent", "{packet}", "Heartbeat packets sent, per link");
        _received = _meter.CreateCounter<long>("hakit.heartbeats.received", "{packet}", "Authenticated heartbeat packets received, per link");
        _dropped = _meter.CreateCounter<long>("hakit.packets.dropped", "{packet}", "Packets dropped, per reason (oversized, truncated, malformed, wrong cluster, unknown sender, own, unknown key, bad MAC, replayed)");
        _failovers = _meter.CreateCounter<long>("hakit.failovers", "{takeover}", "Groups taken over from a dead node");
        _roleChanges = _meter.CreateCounter<long>("hakit.role.changes", "{change}", "Local role changes, per group");
        _splitBrains = _meter.CreateCounter<long>("hakit.split_brains", "{event}", "Split brains detected");
        _fences = _meter.CreateCounter<long>("hakit.fences", "{attempt}", "Fencing attempts, per result");
        _takeover = _meter.CreateHistogram<double>("hakit.takeover.duration", "ms", "Time from the takeover decision until every resource of the group ran");
        _notifications = _meter.CreateCounter<long>("hakit.notifications", "{notification}", "Notifications of cluster events, per target (script, webhook, queue) and outcome (delivered, failed, dropped)");
        _arbiterAnswers = _meter.CreateCounter<long>("hakit.arbiter.answers", "{answer}", "Arbiter answers, per group, reason (Initial, Handoff, PeerDead, Renew) and outcome (granted, refused, unavailable): unavailable renewals mean the owner serves on a lease it cannot extend");
    }

    /// <summary>The underlying meter.</summary>
    public Meter Meter => _meter;

    internal void HeartbeatSent(string link) => _sent.Add(1, new KeyValuePair<string, object?>("link", link));

    internal void HeartbeatReceived(string link) => _received.Add(1, new KeyValuePair<string, object?>("link", link));

    internal void ArbiterAnswered(ArbiterRequest request, ArbiterDecision decision) => _arbiterAnswers.Add(
        1,
        new KeyValuePair<string, object?>("group", request.Group),
        new KeyValuePair<string, object?>("reason", request.Reason.ToString()),
        new KeyValuePair<string, object?>("outcome", decision.Granted ? "granted" : decision.Unavailable ? "unavailable" : "refused"));

    internal void Notification(string target, string outcome) =>
        _notifications.Add(1, new KeyValuePair<string, object?>("target", target), new KeyValuePair<string, object?>("outcome", outcome));

    internal void Dropped(DropReason reason) => _dropped.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString()));

    internal void Record(ClusterEvent e)
    {
        switch (e)
        {
            case RoleChanged rc:
                _roleChanges.Add(1, new KeyValuePair<string, object?>("group", rc.Group));
                if (rc.To == GroupRole.Active && rc.TakeoverDuration is { } d)
                {
                    _takeover.Record(d.TotalMilliseconds, new KeyValuePair<string, object?>("group", rc.Group), new KeyValuePair<string, object?>("reason", rc.Takeover?.ToString() ?? "unknown"));
                    if (rc.Takeover == TakeoverReason.Failover)
                    {
                        _failovers.Add(1, new KeyValuePair<string, object?>("group", rc.Group));
                    }
                }

                break;
            case SplitBrainDetected sb:
                _splitBrains.Add(1, new KeyValuePair<string, object?>("group", sb.Group));
                break;
            case FenceCompleted f:
                _fences.Add(1, new KeyValuePair<string, object?>("result", f.Result.Succeeded ? "ok" : "failed"));
                break;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
