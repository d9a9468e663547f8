namespace HaKit.Replication;

/// <summary>
/// When the owner's <see cref="ReplicatedLog.AppendAsync"/> completes, named after DRBD's replication protocols. In every mode
/// the owner sends the entry to the peer at once and writes it locally at the same time (the two writes overlap).
/// </summary>
public enum ReplicationMode
{
    /// <summary>DRBD protocol A: acknowledged once the entry is durable (fdatasync) on the owner. The peer may lag; entries the
    /// peer had not received are lost if the owner's disk is lost or another node takes over.</summary>
    Async = 0,

    /// <summary>DRBD protocol B: acknowledged once the entry is written on the owner (handed to the OS, not yet fdatasynced) and the
    /// peer holds it in memory. Lost only in a double failure: the owner's host loses power (or its disk) before its fdatasync and
    /// the peer loses the entry before its own disk write.</summary>
    Received = 1,

    /// <summary>DRBD protocol C: acknowledged once the entry is durable (fdatasync) on both the owner and the peer. An
    /// acknowledged entry survives the loss of either node.</summary>
    Durable = 2,
}
