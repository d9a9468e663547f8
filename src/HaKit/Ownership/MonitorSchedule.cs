namespace HaKit.Ownership;

/// <summary>When an Active group's resources are checked next, and whether a check is running.</summary>
/// <remarks>At most one <see cref="MonitorGroup"/> is in flight per group; its answer counts only for the epoch it was sent with.</remarks>
internal sealed class MonitorSchedule
{
    /// <summary>A monitor command was issued and not answered.</summary>
    public bool InFlight { get; set; }

    /// <summary>No monitor before this time.</summary>
    public TimeSpan NextAt { get; set; }
}
