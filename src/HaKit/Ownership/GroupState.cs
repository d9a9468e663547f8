namespace HaKit.Ownership;

/// <summary>
/// The core's state for one resource group: its role and epochs here, composed with one named part per concern.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item><see cref="Epoch"/> is the epoch this node owns the group with while <see cref="OwnsEpoch"/>; it was persisted
/// before resources saw it.</item>
/// <item><see cref="Highest"/> never goes down; every epoch learned from a peer above <see cref="Persisted"/> is persisted
/// too, so a restarted node never reuses one.</item>
/// <item><see cref="Maintenance"/> is hands-off for resources: no start, stop, monitor or takeover, but a lease held is still renewed.</item>
/// </list>
/// </remarks>
internal sealed class GroupState(GroupConfig config, GroupState.ChangeCounter changes)
{
    private GroupRole _role = GroupRole.Standby;
    private ulong _epoch;
    private ulong _highest;

    /// <summary>The group's configuration.</summary>
    public GroupConfig Config { get; } = config;

    /// <summary>The group's name.</summary>
    public string Name => Config.Name;

    /// <summary>The group's index in the core's configuration (where peers' announcements of it are kept, see <see cref="PeerState"/>).</summary>
    public int Index { get; init; }

    /// <summary>The local role.</summary>
    public GroupRole Role
    {
        get => _role;
        set => Set(ref _role, value);
    }

    /// <summary>Whether this node holds the group with <see cref="Epoch"/> (resources may run here).</summary>
    public bool OwnsEpoch => Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping or GroupRole.Blocked;

    /// <summary>The epoch of the current (or last) ownership here.</summary>
    public ulong Epoch
    {
        get => _epoch;
        set => Set(ref _epoch, value);
    }

    /// <summary>The highest epoch seen or used.</summary>
    public ulong Highest
    {
        get => _highest;
        set => Set(ref _highest, value);
    }

    /// <summary>The highest epoch known to be durable.</summary>
    public ulong Persisted { get; set; }

    /// <summary>When to persist <see cref="Highest"/> again after a persist failed while it was above <see cref="Persisted"/>
    /// (null: no retry due). Without it a learned epoch whose persist failed is lost at the next restart and can be reused.</summary>
    public TimeSpan? PersistRetryAt { get; set; }

    /// <summary>Whether an operator put the group in maintenance here.</summary>
    public bool Maintenance { get; set; }

    /// <summary>The takeover attempt (and the pacing of the next one).</summary>
    public AcquireAttempt Acquire { get; } = new();

    /// <summary>The arbiter lease while owning.</summary>
    public LeaseState Lease { get; } = new();

    /// <summary>The resource monitor schedule while Active.</summary>
    public MonitorSchedule Monitor { get; } = new();

    /// <summary>The graceful release and its handoff.</summary>
    public Handoff Handoff { get; } = new();

    /// <summary>This node's failure ban.</summary>
    public FailureBan Ban { get; } = new();

    /// <summary>The cluster-wide fatal failure marks.</summary>
    public FatalMarks Fatal { get; } = new();

    /// <summary>Split brains already reported (peer, peer epoch, local epoch), so each is raised once.</summary>
    public HashSet<(string Peer, ulong PeerEpoch, ulong LocalEpoch)> ReportedSplitBrains { get; } = [];

    private void Set<T>(ref T field, T value)
    {
        if (!EqualityComparer<T>.Default.Equals(field, value))
        {
            field = value;
            changes.Value++;
        }
    }

    /// <summary>Counts the changes of <see cref="Role"/>, <see cref="Epoch"/> and <see cref="Highest"/> of every group of a core (or of
    /// every core sharing it): a reader that saw the same count saw the same values (the simulator's invariants skip a scan then).</summary>
    internal sealed class ChangeCounter
    {
        /// <summary>Changes so far.</summary>
        public long Value;
    }
}
