namespace HaKit.Ownership;

/// <summary>
/// A graceful release of a group this node owned: why it is stopping, who should take it next, and whether that node has
/// taken it yet; also the failback timer that may start such a release.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item><see cref="PendingTarget"/> is the target of the stop in progress (role Stopping, or Blocked when that stop failed);
/// it becomes <see cref="Target"/> only once the stop succeeded, so the target never starts the group while it still runs here.</item>
/// <item><see cref="Target"/> is announced as <c>handoff_to</c> until the target announces the group Starting/Active, a newer
/// epoch shows the group was taken since <see cref="ReleasedEpoch"/>, the target hands it back, or this node takes it again.
/// While it is set and not settled (target up, <see cref="CoreConfig.HandoffConfirmTimeout"/> not passed since
/// <see cref="ReleasedAt"/>) this node does not take the group back.</item>
/// <item><see cref="FailbackReadySince"/> is set only while the group is Active here and its preferred node is up, Standby and eligible.</item>
/// </list>
/// </remarks>
internal sealed class Handoff
{
    /// <summary>Why the group is (or was last) stopped.</summary>
    public StopReason StopReason { get; set; }

    /// <summary>The node to hand over to once the stop in progress succeeds (null: none).</summary>
    public string? PendingTarget { get; set; }

    /// <summary>The node the group was released to and that has not confirmed taking it (null: none).</summary>
    public string? Target { get; set; }

    /// <summary>When the group was last released.</summary>
    public TimeSpan ReleasedAt { get; set; }

    /// <summary>The highest epoch known when the group was last released (a later one means it was taken since).</summary>
    public ulong ReleasedEpoch { get; set; }

    /// <summary>Since when the preferred node has been ready to take the group back (null: it is not).</summary>
    public TimeSpan? FailbackReadySince { get; set; }
}
