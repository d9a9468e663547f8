using HaKit.Runtime;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;
using HaKit.Wire;

namespace HaKit.Testing;

/// <summary>One node of a <see cref="Simulation"/>: its current process (core, clock, resources) and its durable state.</summary>
public sealed class SimulatedNode
{
    private readonly Dictionary<string, ulong> _persisted = new(StringComparer.Ordinal);
    private readonly ulong[] _persistedAt;

    internal SimulatedNode(string name, int index, HaKitOptions options, double rate, AuthKeyRing keys)
    {
        Name = name;
        Index = index;
        Options = options;
        Rate = rate;
        Keys = keys;
        _persistedAt = new ulong[options.Groups.Count];
    }

    /// <summary>The node name.</summary>
    public string Name { get; }

    /// <summary>Whether the node's process runs.</summary>
    public bool IsUp { get; internal set; }

    /// <summary>The current (or last) process's incarnation.</summary>
    public ulong Incarnation { get; internal set; }

    /// <summary>The rate of the node's monotonic clock (clock drift; 1 = exact).</summary>
    public double Rate { get; }

    /// <summary>The current process's clock (local monotonic time since the process started).</summary>
    public SimulatedTimeProvider Clock { get; internal set; } = null!;

    /// <summary>The current process's ownership core (the real <see cref="OwnershipCore"/>).</summary>
    internal OwnershipCore Core { get; set; } = null!;

    /// <summary>The node's options (as <see cref="ClusterNode"/> would get them).</summary>
    public HaKitOptions Options { get; }

    /// <summary>Packet counters of the current process (accepted and dropped per reason by the real wire layer).</summary>
    public WireStats WireStats { get; internal set; } = new();

    /// <summary>Durable state: the highest persisted epoch per group (survives crashes).</summary>
    public IReadOnlyDictionary<string, ulong> PersistedEpochs => _persisted;

    /// <summary>The node's process is paused (GC, stopped VM) until this global time.</summary>
    public TimeSpan StalledUntil { get; internal set; }

    /// <summary>The node's reachability targets are unreachable until this global time.</summary>
    public TimeSpan PingOutageUntil { get; internal set; }

    /// <summary>ipfail: the node alone lost its ping targets (its uplink) until this global time; its heartbeat links still work.</summary>
    public TimeSpan TargetLossUntil { get; internal set; }

    /// <summary>Lease modes: until when this node cannot reach the lease store (a cut between the node and etcd), or in Witness mode the witness (both ways).</summary>
    public TimeSpan StoreCutUntil { get; internal set; }

    /// <summary>Witness mode: until when this node's packets to the witness are lost (one-way cut).</summary>
    public TimeSpan WitnessRequestsCutUntil { get; internal set; }

    /// <summary>Witness mode: until when the witness's replies to this node are lost (one-way cut).</summary>
    public TimeSpan WitnessRepliesCutUntil { get; internal set; }

    /// <summary>Whether the current process is in standby (set through <see cref="Simulation.Admin"/>; standby is not durable: a new process starts online).</summary>
    public bool InStandby { get; internal set; }

    /// <summary>Whether a group is in maintenance in the current process (set through <see cref="Simulation.Admin"/>; not durable).</summary>
    /// <param name="group">The group.</param>
    public bool InMaintenance(string group) => IsUp && MaintenanceGroups.Contains(group);

    /// <summary>Whether the current process is in a graceful shutdown (<see cref="Simulation.Shutdown"/>): it releases its groups
    /// and keeps running until its core reports <see cref="ShutdownReady"/> or the host's shutdown time-out passes, then exits.</summary>
    public bool IsShuttingDown { get; internal set; }

    /// <summary>The node's role for a group (Standby while down).</summary>
    /// <param name="group">The group.</param>
    public GroupRole Role(string group) => IsUp ? Core.GetRole(group) : GroupRole.Standby;

    /// <summary>The node's ownership epoch for a group (0 when it does not own it or is down).</summary>
    /// <param name="group">The group.</param>
    public ulong Epoch(string group) => IsUp ? Core.GetEpoch(group) : 0;

    /// <summary>The highest epoch the node's core knows for a group.</summary>
    /// <param name="group">The group.</param>
    public ulong HighestEpoch(string group) => IsUp ? Core.GetHighestEpoch(group) : 0;

    /// <summary>Ground truth: whether any resource of the group runs on this node (started, or possibly half started, and not stopped).</summary>
    /// <param name="group">The group.</param>
    public bool IsRunning(string group) => IsUp && Groups.TryGetValue(group, out var g) && Array.IndexOf(g.Running, true) >= 0;

    // By group index (the cluster's configuration order, Simulation.GroupNameArray): what the invariants read after every step,
    // without hashing the group's name.

    /// <summary><see cref="Role"/> by group index.</summary>
    internal GroupRole RoleAt(int group) => IsUp ? Core.GroupAt(group).Role : GroupRole.Standby;

    /// <summary><see cref="Epoch"/> by group index.</summary>
    internal ulong EpochAt(int group)
    {
        if (!IsUp)
        {
            return 0;
        }

        var g = Core.GroupAt(group);
        return g.OwnsEpoch ? g.Epoch : 0;
    }

    /// <summary><see cref="HighestEpoch"/> by group index.</summary>
    internal ulong HighestEpochAt(int group) => IsUp ? Core.GroupAt(group).Highest : 0;

    /// <summary><see cref="IsRunning"/> by group index.</summary>
    internal bool IsRunningAt(int group) => IsUp && Array.IndexOf(GroupList[group].Running, true) >= 0;

    /// <summary>The persisted epoch of a group by index (<see cref="PersistedEpochs"/>).</summary>
    internal ulong PersistedAt(int group) => _persistedAt[group];

    /// <summary>The simulated disk's write: the persisted epochs become <paramref name="epochs"/>.</summary>
    internal void ReplacePersisted(IReadOnlyDictionary<string, ulong> epochs)
    {
        _persisted.Clear();
        Array.Clear(_persistedAt);
        foreach (var (group, epoch) in epochs)
        {
            _persisted[group] = epoch;
            for (var i = 0; i < Options.Groups.Count; i++)
            {
                if (Options.Groups[i].Name == group)
                {
                    _persistedAt[i] = epoch;
                }
            }
        }
    }

    /// <summary>The current process's resources of a group, in start order.</summary>
    /// <param name="group">The group.</param>
    public IReadOnlyList<IResource> Resources(string group) => Groups[group].Resources;

    internal int Index { get; }

    internal AuthKeyRing Keys { get; }

    internal int Generation { get; set; }

    internal HashSet<string> MaintenanceGroups { get; } = new(StringComparer.Ordinal);

    /// <summary>The core reported <see cref="ShutdownReady"/>: the process exits once the current batch of commands is executed.</summary>
    internal bool ExitPending { get; set; }

    internal EnvelopeCodec Codec { get; set; } = null!;

    /// <summary>The receive path over <see cref="Codec"/> and the process's record of its peers' last heartbeats (made again when
    /// a new process has a new codec).</summary>
    internal (EnvelopeCodec Codec, InboundRouter Router, SteadyHeartbeats Steady)? Router { get; set; }

    internal Dictionary<string, GroupRuntime> Groups { get; } = new(StringComparer.Ordinal);

    /// <summary><see cref="Groups"/> in configuration order.</summary>
    internal List<GroupRuntime> GroupList { get; } = [];

    internal IArbiter Arbiter { get; set; } = null!;

    /// <summary>Witness mode: the current process's voter side (the real <see cref="WitnessVoter"/>).</summary>
    internal WitnessVoter? Voter { get; set; }

    internal (int Generation, TimeSpan LastArrival) ArbiterChannel { get; set; }

    /// <summary>When the current process's next tick is due (global time).</summary>
    internal TimeSpan NextTickAt { get; set; }

    /// <summary>The tick interval in global time at the node's clock rate (fixed for the node).</summary>
    internal TimeSpan TickEvery { get; set; }

    /// <summary>Lease modes: ends the current process's watch of the lease store (cancelled when the process dies).</summary>
    internal CancellationTokenSource? WatchStop { get; set; }

    /// <summary>Lease modes: until when the node's watch stream is broken (deletions it would report are lost).</summary>
    internal TimeSpan WatchLostUntil { get; set; }

    internal FenceCoordinator Fencing { get; set; } = null!;

    internal IReadOnlyDictionary<string, ulong> Persisted => _persisted;

    /// <summary>The incarnation on this node's simulated disk.</summary>
    internal ulong PersistedIncarnation { get; set; }

    /// <summary>This node's simulated disk (kept across processes).</summary>
    internal Simulation.SimulatedStateStore? Store { get; set; }

    /// <summary>The current process's durable state (the runtime's <see cref="DurableNodeState"/>).</summary>
    internal DurableNodeState State { get; set; } = null!;

    /// <summary>The current process's executor of its core's commands (the runtime's <see cref="NodeCommandExecutor"/>).</summary>
    internal NodeCommandExecutor Executor { get; set; } = null!;

    /// <summary>The options a node of the cluster gets (as <see cref="ClusterNode"/> would): the cluster's, with its own node name.</summary>
    internal static HaKitOptions OptionsFor(HaKitOptions o, string node) => new()
    {
        Preset = o.Preset,
        ClusterName = o.ClusterName,
        NodeName = node,
        Nodes = o.Nodes,
        Links = o.Links,
        Timing = o.Timing,
        Detector = o.Detector,
        Auth = o.Auth,
        Groups = o.Groups,
        Arbiter = o.Arbiter,
        Fencing = o.Fencing,
        StateDirectory = o.StateDirectory,
        MaxPacketSize = o.MaxPacketSize,
    };

    /// <inheritdoc />
    public override string ToString() => IsUp ? $"{Name} (incarnation {Incarnation})" : $"{Name} (down)";
}
