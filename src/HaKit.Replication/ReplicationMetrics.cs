using System.Diagnostics.Metrics;

namespace HaKit.Replication;

/// <summary>The replication instruments on HaKit's meter (<see cref="HaKitTelemetry.MeterName"/>), tagged with the group.</summary>
internal sealed class ReplicationMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _appended;
    private readonly Counter<long> _acknowledged;
    private readonly Counter<long> _diverged;
    private readonly Counter<long> _snapshotsInstalled;
    private readonly Counter<long> _snapshotBytesSent;
    private readonly Counter<long> _snapshotBytesReceived;
    private readonly KeyValuePair<string, object?> _group;

    public ReplicationMetrics(IMeterFactory? meterFactory, ReplicatedLog log)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(HaKitTelemetry.MeterName) ?? new Meter(HaKitTelemetry.MeterName);
        _group = new KeyValuePair<string, object?>("hakit.group", log.Group);
        _appended = _meter.CreateCounter<long>("hakit.replication.appended", "{entry}", "Entries appended by this node as owner");
        _acknowledged = _meter.CreateCounter<long>("hakit.replication.acknowledged", "{entry}", "Appends acknowledged in the group's mode");
        _diverged = _meter.CreateCounter<long>("hakit.replication.diverged", "{entry}", "Entries cut from the log by a divergence and handed to the callback");
        _snapshotsInstalled = _meter.CreateCounter<long>("hakit.replication.snapshots.installed", "{snapshot}", "Snapshots installed from the owner");
        _snapshotBytesSent = _meter.CreateCounter<long>("hakit.replication.snapshot.sent", "By", "Owner: snapshot bytes sent to the peer in chunks");
        _snapshotBytesReceived = _meter.CreateCounter<long>("hakit.replication.snapshot.received", "By", "Standby: snapshot bytes received from the owner and written");
        var group = _group;
        _meter.CreateObservableGauge("hakit.replication.resync.bytes", () => new Measurement<long>(log.Status.SnapshotTransferBytes, group), "By",
            "The snapshot transfer in progress: bytes the standby holds (0: none)");
        _meter.CreateObservableGauge("hakit.replication.resync.total", () => new Measurement<long>(log.Status.SnapshotTransferTotal, group), "By",
            "The snapshot transfer in progress: the snapshot's size (0: none)");
        _meter.CreateObservableGauge("hakit.replication.lag", () => new Measurement<long>(log.Status.LagEntries, group), "{entry}",
            "Owner: entries not yet durable on the peer");
        _meter.CreateObservableGauge("hakit.replication.applied", () => new Measurement<long>(log.Status.Applied, group), "{entry}",
            "The index applied to the state machine");
        _meter.CreateObservableGauge("hakit.replication.peer.connected", () => new Measurement<int>(log.Status.PeerConnected ? 1 : 0, group), null,
            "Whether the replication stream to the peer is up");
        _meter.CreateObservableGauge("hakit.replication.degraded", () => new Measurement<int>(log.Status.Degraded ? 1 : 0, group), null,
            "Owner: whether it acknowledges without the peer (DegradeAfter passed)");
        _meter.CreateObservableGauge("hakit.replication.outdated", () => new Measurement<int>(log.Status.PeerOutdated ? 2 : log.Status.Outdated ? 1 : 0, group), null,
            "2: this owner marked its peer outdated; 1: this node is marked outdated (it refuses to own the group); 0: neither");
        _meter.CreateObservableGauge("hakit.replication.known_lag", () => new Measurement<long>(log.Status.KnownLagEntries, group), "{entry}",
            "Standby: entries behind the owner's acknowledged index last heard (compared with MaxLagOnFailover)");
        _meter.CreateObservableCounter("hakit.replication.resends", () => new Measurement<long>(log.Status.Resends, group), "{resend}",
            "Owner: times sent entries were sent again because the peer answered nothing on a live stream");
        _meter.CreateObservableCounter("hakit.replication.segments.preallocation_misses", () => new Measurement<long>(log.Storage.PreallocationMisses, group), "{segment}",
            "New segment files that had to grow with each append because no preallocated file was ready (PreallocateSegments on)");
    }

    public void Appended(long count) => _appended.Add(count, _group);

    public void Acknowledged(long count)
    {
        if (count > 0)
        {
            _acknowledged.Add(count, _group);
        }
    }

    public void Diverged(int count) => _diverged.Add(count, _group);

    public void SnapshotInstalled() => _snapshotsInstalled.Add(1, _group);

    public void SnapshotBytesSent(long bytes) => _snapshotBytesSent.Add(bytes, _group);

    public void SnapshotBytesReceived(long bytes) => _snapshotBytesReceived.Add(bytes, _group);

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
