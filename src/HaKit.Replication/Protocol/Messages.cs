namespace HaKit.Replication.Protocol;

/// <summary>A message between the two replicas of a group; every message carries the sender's epoch.</summary>
/// <param name="Epoch">The owner's epoch the sender acts in (the highest it has seen, for a reply).</param>
internal abstract record ReplicationMessage(long Epoch);

/// <summary>Owner to standby: the entries of <paramref name="Batch"/> follow <paramref name="Prev"/> in the owner's log (none: a
/// probe). <paramref name="OwnerAcknowledged"/> is the owner's acknowledged index (the standby's lag is measured against it);
/// <paramref name="PeerOutdated"/> says the owner acknowledged entries without the standby and marked it outdated;
/// <paramref name="OwnerEarlierEpochs"/> are the earlier epochs whose entries in the owner's log it wrote itself (a standby that
/// wrote entries in one of them too cuts its own: two owners of one epoch).</summary>
internal sealed record AppendMessage(long Epoch, LogPosition Prev, RecordBatch Batch, long OwnerAcknowledged = 0, bool PeerOutdated = false,
    IReadOnlyList<long>? OwnerEarlierEpochs = null) : ReplicationMessage(Epoch)
{
    /// <summary><see cref="OwnerEarlierEpochs"/>, empty when none were sent.</summary>
    public IReadOnlyList<long> OwnerEpochs => OwnerEarlierEpochs ?? [];

    /// <summary>The index of the last entry carried (<c>Prev.Index</c> for a probe).</summary>
    public long LastIndex => Prev.Index + Batch.Count;
}

/// <summary>Standby to owner: it holds the owner's log up to <paramref name="Received"/> and has it on disk up to <paramref name="Durable"/>.</summary>
internal sealed record AckMessage(long Epoch, long Received, long Durable) : ReplicationMessage(Epoch);

/// <summary>Why a message was refused.</summary>
internal enum RejectReason
{
    /// <summary>The sender's epoch is lower than one the receiver has seen: the sender is deposed.</summary>
    StaleEpoch = 1,

    /// <summary>The receiver's log does not hold the append's previous position.</summary>
    Mismatch = 2,

    /// <summary>The receiver can continue only from a snapshot of the owner.</summary>
    NeedSnapshot = 3,
}

/// <summary>A refusal. For <see cref="RejectReason.Mismatch"/>: the receiver's last index and, when its entry at the previous
/// index has another epoch, that epoch and the first index it holds in it (zero otherwise).</summary>
internal sealed record RejectMessage(long Epoch, RejectReason Reason, long LastIndex = 0, long ConflictEpoch = 0, long ConflictFirstIndex = 0)
    : ReplicationMessage(Epoch);

/// <summary>Owner to standby: replace your state with this snapshot and continue after its position.</summary>
internal sealed record SnapshotMessage(long Epoch, LogPosition Position, ReadOnlyMemory<byte> Data) : ReplicationMessage(Epoch);
