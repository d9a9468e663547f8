namespace HaKit.Replication;

/// <summary>A replica's progress at one moment (see <see cref="ReplicatedLog.Status"/>).</summary>
/// <param name="Group">The group.</param>
/// <param name="Role">This node's role.</param>
/// <param name="Mode">The group's mode.</param>
/// <param name="Epoch">The owner's epoch (this node's when owner, the followed owner's when standby; 0 if none yet).</param>
/// <param name="SeenEpoch">The highest epoch this node has seen (lower ones are refused).</param>
/// <param name="Last">The last position in this node's log.</param>
/// <param name="Durable">The highest index durable on this node.</param>
/// <param name="Applied">The highest index applied to the state machine.</param>
/// <param name="Acknowledged">Owner: the highest index acknowledged to appenders.</param>
/// <param name="PeerConnected">Whether the replication stream to the peer is up.</param>
/// <param name="PeerReceived">Owner: the highest index the peer holds.</param>
/// <param name="PeerDurable">Owner: the highest index durable on the peer.</param>
/// <param name="Snapshot">The newest local snapshot's position.</param>
public sealed record ReplicationStatus(
    string Group,
    ReplicaRole Role,
    ReplicationMode Mode,
    long Epoch,
    long SeenEpoch,
    LogPosition Last,
    long Durable,
    long Applied,
    long Acknowledged,
    bool PeerConnected,
    long PeerReceived,
    long PeerDurable,
    LogPosition Snapshot)
{
    /// <summary>Owner: entries in the log not yet durable on the peer (what a failover to the peer would lose in Async mode).</summary>
    public long LagEntries => Role == ReplicaRole.Owner ? Math.Max(0, Last.Index - PeerDurable) : 0;

    /// <summary>Owner: it acknowledges without the peer (the peer confirmed nothing for <see cref="ReplicationOptions.DegradeAfter"/>).</summary>
    public bool Degraded { get; init; }

    /// <summary>Owner: it marked its peer outdated (it acknowledged writes the peer does not hold); cleared when the peer caught up.</summary>
    public bool PeerOutdated { get; init; }

    /// <summary>Standby: the owner marked this node outdated; it refuses to take the group over automatically until it caught up.</summary>
    public bool Outdated { get; init; }

    /// <summary>Standby: entries this node is behind the owner's acknowledged index it last heard (compared with
    /// <see cref="ReplicationOptions.MaxLagOnFailover"/>).</summary>
    public long KnownLagEntries { get; init; }

    /// <summary>Owner: how many times entries sent on a live stream were sent again because the peer answered nothing for 2 s
    /// (see "Catch-up and resync" in docs/replication.md); counted since this log was opened. A growing count means a peer (or a
    /// stream) that stalls.</summary>
    public long Resends { get; init; }

    /// <summary>A snapshot transfer in progress (resync of a standby the owner compacted past, or that diverged below its own
    /// snapshot): the bytes the standby holds so far (0: no transfer). Owner: as the standby acknowledged them; standby: as it
    /// wrote them.</summary>
    public long SnapshotTransferBytes { get; init; }

    /// <summary>A snapshot transfer in progress: the snapshot file's size in bytes (0: no transfer).</summary>
    public long SnapshotTransferTotal { get; init; }

    /// <summary>Standby: bytes of entries this node is behind the owner's acknowledged position it last heard (compared with
    /// <see cref="ReplicationOptions.MaxLagOnFailoverBytes"/>; 0 until an append from the owner was matched).</summary>
    public long KnownLagBytes { get; init; }
}
