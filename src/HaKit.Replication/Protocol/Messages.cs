namespace HaKit.Replication.Protocol;

/// <summary>A message between the two replicas of a group; every message carries the sender's epoch.</summary>
/// <param name="Epoch">The owner's epoch the sender acts in (the highest it has seen, for a reply).</param>
internal abstract record ReplicationMessage(long Epoch);

/// <summary>Owner to standby: the entries of <paramref name="Batch"/> follow <paramref name="Prev"/> in the owner's log (none: a
/// probe). <paramref name="OwnerAcknowledged"/> is the owner's acknowledged index (the standby's lag is measured against it);
/// <paramref name="PeerOutdated"/> says the owner acknowledged entries without the standby and marked it outdated;
/// <paramref name="OwnerEarlierEpochs"/> are the earlier epochs whose entries in the owner's log it wrote itself (a standby that
/// wrote entries in one of them too cuts its own: two owners of one epoch); <paramref name="AcknowledgedBytesAhead"/> is the
/// bytes of entry data the owner acknowledged after this message's last entry (a standby that holds the message is that many
/// bytes behind: <see cref="ReplicationOptions.MaxLagOnFailoverBytes"/>); <paramref name="OwnerDurable"/> is the owner's durable
/// index (-1: not sent, an older owner: taken as <paramref name="OwnerAcknowledged"/>), below which a Received standby compacts.</summary>
internal sealed record AppendMessage(long Epoch, LogPosition Prev, RecordBatch Batch, long OwnerAcknowledged = 0, bool PeerOutdated = false,
    IReadOnlyList<long>? OwnerEarlierEpochs = null, long AcknowledgedBytesAhead = 0, long OwnerDurable = -1) : ReplicationMessage(Epoch)
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

/// <summary>Owner to standby: the bytes <paramref name="Offset"/>.. of the snapshot file at <paramref name="Position"/>
/// (<paramref name="TotalBytes"/> in all; the file ends with a CRC-32C of the whole snapshot), with the CRC-32C of this chunk
/// (<paramref name="Crc"/>). The standby installs the snapshot once it wrote the last chunk and the whole file checks out.</summary>
internal sealed record SnapshotChunkMessage(long Epoch, LogPosition Position, long Offset, long TotalBytes, ReadOnlyMemory<byte> Data, uint Crc)
    : ReplicationMessage(Epoch)
{
    /// <summary>Whether this chunk ends the file.</summary>
    public bool Last => Offset + Data.Length == TotalBytes;
}

/// <summary>Standby to owner: it wrote the snapshot at <paramref name="Position"/> up to <paramref name="NextOffset"/>; the
/// owner sends the chunk there next (0: start over: a checksum failed, or the standby holds another transfer).</summary>
internal sealed record SnapshotChunkAckMessage(long Epoch, LogPosition Position, long NextOffset) : ReplicationMessage(Epoch);
