namespace HaKit.Replication;

/// <summary>The settings of one replicated group, bound from <c>HaKit:Replication:Groups:&lt;group&gt;</c>
/// (see <see cref="ReplicationOptions"/> for what each one does).</summary>
public sealed class ReplicationGroupOptions
{
    /// <summary>When the owner's appends complete. Default <see cref="ReplicationMode.Durable"/>.</summary>
    public ReplicationMode Mode { get; set; } = ReplicationMode.Durable;

    /// <summary>The group's directory (segments, snapshots, epoch files). Empty (the default):
    /// <c>&lt;HaKit:StateDirectory&gt;/&lt;NodeName&gt;-replication/&lt;group&gt;</c>.</summary>
    public string Directory { get; set; } = "";

    /// <summary>See <see cref="ReplicationOptions.DegradeAfter"/>. Default: never degrade.</summary>
    public TimeSpan? DegradeAfter { get; set; }

    /// <summary>See <see cref="ReplicationOptions.MaxLagOnFailover"/>. Default: no limit.</summary>
    public long? MaxLagOnFailover { get; set; }

    /// <summary>See <see cref="ReplicationOptions.MaxLagOnFailoverBytes"/>. Default: no limit in bytes.</summary>
    public long? MaxLagOnFailoverBytes { get; set; }

    /// <summary>See <see cref="ReplicationOptions.SnapshotChunkBytes"/>. Default 1 MiB.</summary>
    public int SnapshotChunkBytes { get; set; } = 1 << 20;

    /// <summary>See <see cref="ReplicationOptions.DrainTimeout"/>. Default (unset): 10 s, or half the group's <c>StopTimeout</c> when
    /// that is shorter (the drain runs inside the stop). Set, it must be below the group's <c>StopTimeout</c>.</summary>
    public TimeSpan? DrainTimeout { get; set; }

    /// <summary>See <see cref="ReplicationOptions.ReceivedFlushInterval"/>. Default 1 ms.</summary>
    public TimeSpan ReceivedFlushInterval { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>See <see cref="ReplicationOptions.SegmentBytes"/>. Default 64 MiB.</summary>
    public long SegmentBytes { get; set; } = 64L << 20;

    /// <summary>See <see cref="ReplicationOptions.PreallocateSegments"/>. Default <see langword="true"/>.</summary>
    public bool PreallocateSegments { get; set; } = true;

    /// <summary>See <see cref="ReplicationOptions.SnapshotEveryEntries"/>. Default 100,000.</summary>
    public long SnapshotEveryEntries { get; set; } = 100_000;

    /// <summary>See <see cref="ReplicationOptions.MaxBatchBytes"/>. Default 1 MiB.</summary>
    public int MaxBatchBytes { get; set; } = 1 << 20;

    /// <summary>See <see cref="ReplicationOptions.MaxInFlightBytes"/>. Default 8 MiB.</summary>
    public long MaxInFlightBytes { get; set; } = 8L << 20;
}
