using HaKit.Detection;

namespace HaKit.Ownership;

/// <summary>
/// The per-node ownership state machine: membership and failure detection, per-group roles and epochs,
/// takeover, graceful release, failback, resource failure policy and the split-brain rule.
/// </summary>
/// <remarks>
/// <para>Pure and single-threaded, after etcd-io/raft: it never reads a clock, sleeps, does I/O or spawns work.
/// Time and messages come in through <see cref="Tick"/>, <see cref="Receive"/>, <see cref="Admin"/> and the
/// <c>On…</c> feedback methods; decisions come out as an ordered batch of <see cref="CoreCommand"/>s taken with
/// <see cref="TakeReady"/>. The runtime executes them and feeds the results back. The same core runs under the
/// simulator with a virtual clock, so any run can be replayed.</para>
/// <para>Takeover pipeline: Standby → Acquiring (fence the dead owner if needed → ask the arbiter → persist
/// epoch = highest seen + 1) → Starting (resources start with the epoch) → Active. Release: Active → Stopping →
/// Standby (announcing who should take it next) or Blocked (a stop failed: never started elsewhere without a fence).</para>
/// <para>Not thread-safe: the runtime calls it from one loop.</para>
/// <para>The class is split by concern into partial files: this one holds the state and the step plumbing;
/// <c>.Peers</c> detection and heartbeats received; <c>.Reconcile</c> what each role does on every step;
/// <c>.Takeover</c> when to take a group; <c>.AcquirePipeline</c> fence → arbiter → persist; <c>.ArbiterFeedback</c>
/// arbiter answers and reachability; <c>.Leases</c> lease renewal and expiry; <c>.Release</c> stops, handoffs and failback;
/// <c>.SplitBrain</c> the split-brain rule; <c>.Candidates</c> eligibility and who should run a group;
/// <c>.ResourceFeedback</c> resource group outcomes; <c>.Admin</c> operator commands; <c>.Announcements</c> heartbeats,
/// role changes, decision contexts and the status view. The per-group state is <see cref="GroupState"/>.</para>
/// </remarks>
internal sealed partial class OwnershipCore
{
    private readonly CoreConfig _config;

    /// <summary>Commands waiting for <see cref="TakeReady"/>, in execution order.</summary>
    private readonly List<CoreCommand> _ready = [];

    private readonly PeerState[] _peers;
    private readonly Dictionary<string, PeerState> _peerByName = new(StringComparer.Ordinal);
    private readonly GroupState[] _groups;
    private readonly Dictionary<string, GroupState> _groupByName = new(StringComparer.Ordinal);
    private readonly GroupState.ChangeCounter _stateChanges;

    /// <summary>Outstanding fence, arbiter and renewal requests by id (kept in step with the groups' request fields).</summary>
    private readonly RequestIndex<GroupState> _requests = new();

    /// <summary>The latest time seen in any input (never goes back).</summary>
    private TimeSpan _now;

    private TimeSpan? _lastTick;

    /// <summary>When the core was created: the first tick's lateness is measured from here.</summary>
    private readonly TimeSpan _createdAt;
    private TimeSpan _nextHeartbeatAt;

    /// <summary>Send a heartbeat at the end of this step (a role or eligibility changed, or the interval passed).</summary>
    private bool _announce = true;

    /// <summary>The next heartbeat asks every receiver for an immediate answer (a crash hint is being checked).</summary>
    private bool _probe;

    private bool _standby;
    private TimeSpan _arbiterUnreachableUntil = TimeSpan.MinValue;
    private string? _arbiterUnreachableWhy;
    private bool _shuttingDown;
    private bool _shutdownReadyRaised;
    private ulong _announcements;

    /// <summary>The announcements of the last heartbeat built, by group index (no entry is null once one was built).</summary>
    private GroupAnnouncement[] _lastAnnounced;

    /// <summary>Creates the core for the local node.</summary>
    /// <param name="config">Validated configuration.</param>
    /// <param name="detectors">Creates one failure detector per peer and link.</param>
    /// <param name="persistedEpochs">Highest epoch per group from the durable state (a restarted node never reuses one).</param>
    /// <param name="now">Monotonic time at creation (start of the initial dead time).</param>
    /// <param name="stateChanges">Counts the changes of the groups' roles, epochs and highest epochs; the simulator shares one
    /// among its nodes' cores to see in one comparison whether a step changed any. Null: the core's own.</param>
    public OwnershipCore(CoreConfig config, IFailureDetectorFactory detectors, IReadOnlyDictionary<string, ulong> persistedEpochs, TimeSpan now, GroupState.ChangeCounter? stateChanges = null)
    {
        _stateChanges = stateChanges ?? new GroupState.ChangeCounter();
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(detectors);
        ArgumentNullException.ThrowIfNull(persistedEpochs);
        _config = config;
        _now = now;
        _createdAt = now;
        _nextHeartbeatAt = now;
        _peers = config.Peers.Select(p => new PeerState(p.Name, p.Priority, config.Links.Select(l => new LinkState(l, detectors.Create(now))).ToArray(), config.Groups.Count)).ToArray();
        foreach (var p in _peers)
        {
            _peerByName.Add(p.Name, p);
        }

        _groups = config.Groups.Select((g, index) =>
        {
            var persisted = persistedEpochs.TryGetValue(g.Name, out var e) ? e : 0UL;
            return new GroupState(g, _stateChanges) { Index = index, Highest = persisted, Persisted = persisted };
        }).ToArray();
        foreach (var g in _groups)
        {
            _groupByName.Add(g.Name, g);
        }

        _lastAnnounced = new GroupAnnouncement[_groups.Length];
    }

    /// <summary>The local node's name.</summary>
    public string LocalNode => _config.LocalNode;

    /// <summary>The latest time seen in any input: while a step's commands run, the time of that step.</summary>
    public TimeSpan Now => _now;

    /// <summary>Whether commands are waiting in the ready batch.</summary>
    public bool HasReady => _ready.Count > 0;

    /// <summary>Takes the ready batch (in execution order) and clears it.</summary>
    public IReadOnlyList<CoreCommand> TakeReady()
    {
        if (_ready.Count == 0)
        {
            return [];
        }

        var batch = _ready.ToArray();
        _ready.Clear();
        return batch;
    }

    /// <summary>Moves the ready batch (in execution order) into <paramref name="batch"/> (cleared first) without allocating.</summary>
    /// <param name="batch">The list to fill.</param>
    public void TakeReadyInto(List<CoreCommand> batch)
    {
        batch.Clear();
        batch.AddRange(_ready);
        _ready.Clear();
    }

    /// <summary>The local role for a group.</summary>
    /// <param name="group">The group.</param>
    public GroupRole GetRole(string group) => GetGroup(group).Role;

    /// <summary>The local ownership epoch of a group (0 when not owning).</summary>
    /// <param name="group">The group.</param>
    public ulong GetEpoch(string group) => GetGroup(group).OwnsEpoch ? GetGroup(group).Epoch : 0;

    /// <summary>The highest epoch seen or used for a group.</summary>
    /// <param name="group">The group.</param>
    public ulong GetHighestEpoch(string group) => GetGroup(group).Highest;

    /// <summary>The state of the group at <paramref name="index"/> in configuration order (the simulator reads roles and epochs
    /// by index after every step, without hashing the group's name).</summary>
    /// <param name="index">The group's index in <see cref="CoreConfig.Groups"/>.</param>
    internal GroupState GroupAt(int index) => _groups[index];

    /// <summary>A peer's overall health.</summary>
    /// <param name="peer">The peer.</param>
    public PeerHealth GetPeerHealth(string peer) => _peerByName.TryGetValue(peer, out var p) ? p.Health : throw new ArgumentException($"unknown peer '{peer}'", nameof(peer));

    /// <summary>How many fence, arbiter and renewal requests are outstanding (for tests: the request index stays in step).</summary>
    internal int OutstandingRequests => _requests.Count;

    /// <summary>One input step: advance time, apply the input, reconcile every group, announce changes.</summary>
    private void Step(TimeSpan now, Action apply)
    {
        Advance(now);
        apply();
        ReconcileAll();
        Flush();
    }

    private void Advance(TimeSpan now)
    {
        if (now > _now)
        {
            _now = now;
        }
    }

    private void Emit(ClusterEvent e) => _ready.Add(new EmitEvent(e));

    private GroupState GetGroup(string group) =>
        _groupByName.TryGetValue(group, out var g) ? g : throw new ArgumentException($"unknown group '{group}'", nameof(group));
}
