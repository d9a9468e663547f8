using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>A range of durations; a value is drawn uniformly from it with the simulation's seeded random source.</summary>
/// <param name="Min">Shortest.</param>
/// <param name="Max">Longest (at least <paramref name="Min"/>).</param>
public readonly record struct DurationRange(TimeSpan Min, TimeSpan Max)
{
    /// <summary>A fixed duration.</summary>
    /// <param name="value">The duration.</param>
    public static DurationRange Fixed(TimeSpan value) => new(value, value);

    /// <summary>A range in milliseconds.</summary>
    /// <param name="min">Shortest, ms.</param>
    /// <param name="max">Longest, ms.</param>
    public static DurationRange Ms(double min, double max) => new(TimeSpan.FromMilliseconds(min), TimeSpan.FromMilliseconds(max));

    /// <inheritdoc />
    public override string ToString() => Min == Max ? $"{Min.TotalMilliseconds:0.#} ms" : $"{Min.TotalMilliseconds:0.#}-{Max.TotalMilliseconds:0.#} ms";
}

/// <summary>Faults of resource actions, drawn per action while faults are active.</summary>
public sealed class ResourceFaults
{
    /// <summary>Normal duration of a start. <value>Default 5-40 ms.</value></summary>
    public DurationRange StartDuration { get; set; } = DurationRange.Ms(5, 40);

    /// <summary>Normal duration of a stop. <value>Default 5-40 ms.</value></summary>
    public DurationRange StopDuration { get; set; } = DurationRange.Ms(5, 40);

    /// <summary>Normal duration of a monitor. <value>Default 1-5 ms.</value></summary>
    public DurationRange MonitorDuration { get; set; } = DurationRange.Ms(1, 5);

    /// <summary>Probability that an action is slow: its duration is multiplied by 3 to 10 (it may then run past its time-out).</summary>
    public double Slow { get; set; }

    /// <summary>Probability that an action hangs: it runs past its time-out and is reported as timed out.</summary>
    public double Hang { get; set; }

    /// <summary>Probability that an action fails with <see cref="ResourceFailureKind.Transient"/> (a monitor reports NotRunning: the resource died).</summary>
    public double Transient { get; set; }

    /// <summary>Probability that a start or monitor fails with <see cref="ResourceFailureKind.PermanentOnNode"/>.</summary>
    public double PermanentOnNode { get; set; }

    /// <summary>Probability that a start or monitor fails with <see cref="ResourceFailureKind.Fatal"/>.</summary>
    public double Fatal { get; set; }
}

/// <summary>Which faults the simulation injects while faults are active, with their probabilities and rates.</summary>
/// <remarks>Per-packet and per-action probabilities apply to every packet or action; rates (per second of virtual time) start
/// episodes (a cut, a partition, a crash, a stall, an outage) whose length is drawn from the matching range.</remarks>
public sealed class FaultProfile
{
    /// <summary>Name shown in reports.</summary>
    public string Name { get; set; } = "custom";

    /// <summary>Normal one-way network delay. <value>Default 0.2-2 ms.</value></summary>
    public DurationRange NetworkDelay { get; set; } = DurationRange.Ms(0.2, 2);

    /// <summary>Probability a packet is lost.</summary>
    public double Loss { get; set; }

    /// <summary>Probability a packet gets extra delay drawn from <see cref="Jitter"/>.</summary>
    public double Delay { get; set; }

    /// <summary>Extra delay of a delayed packet. <value>Default 10-150 ms.</value></summary>
    public DurationRange Jitter { get; set; } = DurationRange.Ms(10, 150);

    /// <summary>Probability a packet is delivered twice.</summary>
    public double Duplicate { get; set; }

    /// <summary>Probability a packet is held back long enough to arrive after later ones (reordering; extra delay 1-3 heartbeat intervals).</summary>
    public double Reorder { get; set; }

    /// <summary>Probability that, with each packet sent, an old captured packet of the same link is injected again (a replay).</summary>
    public double Replay { get; set; }

    /// <summary>Rate of link cuts per second (one link, one or both directions).</summary>
    public double LinkCutRate { get; set; }

    /// <summary>Of the link cuts, the fraction that cut only one direction.</summary>
    public double OneWayFraction { get; set; } = 0.5;

    /// <summary>Length of a link cut. <value>Default 0.2-3 s.</value></summary>
    public DurationRange CutDuration { get; set; } = DurationRange.Ms(200, 3000);

    /// <summary>Rate of full partitions per second (every link, both directions, between two sides).</summary>
    public double PartitionRate { get; set; }

    /// <summary>Length of a partition. <value>Default 0.5-4 s.</value></summary>
    public DurationRange PartitionDuration { get; set; } = DurationRange.Ms(500, 4000);

    /// <summary>Rate of node crashes per second (SIGKILL: resources die with the process; durable state is kept).</summary>
    public double CrashRate { get; set; }

    /// <summary>Time until a crashed node starts again (new incarnation). <value>Default 0.3-3 s.</value></summary>
    public DurationRange RestartDelay { get; set; } = DurationRange.Ms(300, 3000);

    /// <summary>Rate of process stalls per second (GC pause, stopped VM): no ticks and no input handled while stalled.</summary>
    public double StallRate { get; set; }

    /// <summary>Length of a stall. <value>Default 0.1-1.5 s.</value></summary>
    public DurationRange StallDuration { get; set; } = DurationRange.Ms(100, 1500);

    /// <summary>Largest relative clock-rate error of a node (0.05 = each node's monotonic clock runs between 0.95x and 1.05x). Drawn once per node.</summary>
    public double MaxClockDrift { get; set; }

    /// <summary>Rate per second of outages of a node's reachability (ping) targets: while on, the two-node arbiter on that node denies takeovers.</summary>
    public double PingOutageRate { get; set; }

    /// <summary>Length of a ping-target outage. <value>Default 0.5-3 s.</value></summary>
    public DurationRange PingOutageDuration { get; set; } = DurationRange.Ms(500, 3000);

    /// <summary>ipfail (drawn only when <c>Arbiter:Ipfail</c> is on, so other scenarios replay as before): rate per second at which one
    /// node alone loses its ping targets (its uplink fails while its heartbeat links work).</summary>
    public double TargetLossRate { get; set; }

    /// <summary>Length of a target loss. <value>Default 0.5-6 s (shorter and longer than the ipfail hysteresis).</value></summary>
    public DurationRange TargetLossDuration { get; set; } = DurationRange.Ms(500, 6000);

    /// <summary>Lease modes: rate per second of lease-store outages (etcd down for everyone; on its return every lease is refreshed, as etcd does).</summary>
    public double StoreOutageRate { get; set; }

    /// <summary>Length of a lease-store outage. <value>Default 0.5-4 s.</value></summary>
    public DurationRange StoreOutageDuration { get; set; } = DurationRange.Ms(500, 4000);

    /// <summary>Lease modes: rate per second of cuts between one node and the lease store (the node alone cannot reach etcd).</summary>
    public double StoreCutRate { get; set; }

    /// <summary>Length of a node-to-store cut. <value>Default 0.5-4 s.</value></summary>
    public DurationRange StoreCutDuration { get; set; } = DurationRange.Ms(500, 4000);

    /// <summary>Probability that persisting an epoch fails (disk full).</summary>
    public double PersistFailure { get; set; }

    /// <summary>Probability that one fence level fails.</summary>
    public double FenceFailure { get; set; }

    /// <summary>Resource action faults.</summary>
    public ResourceFaults Resources { get; set; } = new();

    /// <summary>Rate per second of operator switchovers (<see cref="SwitchoverCommand"/>): a random group is moved by the node
    /// that runs it (or, when none does, a random node, which refuses). 0 (the default) draws no random number.</summary>
    public double SwitchoverRate { get; set; }

    /// <summary>Of the switchovers, the fraction that name a target node (a random other node); the rest let the core pick the best other node. <value>Default 0.5.</value></summary>
    public double SwitchoverTargetFraction { get; set; } = 0.5;

    /// <summary>Rate per second of an operator putting a random node in standby (<see cref="SetStandbyCommand"/>); it is taken out
    /// again after <see cref="StandbyDuration"/>. 0 (the default) draws no random number.</summary>
    public double StandbyRate { get; set; }

    /// <summary>How long a node stays in standby. <value>Default 0.5-4 s.</value></summary>
    public DurationRange StandbyDuration { get; set; } = DurationRange.Ms(500, 4000);

    /// <summary>Rate per second of an operator putting a random group in maintenance on a random node (<see cref="SetMaintenanceCommand"/>);
    /// it is managed again after <see cref="MaintenanceDuration"/>. 0 (the default) draws no random number.</summary>
    public double MaintenanceRate { get; set; }

    /// <summary>How long a group stays in maintenance. <value>Default 0.5-4 s.</value></summary>
    public DurationRange MaintenanceDuration { get; set; } = DurationRange.Ms(500, 4000);

    /// <summary>Rate per second of graceful shutdowns of a random node (<see cref="Simulation.Shutdown"/>, the semantics of
    /// <see cref="ClusterNode.StopAsync"/>); the node starts again after <see cref="RestartDelay"/> as a new incarnation.
    /// 0 (the default) draws no random number.</summary>
    public double ShutdownRate { get; set; }

    /// <summary>Lease modes: rate per second of an outsider's hand on the lease store, as <c>etcdctl</c> gives it to an operator: one
    /// of a group's key deleted (its lease lives on), the holder's lease revoked, or the key deleted and re-created at once under a
    /// new lease with the same node name (a second process configured with that name). 0 (the default) draws no random number.</summary>
    public double StoreTamperRate { get; set; }

    /// <summary>Lease modes: rate per second of a node's watch stream failing (etcd compaction, a broken stream): the deletions it
    /// would have reported in the next <see cref="StoreCutDuration"/> are lost, as they are while the stream is reopened. 0 (the
    /// default) draws no random number.</summary>
    public double WatchFailureRate { get; set; }

    /// <summary>Lease modes: probability that a deletion the watch reports is reported a second time, later (a watch that
    /// replays after it reconnects). 0 (the default) draws no random number.</summary>
    public double WatchReplay { get; set; }

    /// <summary>Probability per batch of commands (the core's <c>Ready</c> output of one step) that the process is killed part way
    /// through executing it: after a random number of its commands, the rest never run; it restarts after
    /// <see cref="RestartDelay"/>. 0 (the default) draws no random number.</summary>
    public double BatchCrash { get; set; }

    /// <summary>
    /// Probability that a duration drawn from a range (network delays, stalls, cuts, arbiter and resource action times, ...)
    /// lands on an edge instead of anywhere in the range: the range's ends, or one of <see cref="Edges"/> inside it, exactly or one
    /// millisecond either side; that a message arrives in the same instant as its receiver's next timer; and that a node's clock
    /// drifts by exactly <see cref="MaxClockDrift"/>. Continuous random time almost never hits a boundary; this does. 0 (the
    /// default) draws no random number.
    /// </summary>
    public double EdgeBias { get; set; }

    /// <summary>The scenario's margins that <see cref="EdgeBias"/> aims at (dead time, warn time, heartbeat interval, lease drift
    /// margin, arbiter retry, ...); set by <see cref="SimulationScenarios"/> for edge-biased seeds.</summary>
    public IList<TimeSpan> Edges { get; } = [];

    /// <summary>Whether any operator action is scheduled (<see cref="SwitchoverRate"/>, <see cref="StandbyRate"/>, <see cref="MaintenanceRate"/> or <see cref="ShutdownRate"/>).</summary>
    public bool HasOperatorActions => SwitchoverRate > 0 || StandbyRate > 0 || MaintenanceRate > 0 || ShutdownRate > 0;
}

/// <summary>Configuration of a <see cref="Simulation"/>.</summary>
public sealed class SimulationOptions
{
    /// <summary>The seed of the single random source that drives everything (faults, delays, durations).</summary>
    public int Seed { get; set; }

    /// <summary>
    /// The cluster's options, as a host would configure <see cref="ClusterNode"/>: nodes, links, timing, detector, groups,
    /// arbiter and authentication (heartbeats are really signed and checked). <see cref="HaKitOptions.NodeName"/> is set per node.
    /// <value>Default: <see cref="DefaultCluster"/>.</value>
    /// </summary>
    public HaKitOptions Cluster { get; set; } = DefaultCluster();

    /// <summary>Whether the two-node arbiter has reachability (ping) targets; their outages come from <see cref="FaultProfile.PingOutageRate"/>.</summary>
    public bool PingTargets { get; set; }

    /// <summary>Fence levels (tried in order); empty = no fencing. A successful fence powers the target off (it restarts after <see cref="FaultProfile.RestartDelay"/>).</summary>
    public IList<string> FenceLevels { get; } = [];

    /// <summary>Duration of one fence level. <value>Default 20-200 ms.</value></summary>
    public DurationRange FenceDuration { get; set; } = DurationRange.Ms(20, 200);

    /// <summary>Duration of an arbiter request. <value>Default 1-20 ms.</value></summary>
    public DurationRange ArbiterDuration { get; set; } = DurationRange.Ms(1, 20);

    /// <summary>The faults injected from time zero until <see cref="FaultDuration"/>.</summary>
    public FaultProfile Faults { get; set; } = new() { Name = "none" };

    /// <summary>How long faults are injected. At that point every fault ends: links heal, crashed and shut-down nodes restart (a
    /// node in the middle of a graceful shutdown finishes it and restarts at once), an operator takes every node out of standby and
    /// every group out of maintenance, and clears failures on every node (like <c>crm resource cleanup</c>), and once more when
    /// every action in flight has finished. <value>Default 20 s.</value></summary>
    public TimeSpan FaultDuration { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How long the simulation runs after faults end (must exceed the convergence bound). <value>Default: the bound plus 5 s.</value></summary>
    public TimeSpan? QuietDuration { get; set; }

    /// <summary>
    /// The host's bound on a graceful shutdown (<see cref="Simulation.Shutdown"/>), as <c>HostOptions.ShutdownTimeout</c> bounds
    /// <see cref="ClusterNode.StopAsync"/>: when the core has not reported <see cref="ShutdownReady"/> by then, the process exits anyway.
    /// <value>Default: what the hosting layer requires, every group's stop time-outs + 2 × dead time + 5 s.</value>
    /// </summary>
    public TimeSpan? ShutdownTimeout { get; set; }

    /// <summary>The resources of a group on a node; called at every (re)start of a node process. <value>Default: one <see cref="SimulatedResource"/> per name in <see cref="GroupOptions.Resources"/>.</value></summary>
    public Func<string, GroupOptions, IReadOnlyList<IResource>>? ResourceFactory { get; set; }

    /// <summary>Replication of one group between the two nodes (the real protocol core over a simulated disk and stream, a workload
    /// appending on the owner, and the replication invariants); <see langword="null"/>: off. <value>Default off.</value></summary>
    public ReplicationSimulationOptions? Replication { get; set; }

    /// <summary>The invariants checked after every step. <value>Default: <see cref="Invariants.Default"/>.</value></summary>
    public IList<IInvariant>? Invariants { get; set; }

    /// <summary>How messages travel between the nodes: as bytes through the real wire layer, or as typed messages after it (the same
    /// trace either way; typed delivery skips encoding, HMAC and parsing). <value>Default <see cref="WireDelivery.Sampled"/>: the full
    /// wire for one seed in eight (<see cref="Simulation.FullWireSeed"/>), typed delivery for the others.</value></summary>
    public WireDelivery Wire { get; set; }

    /// <summary>Whether to record the full trace (every message, timer, role change and resource action). Costs time; the runner enables it for replays.</summary>
    public bool RecordTrace { get; set; }

    /// <summary>Most steps a run may take; more is reported as a <c>step-budget</c> violation (a livelock). <value>Default 250,000 (a 35 s two-node scenario takes about 5,000).</value></summary>
    public long MaxSteps { get; set; } = 250_000;

    /// <summary>Stop at the first violation. <value>Default true.</value></summary>
    public bool StopAtFirstViolation { get; set; } = true;

    /// <summary>A two-node cluster (a, b) with two links, fast timings (interval 100 ms, dead time 400 ms) and one group <c>web</c> of two resources preferring <c>a</c>.</summary>
    public static HaKitOptions DefaultCluster() => new()
    {
        ClusterName = "sim",
        Nodes =
        [
            new NodeOptions { Name = "a", Priority = 100, Addresses = { ["lan0"] = "10.0.0.1:7400", ["lan1"] = "10.0.1.1:7400" } },
            new NodeOptions { Name = "b", Priority = 100, Addresses = { ["lan0"] = "10.0.0.2:7400", ["lan1"] = "10.0.1.2:7400" } },
        ],
        Links = [new LinkOptions { Name = "lan0" }, new LinkOptions { Name = "lan1" }],
        Timing = new TimingOptions
        {
            Interval = TimeSpan.FromMilliseconds(100),
            WarnTime = TimeSpan.FromMilliseconds(250),
            DeadTime = TimeSpan.FromMilliseconds(400),
            InitialDeadTime = TimeSpan.FromMilliseconds(1000),
        },
        Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = "aGFraXQtc2ltdWxhdGlvbi1rZXktbm90LXNlY3JldCEh" }], SendKeyId = 1 },
        Groups =
        [
            new GroupOptions
            {
                Name = "web",
                PreferredNode = "a",
                Resources = ["vip", "app"],
                MonitorInterval = TimeSpan.FromMilliseconds(500),
                StartTimeout = TimeSpan.FromMilliseconds(300),
                StopTimeout = TimeSpan.FromMilliseconds(300),
                MonitorTimeout = TimeSpan.FromMilliseconds(200),
                MaxRestarts = 2,
                FailureWindow = TimeSpan.FromSeconds(5),
            },
        ],
        Arbiter = new ArbiterOptions { RetryInterval = TimeSpan.FromMilliseconds(500) },
        Fencing = new FencingOptions { Timeout = TimeSpan.FromSeconds(1), RetryInterval = TimeSpan.FromMilliseconds(500) },
        StateDirectory = "/nonexistent/simulated",
    };
}
