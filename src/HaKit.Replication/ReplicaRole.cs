namespace HaKit.Replication;

/// <summary>The role of a replica.</summary>
public enum ReplicaRole
{
    /// <summary>Receives, persists and applies the owner's entries.</summary>
    Standby = 0,

    /// <summary>Appends entries and streams them to the standby.</summary>
    Owner = 1,
}
