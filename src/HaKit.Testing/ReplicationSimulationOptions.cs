using HaKit.Replication;

namespace HaKit.Testing;

/// <summary>
/// Replication inside the simulator (<see cref="SimulationOptions.Replication"/>): each of the two nodes runs the real replication
/// protocol core of one group over a simulated disk (writes are lost in a crash unless an fdatasync covered them; a crash may
/// leave a torn record, found by the real record codec at restart) and a simulated stream between the nodes (the heartbeats'
/// first link: its cuts, partitions and delays). A resource <c>replication</c> is put first in the group, as
/// <see cref="ReplicationResource"/> is in production: starting it makes the node the log's owner in the group's epoch. A workload
/// appends entries on the owner; the replication invariants check every acknowledged entry and every applied one.
/// </summary>
public sealed class ReplicationSimulationOptions
{
    /// <summary>The group's replication mode. <value>Default <see cref="ReplicationMode.Durable"/>.</value></summary>
    public ReplicationMode Mode { get; set; } = ReplicationMode.Durable;

    /// <summary>The replicated group. <value>Default: the cluster's first group.</value></summary>
    public string? Group { get; set; }

    /// <summary>How long the owner goes on waiting for a peer that confirms nothing before it acknowledges alone and marks the peer
    /// outdated (<see cref="ReplicationOptions.DegradeAfter"/>); <see langword="null"/>: never. <value>Default 1 s.</value></summary>
    public TimeSpan? DegradeAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Time between two appends of the workload on the owner. <value>Default 5-60 ms.</value></summary>
    public DurationRange AppendInterval { get; set; } = DurationRange.Ms(5, 60);

    /// <summary>Duration of one fdatasync of the simulated disk. <value>Default 0.2-3 ms.</value></summary>
    public DurationRange FsyncDuration { get; set; } = DurationRange.Ms(0.2, 3);

    /// <summary>While faults are on, the chance that an fdatasync is slow (a busy disk): it then takes <see cref="SlowFsyncDuration"/>.
    /// <value>Default 0.1.</value></summary>
    public double SlowFsync { get; set; } = 0.1;

    /// <summary>Duration of a slow fdatasync. <value>Default 20-300 ms.</value></summary>
    public DurationRange SlowFsyncDuration { get; set; } = DurationRange.Ms(20, 300);

    /// <summary>The chance that a crash leaves a torn partial record after the last synced one (else the unsynced tail is lost
    /// whole, or kept up to a record boundary). <value>Default 0.3.</value></summary>
    public double TornWrite { get; set; } = 0.3;

    /// <summary>Each node snapshots its state machine every this many applied entries and the log is compacted (as
    /// <see cref="ReplicationOptions.SnapshotEveryEntries"/>); a node that needs the owner's snapshot receives it in chunks.
    /// 0: no snapshots (the log is never compacted). <value>Default 0.</value></summary>
    public long SnapshotEvery { get; set; }

    /// <summary>The chunk size of a snapshot transfer (<see cref="ReplicationOptions.SnapshotChunkBytes"/>; small, so that a
    /// simulated snapshot takes several chunks). <value>Default 256.</value></summary>
    public int SnapshotChunkBytes { get; set; } = 256;
}
