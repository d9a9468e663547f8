using System.Globalization;
using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Testing;

/// <summary>
/// A deterministic, single-threaded simulation of a HaKit cluster: every node runs the real <see cref="OwnershipCore"/> and
/// failure detectors, heartbeats go through the real wire layer (signed envelopes, replay window, protobuf payloads), resource
/// groups run the real <see cref="ResourceGroupMachine"/>, arbiter decisions come from the real <see cref="TwoNodeArbiter"/> and
/// fencing from the real fence coordinator. Time is virtual; one seeded <see cref="System.Random"/> draws every fault, delay and duration,
/// so a run is a pure function of its <see cref="SimulationOptions"/> and replays exactly from its seed.
/// </summary>
/// <remarks>
/// <para>The command executor gives core commands the semantics <see cref="ClusterNode"/> gives them: a persist writes durable
/// state and feeds back at once (or fails); a start creates the group's ownership token; a stop cancels it first and aborts a
/// start or monitor in flight; fence levels are tried in order; arbiter answers and action results are posted back later;
/// one envelope per link.</para>
/// <para>After every step (one scheduled event) every <see cref="IInvariant"/> is checked.</para>
/// </remarks>
public sealed class Simulation : IDisposable
{
    private readonly PriorityQueue<Action, (long At, long Seq)> _queue = new();
    private readonly Dictionary<(int From, int To, int Link), int> _cuts = [];
    private readonly Dictionary<(int From, int To, int Link), List<byte[]>> _captured = [];
    private readonly Dictionary<(int To, int From), (TimeSpan At, HeartbeatMessage Message)> _lastHeard = [];
    private readonly List<SimulatedNode> _nodes = [];
    private readonly Dictionary<string, SimulatedNode> _byName = new(StringComparer.Ordinal);
    private readonly List<SimulationEvent> _stepEvents = [];
    private readonly List<TraceEntry> _trace = [];
    private readonly List<InvariantViolation> _violations = [];
    private readonly IInvariant[] _invariants;
    private readonly string[] _nodeNames;
    private readonly string[] _links;
    private readonly string[] _groupNames;
    private readonly byte[] _payload;
    private readonly byte[] _send;
    private readonly FaultProfile _faults;
    private readonly InMemoryLeaseStore? _leaseStore;
    private readonly SimulatedWitness? _witness;
    private TimeSpan _storeDownUntil;
    private long _seq;
    private bool _started;
    private bool _faultsOn;
    private bool _disposed;

    /// <summary>Creates the simulation (nodes are created but not started).</summary>
    /// <param name="options">The scenario.</param>
    /// <exception cref="HaKitConfigurationException">The cluster options are invalid (the message names every bad key).</exception>
    public Simulation(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Random = new Random(options.Seed);
        _faults = options.Faults;
        var cluster = options.Cluster;
        _nodeNames = cluster.Nodes.Select(n => n.Name).ToArray();
        _links = cluster.Links.Select(l => l.Name).ToArray();
        _groupNames = cluster.Groups.Select(g => g.Name).ToArray();
        _payload = new byte[cluster.MaxPacketSize];
        _send = new byte[cluster.MaxPacketSize];
        for (var i = 0; i < _nodeNames.Length; i++)
        {
            var nodeOptions = CloneFor(cluster, _nodeNames[i]);
            var errors = HaKitOptionsValidator.Validate(nodeOptions).ToList();
            if (errors.Count > 0)
            {
                throw new HaKitConfigurationException(errors);
            }

            var rate = 1 + ((Random.NextDouble() * 2) - 1) * _faults.MaxClockDrift;
            var node = new SimulatedNode(_nodeNames[i], i, nodeOptions, rate, new AuthKeyRing(cluster.Auth));
            _nodes.Add(node);
            _byName.Add(node.Name, node);
        }

        if (cluster.Arbiter.Mode == ArbiterMode.Etcd)
        {
            _leaseStore = new InMemoryLeaseStore(new SimulatedTimeProvider(() => Now, TimeSpan.Zero, 1), "simulated etcd");
        }

        if (cluster.Arbiter.Mode == ArbiterMode.Witness)
        {
            _witness = new SimulatedWitness(cluster.Arbiter.Witness.Name, 1 + ((Random.NextDouble() * 2) - 1) * _faults.MaxClockDrift);
        }

        FaultsEndAt = options.FaultDuration;
        Bounds = SimulationBounds.From(options);
        _invariants = [.. options.Invariants ?? Invariants.Default(options)];
    }

    /// <summary>The scenario.</summary>
    public SimulationOptions Options { get; }

    /// <summary>Lease modes (<see cref="ArbiterMode.Etcd"/>): the simulated etcd every node's <see cref="LeaseStoreArbiter"/> talks to; otherwise <see langword="null"/>.</summary>
    public InMemoryLeaseStore? LeaseStore => _leaseStore;

    /// <summary>Witness mode: the simulated witness; otherwise <see langword="null"/>.</summary>
    public SimulatedWitness? Witness => _witness;

    /// <summary>Witness mode: whether the witness is down or cut from some node (either way) right now.</summary>
    public bool WitnessDisturbed => _witness is { } w && (!w.IsUp || _nodes.Any(n => n.StoreCutUntil > Now || n.WitnessRequestsCutUntil > Now || n.WitnessRepliesCutUntil > Now));

    /// <summary>Lease modes: takes the lease store down for everyone until <paramref name="until"/> (global time); on its return every lease is refreshed, as etcd does.</summary>
    /// <param name="until">When it comes back.</param>
    /// <exception cref="InvalidOperationException">Not a lease mode.</exception>
    public void StoreOutage(TimeSpan until)
    {
        if (_witness is { } witness)
        {
            WitnessOutage(witness, until);
            return;
        }

        var store = _leaseStore ?? throw new InvalidOperationException("the scenario has no lease store (Arbiter:Mode is not Etcd or Witness)");
        store.Available = false;
        if (until > _storeDownUntil)
        {
            _storeDownUntil = until;
        }

        Record("-", "fault", $"lease store down until {until.TotalSeconds:0.000}s");
        ScheduleGlobal(until, () =>
        {
            if (!store.Available && Now >= _storeDownUntil)
            {
                StoreBack(store);
            }
        });
    }

    /// <summary>Lease modes: cuts <paramref name="node"/> from the lease store until <paramref name="until"/> (global time).</summary>
    /// <param name="node">The node.</param>
    /// <param name="until">When the cut heals.</param>
    public void CutFromStore(string node, TimeSpan until)
    {
        var n = this[node];
        if (until > n.StoreCutUntil)
        {
            n.StoreCutUntil = until;
        }

        Record(n.Name, "fault", $"cut from the lease store until {n.StoreCutUntil.TotalSeconds:0.000}s");
    }

    /// <summary>Witness mode: cuts one direction between <paramref name="node"/> and the witness until <paramref name="until"/> (global time).</summary>
    /// <param name="node">The node.</param>
    /// <param name="until">When the cut heals.</param>
    /// <param name="requests">Cut the node's packets to the witness (<see langword="true"/>) or the witness's replies to it (<see langword="false"/>).</param>
    public void CutWitnessOneWay(string node, TimeSpan until, bool requests)
    {
        var n = this[node];
        if (requests)
        {
            n.WitnessRequestsCutUntil = until > n.WitnessRequestsCutUntil ? until : n.WitnessRequestsCutUntil;
        }
        else
        {
            n.WitnessRepliesCutUntil = until > n.WitnessRepliesCutUntil ? until : n.WitnessRepliesCutUntil;
        }

        Record(n.Name, "fault", $"{(requests ? "packets to the witness" : "the witness's replies")} lost until {until.TotalSeconds:0.000}s");
    }

    /// <summary>Witness mode: the witness process crashes now and starts again at <paramref name="until"/> (it keeps its epochs, forgets its leases).</summary>
    private void WitnessOutage(SimulatedWitness w, TimeSpan until)
    {
        if (w.IsUp)
        {
            w.IsUp = false;
            w.Generation++;
            Record("-", "fault", $"witness crashes; starts again at {until.TotalSeconds:0.000}s");
        }

        if (until > _storeDownUntil)
        {
            _storeDownUntil = until;
        }

        ScheduleGlobal(until, () =>
        {
            if (!w.IsUp && Now >= _storeDownUntil)
            {
                BootWitness(w);
            }
        });
    }

    private void BootWitness(SimulatedWitness w)
    {
        w.IsUp = true;
        w.Generation++;
        w.Starts++;
        w.Clock = new SimulatedTimeProvider(() => Now, Now, w.Rate);
        w.Grantor = new LeaseGrantor(w.Name, TimeSpan.Zero, Options.Cluster.Arbiter.LeaseTtl);
        foreach (var (group, epoch) in w.Persisted)
        {
            w.Grantor.Observe(Options.Cluster.ClusterName, group, epoch);
        }

        w.Grantor.EpochRaised += (_, group, epoch) => w.Persisted[group] = Math.Max(epoch, w.Persisted.GetValueOrDefault(group));
        Record("-", "fault", $"witness process starts (start {w.Starts}); persisted epochs {Describe(w.Persisted)}; quiet for {Ms(Options.Cluster.Arbiter.LeaseTtl)}");
    }

    private void StoreBack(InMemoryLeaseStore store)
    {
        store.Available = true;
        store.Restart();
        Record("-", "fault", "lease store back (every lease refreshed)");
    }

    /// <summary>The single seeded random source (use it for your own scheduled faults to stay replayable).</summary>
    public Random Random { get; }

    /// <summary>Global virtual time.</summary>
    public TimeSpan Now { get; private set; }

    /// <summary>Steps executed so far.</summary>
    public long Steps { get; private set; }

    /// <summary>The nodes.</summary>
    public IReadOnlyList<SimulatedNode> Nodes => _nodes;

    /// <summary>The configured group names.</summary>
    public IReadOnlyList<string> GroupNames => _groupNames;

    /// <summary>The configured link names.</summary>
    public IReadOnlyList<string> Links => _links;

    /// <summary>Whether faults are being injected.</summary>
    public bool FaultsActive => _faultsOn;

    /// <summary>When faults end (and every fault is healed).</summary>
    public TimeSpan FaultsEndAt { get; private set; }

    /// <summary>Time bounds derived from the configured timings (see <see cref="SimulationBounds"/>).</summary>
    public SimulationBounds Bounds { get; }

    /// <summary>The facts observed in the step just executed (for invariants).</summary>
    public IReadOnlyList<SimulationEvent> StepEvents => _stepEvents;

    /// <summary>The trace so far (empty unless <see cref="SimulationOptions.RecordTrace"/>).</summary>
    public IReadOnlyList<TraceEntry> Trace => _trace;

    /// <summary>Violations found so far.</summary>
    public IReadOnlyList<InvariantViolation> Violations => _violations;

    /// <summary>A node by name.</summary>
    /// <param name="node">The node name.</param>
    public SimulatedNode this[string node] => _byName.TryGetValue(node, out var n) ? n : throw new ArgumentException($"unknown node '{node}'; the cluster has {string.Join(", ", _nodeNames)}", nameof(node));

    /// <summary>The last heartbeat <paramref name="from"/> that reached <paramref name="to"/>'s current process, with its global arrival time.</summary>
    /// <param name="to">The receiver.</param>
    /// <param name="from">The sender.</param>
    public (TimeSpan At, HeartbeatMessage Message)? LastHeartbeat(string to, string from) =>
        _lastHeard.TryGetValue((this[to].Index, this[from].Index), out var h) ? h : null;

    /// <summary>Whether the directed link is cut now (by a fault or <see cref="Cut"/>).</summary>
    /// <param name="from">Sender.</param>
    /// <param name="to">Receiver.</param>
    /// <param name="link">The link.</param>
    public bool IsCut(string from, string to, string link) => _cuts.TryGetValue((this[from].Index, this[to].Index, LinkIndex(link)), out var c) && c > 0;

    /// <summary>Starts every node (done by <see cref="Run"/> when not yet started) and, when the profile has faults, the fault injector.</summary>
    public void Start()
    {
        if (_witness is { IsUp: false, Starts: 0 } w)
        {
            BootWitness(w);
        }

        if (_started)
        {
            return;
        }

        _started = true;
        _faultsOn = FaultsEndAt > TimeSpan.Zero;
        foreach (var n in _nodes)
        {
            Boot(n);
        }

        if (_faultsOn)
        {
            ScheduleGlobal(TimeSpan.FromMilliseconds(100), ChaosTick);
            ScheduleGlobal(FaultsEndAt, StopFaults);
        }

        CheckInvariants();
    }

    /// <summary>Runs the whole scenario: faults until <see cref="SimulationOptions.FaultDuration"/>, then the quiet period.</summary>
    /// <returns>The result, with violations and (if recorded) the trace.</returns>
    public SimulationResult Run()
    {
        Start();
        var quiet = Options.QuietDuration ?? Bounds.Convergence + TimeSpan.FromSeconds(5);
        RunUntil(FaultsEndAt + quiet);
        return new SimulationResult(Options.Seed, Options.Faults.Name, _violations.ToArray(), Steps, Now, _trace.ToArray());
    }

    /// <summary>Runs the clock forward by <paramref name="duration"/>.</summary>
    /// <param name="duration">How long.</param>
    public void RunFor(TimeSpan duration)
    {
        Start();
        RunUntil(Now + duration);
    }

    /// <summary>Runs until <paramref name="condition"/> holds (checked after every step) or <paramref name="limit"/> passes.</summary>
    /// <param name="condition">The condition.</param>
    /// <param name="limit">The longest to run.</param>
    /// <returns>How long it took, or <see langword="null"/> if it did not happen.</returns>
    public TimeSpan? RunUntil(Func<Simulation, bool> condition, TimeSpan limit)
    {
        ArgumentNullException.ThrowIfNull(condition);
        Start();
        var start = Now;
        var until = Now + limit;
        if (condition(this))
        {
            return TimeSpan.Zero;
        }

        while (!Stopped && _queue.TryPeek(out _, out var key) && key.At <= until.Ticks)
        {
            Step();
            if (condition(this))
            {
                return Now - start;
            }
        }

        if (!Stopped)
        {
            Now = until;
        }

        return null;
    }

    /// <summary>Runs <paramref name="action"/> at global time <paramref name="at"/> (a scripted fault or operator action).</summary>
    /// <param name="at">When.</param>
    /// <param name="action">What.</param>
    public void Schedule(TimeSpan at, Action<Simulation> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ScheduleGlobal(at < Now ? Now : at, () => action(this));
    }

    /// <summary>Cuts a directed link (every link when <paramref name="link"/> is null).</summary>
    /// <param name="from">Sender.</param>
    /// <param name="to">Receiver.</param>
    /// <param name="link">The link, or all.</param>
    public void Cut(string from, string to, string? link = null)
    {
        foreach (var l in LinkIndexes(link))
        {
            var key = (this[from].Index, this[to].Index, l);
            _cuts[key] = _cuts.GetValueOrDefault(key) + 1;
        }

        Record("-", "fault", $"cut {from}->{to} {link ?? "all links"}");
    }

    /// <summary>Heals a directed link (every link when <paramref name="link"/> is null), whatever cut it.</summary>
    /// <param name="from">Sender.</param>
    /// <param name="to">Receiver.</param>
    /// <param name="link">The link, or all.</param>
    public void Heal(string from, string to, string? link = null)
    {
        foreach (var l in LinkIndexes(link))
        {
            _cuts.Remove((this[from].Index, this[to].Index, l));
        }

        Record("-", "fault", $"heal {from}->{to} {link ?? "all links"}");
    }

    /// <summary>Cuts both directions between two nodes.</summary>
    /// <param name="a">One node.</param>
    /// <param name="b">The other.</param>
    /// <param name="link">The link, or all.</param>
    public void CutBoth(string a, string b, string? link = null)
    {
        Cut(a, b, link);
        Cut(b, a, link);
    }

    /// <summary>Heals every link.</summary>
    public void HealAll()
    {
        _cuts.Clear();
        Record("-", "fault", "heal all links");
    }

    /// <summary>Cuts every link in both directions between <paramref name="side"/> and the other nodes.</summary>
    /// <param name="side">The nodes on one side.</param>
    public void Partition(IReadOnlyCollection<string> side)
    {
        ArgumentNullException.ThrowIfNull(side);
        foreach (var a in side)
        {
            foreach (var b in _nodeNames.Where(n => !side.Contains(n)))
            {
                CutBoth(a, b);
            }
        }
    }

    /// <summary>Kills a node's process (SIGKILL): no more ticks or messages; its resources die with it; durable state is kept.</summary>
    /// <param name="node">The node.</param>
    public void Crash(string node) => TakeDown(this[node], "crash (process killed, resources die with it)");

    private void TakeDown(SimulatedNode n, string why)
    {
        if (!n.IsUp)
        {
            return;
        }

        n.IsUp = false;
        n.Generation++;
        n.StalledUntil = TimeSpan.Zero;
        n.IsShuttingDown = false;
        n.ExitPending = false;
        foreach (var g in n.Groups.Values)
        {
            Array.Clear(g.Running);
            g.Machine.Abandon();
            g.Ownership?.Cancel();
            g.Action?.Cancel();
        }

        ForgetHeard(n.Index);
        Observe(new NodeCrashed(Now, n.Name));
        Record(n.Name, "fault", why);
    }

    /// <summary>Starts a new process for a node (new incarnation, epochs from its durable state); crashes the old one first if it runs.</summary>
    /// <param name="node">The node.</param>
    public void Restart(string node)
    {
        var n = this[node];
        Crash(node);
        Boot(n);
    }

    /// <summary>Pauses a node's process (GC pause, stopped VM): it handles no tick, packet or result until the pause ends.</summary>
    /// <param name="node">The node.</param>
    /// <param name="duration">How long.</param>
    public void Stall(string node, TimeSpan duration)
    {
        var n = this[node];
        if (n.IsUp && Now + duration > n.StalledUntil)
        {
            n.StalledUntil = Now + duration;
            Record(n.Name, "fault", $"stall for {Ms(duration)}");
        }
    }

    /// <summary>Runs an operator command on a node (like <see cref="ClusterNode.ExecuteAsync"/>).</summary>
    /// <param name="node">The node.</param>
    /// <param name="command">The command.</param>
    /// <returns>The core's answer (refused when the node is down).</returns>
    /// <remarks>A <see cref="ShutdownCommand"/> begins a graceful shutdown (see <see cref="Shutdown"/>).</remarks>
    public AdminResult Admin(string node, AdminCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command is ShutdownCommand)
        {
            return Shutdown(node);
        }

        return AdminCore(this[node], command);
    }

    /// <summary>
    /// Graceful shutdown with the semantics of <see cref="ClusterNode.StopAsync"/>: the node's core gets a <see cref="ShutdownCommand"/>
    /// and the process keeps running (ticks, heartbeats, resource actions) while it releases every group and announces each
    /// handoff until the target took it (bounded by <see cref="CoreConfig.HandoffConfirmTimeout"/>); when the core reports
    /// <see cref="ShutdownReady"/>, the process exits after the current batch of commands. If that takes longer than
    /// <see cref="SimulationOptions.ShutdownTimeout"/>, the process exits anyway. Durable state is kept; while faults are
    /// injected the node starts again after <see cref="FaultProfile.RestartDelay"/> (a new incarnation), after them at once.
    /// </summary>
    /// <param name="node">The node.</param>
    /// <returns>The core's answer (refused when the node is down or already shutting down).</returns>
    public AdminResult Shutdown(string node)
    {
        var n = this[node];
        if (!n.IsUp)
        {
            return new AdminResult(false, $"node {node} is down");
        }

        if (n.IsShuttingDown)
        {
            return new AdminResult(false, $"node {node} is already shutting down");
        }

        n.IsShuttingDown = true;
        var generation = n.Generation;
        var timeout = Options.ShutdownTimeout ?? HostShutdownTimeout(Options.Cluster);
        ScheduleGlobal(Now + n.Clock.ToGlobalDuration(timeout), () =>
        {
            if (n.IsUp && n.Generation == generation && n.IsShuttingDown)
            {
                Observe(new ShutdownTimedOut(Now, n.Name, timeout));
                Exit(n, $"the host's shutdown time-out ({Ms(timeout)}) passed before every group was handed over: the process exits anyway");
            }
        });
        return AdminCore(n, new ShutdownCommand());
    }

    /// <summary>What the hosting layer sets <c>HostOptions.ShutdownTimeout</c> to at least: every group's stop time-outs + 2 × dead time + 5 s.</summary>
    internal static TimeSpan HostShutdownTimeout(HaKitOptions cluster) =>
        cluster.Groups.Aggregate(TimeSpan.Zero, (sum, g) => sum + (g.StopTimeout * Math.Max(1, g.Resources.Count))) + (2 * cluster.Timing.DeadTime) + TimeSpan.FromSeconds(5);

    private AdminResult AdminCore(SimulatedNode n, AdminCommand command)
    {
        var node = n.Name;
        if (!n.IsUp)
        {
            return new AdminResult(false, $"node {node} is down");
        }

        var result = n.Core.Admin(n.Clock.LocalNow, command);
        if (result.Accepted)
        {
            switch (command)
            {
                case SetStandbyCommand standby:
                    n.InStandby = standby.Standby;
                    break;
                case SetMaintenanceCommand { Maintenance: true } m:
                    n.MaintenanceGroups.Add(m.Group);
                    break;
                case SetMaintenanceCommand m:
                    n.MaintenanceGroups.Remove(m.Group);
                    break;
            }
        }

        Observe(new AdminObserved(Now, n.Name, command, result));
        Record(n.Name, "admin", $"{command} -> {result.Message}");
        Drain(n);
        return result;
    }

    /// <summary>Ends every fault now: links heal, outages and stalls end, crashed and shut-down nodes restart (a node in the middle of a
    /// graceful shutdown finishes it and restarts at once), operator actions stop and their state is reset (standby off on every
    /// node, maintenance off for every group), and an operator clears failures of every group on every node, now and again once
    /// every action that began during faults has finished (<see cref="SimulationBounds.InFlight"/>).</summary>
    public void StopFaults()
    {
        var wasOn = _faultsOn;
        _faultsOn = false;
        if (FaultsEndAt > Now || wasOn)
        {
            FaultsEndAt = Now;
        }

        _cuts.Clear();
        if (_leaseStore is { Available: false } store)
        {
            _storeDownUntil = Now;
            StoreBack(store);
        }

        if (_witness is { IsUp: false } witness)
        {
            _storeDownUntil = Now;
            BootWitness(witness);
        }

        foreach (var n in _nodes)
        {
            n.PingOutageUntil = TimeSpan.Zero;
            n.StoreCutUntil = TimeSpan.Zero;
            n.WitnessRequestsCutUntil = TimeSpan.Zero;
            n.WitnessRepliesCutUntil = TimeSpan.Zero;
            if (n.StalledUntil > Now)
            {
                n.StalledUntil = Now;
            }
        }

        Record("-", "fault", "faults end: links healed, outages over, crashed nodes restart, failures cleared");
        foreach (var n in _nodes.Where(n => !n.IsUp))
        {
            Boot(n);
        }

        ResetOperatorState();
        ClearFailuresEverywhere();

        // An action drawn while faults were on (a hanging stop) may still fail after they end: clean up once more after it.
        ScheduleGlobal(Now + Bounds.InFlight, ClearFailuresEverywhere);
    }

    /// <summary>Takes every node out of standby and every group out of maintenance (only where they are on: nothing else changes).</summary>
    private void ResetOperatorState()
    {
        foreach (var n in _nodes.Where(n => n.IsUp))
        {
            if (n.InStandby)
            {
                AdminCore(n, new SetStandbyCommand(false));
            }

            foreach (var g in _groupNames.Where(n.InMaintenance))
            {
                AdminCore(n, new SetMaintenanceCommand(g, false));
            }
        }
    }

    private void ClearFailuresEverywhere()
    {
        foreach (var n in _nodes)
        {
            foreach (var g in _groupNames)
            {
                Admin(n.Name, new ClearFailuresCommand(g));
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var n in _nodes)
        {
            n.Keys.Dispose();
            foreach (var g in n.Groups.Values)
            {
                g.Ownership?.Dispose();
                g.Action?.Dispose();
            }
        }
    }

    // ------------------------------------------------------------------ engine

    private bool Stopped => Options.StopAtFirstViolation && _violations.Count > 0;

    private void RunUntil(TimeSpan until)
    {
        while (!Stopped && _queue.TryPeek(out _, out var key) && key.At <= until.Ticks)
        {
            Step();
        }

        if (!Stopped && Now < until)
        {
            Now = until;
        }
    }

    private void Step()
    {
        if (Steps >= Options.MaxSteps)
        {
            _violations.Add(new InvariantViolation("step-budget", Now, $"more than {Options.MaxSteps} steps by {Ms(Now)} of virtual time: something schedules work without end (raise SimulationOptions.MaxSteps if the scenario is really that big)"));
            _queue.Clear();
            return;
        }

        var action = _queue.Dequeue();
        _stepEvents.Clear();
        Steps++;
        try
        {
            action();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _violations.Add(new InvariantViolation("no-exception", Now, $"{ex.GetType().Name}: {ex.Message}{Environment.NewLine}{ex.StackTrace}"));
            return;
        }

        CheckInvariants();
    }

    private void CheckInvariants()
    {
        foreach (var inv in _invariants)
        {
            var message = inv.Check(this);
            if (message is not null)
            {
                var v = new InvariantViolation(inv.Name, Now, message);
                _violations.Add(v);
                Record("-", "check", $"VIOLATION {v}");
                if (Options.StopAtFirstViolation)
                {
                    return;
                }
            }
        }
    }

    private void ScheduleGlobal(TimeSpan at, Action action)
    {
        _queue.Enqueue(() =>
        {
            if (at > Now)
            {
                Now = at;
            }

            action();
        }, (at.Ticks, _seq++));
    }

    /// <summary>Runs work for a node's current process after a global delay; dropped if the process died; deferred while it is stalled.</summary>
    private void Later(SimulatedNode n, TimeSpan delay, Action action)
    {
        var generation = n.Generation;
        void Attempt()
        {
            if (!n.IsUp || n.Generation != generation)
            {
                return;
            }

            if (n.StalledUntil > Now)
            {
                ScheduleGlobal(n.StalledUntil, Attempt);
                return;
            }

            action();
            Drain(n);
        }

        ScheduleGlobal(Now + delay, Attempt);
    }

    private void Post(SimulatedNode n, Action action) => Later(n, TimeSpan.Zero, action);

    private void Boot(SimulatedNode n)
    {
        n.Generation++;
        n.Incarnation++;
        n.IsUp = true;
        n.StalledUntil = TimeSpan.Zero;
        n.IsShuttingDown = false;
        n.ExitPending = false;
        n.InStandby = false;
        n.MaintenanceGroups.Clear();
        n.Clock = new SimulatedTimeProvider(() => Now, Now, n.Rate);
        n.WireStats = new WireStats();
        n.Codec = new EnvelopeCodec(Options.Cluster.ClusterName, n.Name, _nodeNames, n.Incarnation, n.Keys, Options.Cluster.MaxPacketSize, n.WireStats);
        var agents = Options.FenceLevels.Select(l => (IFenceAgent)new SimulatedFenceAgent(this, n, l)).ToArray();
        n.Fencing = new FenceCoordinator(agents, Options.Cluster.Fencing.Timeout, n.Clock);
        n.Arbiter = _leaseStore is { } leaseStore
            ? new LeaseStoreArbiter(new StoreView(this, n, leaseStore), Options.Cluster.ClusterName, Options.Cluster.Arbiter.LeaseTtl, Options.Cluster.Arbiter.Etcd.KeyPrefix)
            : new TwoNodeArbiter(Options.PingTargets ? [new SimulatedProbe(this, n)] : []);
        n.Core = new OwnershipCore(CoreConfig.FromOptions(n.Options, agents.Length > 0), FailureDetectorFactory.FromOptions(n.Options), new Dictionary<string, ulong>(n.Persisted, StringComparer.Ordinal), TimeSpan.Zero);
        n.Voter = _witness is null ? null : CreateVoter(n);
        foreach (var old in n.Groups.Values)
        {
            old.Ownership?.Dispose();
            old.Action?.Dispose();
        }

        n.Groups.Clear();
        foreach (var g in n.Options.Groups)
        {
            var resources = (Options.ResourceFactory?.Invoke(n.Name, g) ?? g.Resources.Select(r => (IResource)new SimulatedResource(r)).ToArray()).ToArray();
            if (resources.Length == 0)
            {
                throw new HaKitConfigurationException([$"HaKit:Groups:{g.Name}:Resources = (none): group {g.Name} has no resources on node {n.Name}; list them in GroupOptions.Resources or return them from SimulationOptions.ResourceFactory"]);
            }

            var machine = new ResourceGroupMachine(g, resources.Select(r => r.Name).ToArray(), new RestartTracker(g.MaxRestarts, g.FailureWindow, n.Clock));
            n.Groups.Add(g.Name, new GroupRuntime(g, resources, machine) { Context = new ResourceContext(g.Name, n.Name, 0, new CancellationToken(canceled: true)) });
        }

        ForgetHeard(n.Index);
        Observe(new NodeStarted(Now, n.Name, n.Incarnation));
        Record(n.Name, "fault", $"process starts, incarnation {n.Incarnation}, clock rate {n.Rate.ToString("0.0000", CultureInfo.InvariantCulture)}, persisted epochs {Describe(n.Persisted)}");
        ScheduleTick(n, n.Generation, Now);
    }

    private void ScheduleTick(SimulatedNode n, int generation, TimeSpan at) =>
        ScheduleGlobal(at, () =>
        {
            if (!n.IsUp || n.Generation != generation)
            {
                return;
            }

            if (n.StalledUntil > Now)
            {
                ScheduleTick(n, generation, n.StalledUntil);
                return;
            }

            if (Options.RecordTrace)
            {
                Record(n.Name, "timer", $"tick (local {Ms(n.Clock.LocalNow)})");
            }

            n.Core.Tick(n.Clock.LocalNow);
            Drain(n);
            ScheduleTick(n, generation, Now + n.Clock.ToGlobalDuration(n.Options.Timing.EffectiveTickInterval));
        });

    private void Drain(SimulatedNode n)
    {
        DrainCommands(n);
        if (n.ExitPending && n.IsUp)
        {
            Exit(n, "graceful shutdown complete (every group released and handed over): the process exits");
        }
    }

    /// <summary>The process of a node that shut down exits; it starts again as a new incarnation later (at once when faults are over).</summary>
    private void Exit(SimulatedNode n, string why)
    {
        TakeDown(n, why);
        var generation = n.Generation;
        var delay = _faultsOn ? Draw(_faults.RestartDelay) : TimeSpan.Zero;
        ScheduleGlobal(Now + delay, () =>
        {
            if (!n.IsUp && n.Generation == generation)
            {
                Boot(n);
            }
        });
    }

    private void DrainCommands(SimulatedNode n)
    {
        var executed = 0;
        while (n.IsUp && n.Core.HasReady)
        {
            foreach (var c in n.Core.TakeReady())
            {
                if (!n.IsUp)
                {
                    return;
                }

                if (++executed > MaxCommandsPerStep)
                {
                    throw new InvalidOperationException($"livelock: node {n.Name}'s core issued more than {MaxCommandsPerStep} commands in one step without time advancing (last: {c})");
                }

                var done = c.AcceptAsync(Executor(n), CancellationToken.None);
                if (!done.IsCompletedSuccessfully)
                {
                    throw new InvalidOperationException($"the simulator's executor must complete every command synchronously (node {n.Name}, {c})");
                }

                done.GetAwaiter().GetResult();
            }
        }
    }

    private const int MaxCommandsPerStep = 10_000;

    // ------------------------------------------------------------------ command executor (ClusterNode semantics)

    private readonly Dictionary<SimulatedNode, NodeCommands> _executors = [];

    private NodeCommands Executor(SimulatedNode n)
    {
        if (!_executors.TryGetValue(n, out var executor))
        {
            executor = new NodeCommands(this, n);
            _executors[n] = executor;
        }

        return executor;
    }

    /// <summary>One node's executor of its core's commands; every method completes synchronously (results are scheduled).</summary>
    private sealed class NodeCommands(Simulation sim, SimulatedNode n) : ICoreCommandHandler
    {
        public ValueTask SendHeartbeatAsync(SendHeartbeat command, CancellationToken cancellationToken)
        {
            sim.SendHeartbeat(n, command.Message);
            return default;
        }

        public ValueTask PersistEpochAsync(PersistEpoch command, CancellationToken cancellationToken)
        {
            sim.Persist(n, command);
            return default;
        }

        public ValueTask AskArbiterAsync(AskArbiter command, CancellationToken cancellationToken)
        {
            sim.AskArbiter(n, command);
            return default;
        }

        public ValueTask ReleaseArbiterAsync(ReleaseArbiter command, CancellationToken cancellationToken)
        {
            sim.ReleaseArbiter(n, command);
            return default;
        }

        public ValueTask FenceNodeAsync(FenceNode command, CancellationToken cancellationToken)
        {
            sim.Fence(n, command);
            return default;
        }

        public ValueTask StartGroupAsync(StartGroup command, CancellationToken cancellationToken)
        {
            sim.StartGroup(n, command);
            return default;
        }

        public ValueTask StopGroupAsync(StopGroup command, CancellationToken cancellationToken)
        {
            sim.StopGroup(n, command);
            return default;
        }

        public ValueTask MonitorGroupAsync(MonitorGroup command, CancellationToken cancellationToken)
        {
            sim.MonitorGroup(n, command);
            return default;
        }

        public ValueTask EmitEventAsync(EmitEvent command, CancellationToken cancellationToken)
        {
            if (command.Event is ShutdownReady && n.IsShuttingDown)
            {
                n.ExitPending = true; // ClusterNode.StopAsync resumes; the rest of this batch (the final heartbeat) still goes out
            }

            sim.Observe(new CoreEventObserved(sim.Now, n.Name, command.Event));
            if (sim.Options.RecordTrace || command.Event is RoleChanged)
            {
                sim.Record(n.Name, "event", Describe(command.Event));
            }

            return default;
        }
    }

    private void SendHeartbeat(SimulatedNode n, HeartbeatMessage message)
    {
        if (Options.RecordTrace)
        {
            Record(n.Name, "msg", $"send {Describe(message)}");
        }

        SendOnLinks(n, HeartbeatMapper.ToProto(message), null);
    }

    /// <summary>Sends one message on every link, one envelope per link (each link carries its own sequence number), to every other node or only to <paramref name="only"/>.</summary>
    private void SendOnLinks(SimulatedNode n, ClusterMessage message, SimulatedNode? only)
    {
        var length = PayloadCodec.Write(message, _payload);
        for (var l = 0; l < _links.Length; l++)
        {
            var size = n.Codec.Encode(_payload.AsSpan(0, length), _send);
            var bytes = _send.AsSpan(0, size).ToArray();
            foreach (var peer in _nodes)
            {
                if (peer != n && (only is null || peer == only))
                {
                    Transmit(n, peer, l, bytes);
                }
            }
        }
    }

    private void Transmit(SimulatedNode from, SimulatedNode to, int link, byte[] bytes)
    {
        var key = (from.Index, to.Index, link);
        if (_cuts.TryGetValue(key, out var cut) && cut > 0)
        {
            if (Options.RecordTrace)
            {
                Record(from.Name, "drop", $"->{to.Name} {_links[link]}: link cut");
            }

            return;
        }

        var f = _faultsOn ? _faults : null;
        if (f is not null && Chance(f.Loss))
        {
            if (Options.RecordTrace)
            {
                Record(from.Name, "drop", $"->{to.Name} {_links[link]}: lost");
            }

            return;
        }

        Deliver(from, to, link, bytes, PacketDelay(f), "");
        if (f is null)
        {
            return;
        }

        if (Chance(f.Duplicate))
        {
            Deliver(from, to, link, bytes, PacketDelay(f), " (duplicate)");
        }

        if (!_captured.TryGetValue(key, out var old))
        {
            old = [];
            _captured[key] = old;
        }

        if (f.Replay > 0 && old.Count > 0 && Chance(f.Replay))
        {
            Deliver(from, to, link, old[Random.Next(old.Count)], PacketDelay(f), " (replayed old packet)");
        }

        if (f.Replay > 0)
        {
            if (old.Count >= 16)
            {
                old.RemoveAt(Random.Next(old.Count));
            }

            old.Add(bytes);
        }
    }

    private TimeSpan PacketDelay(FaultProfile? f)
    {
        var delay = Draw(f?.NetworkDelay ?? Options.Faults.NetworkDelay);
        if (f is null)
        {
            return delay;
        }

        if (Chance(f.Delay))
        {
            delay += Draw(f.Jitter);
        }

        if (Chance(f.Reorder))
        {
            delay += Options.Cluster.Timing.Interval * (1 + (Random.NextDouble() * 2));
        }

        return delay;
    }

    /// <summary>The receive path of the node's current incarnation: the runtime's <see cref="InboundRouter"/> over its codec, votes to its voter.</summary>
    private readonly Dictionary<SimulatedNode, (EnvelopeCodec Codec, InboundRouter Router)> _routers = [];
    private string _inboundLink = "";
    private string _inboundNote = "";

    private InboundRouter Router(SimulatedNode to)
    {
        if (_routers.TryGetValue(to, out var r) && r.Codec == to.Codec)
        {
            return r.Router;
        }

        var router = new InboundRouter(to.Codec, null, null, (sender, message) =>
        {
            if (to.Voter is not { } voter)
            {
                return false;
            }

            if (Options.RecordTrace)
            {
                Record(to.Name, "msg", $"<-{sender} {_inboundLink}{_inboundNote}: {message}");
            }

            voter.OnMessage(to.Clock.LocalNow, sender, message);
            return true;
        });
        _routers[to] = (to.Codec, router);
        return router;
    }

    private void Deliver(SimulatedNode from, SimulatedNode to, int link, byte[] bytes, TimeSpan delay, string note) =>
        Later(to, delay, () =>
        {
            _inboundLink = _links[link];
            _inboundNote = note;
            var routed = Router(to).Route(bytes, _links[link]);
            switch (routed.Drop)
            {
                case InboundDrop.Wire:
                    if (Options.RecordTrace)
                    {
                        Record(to.Name, "drop", $"<-{from.Name} {_links[link]}{note}: wire layer dropped it ({routed.WireReason})");
                    }

                    return;
                case InboundDrop.MalformedPayload or InboundDrop.VoteRejected: // rejected only when the node has no voter (not Witness mode)
                    Record(to.Name, "drop", $"<-{from.Name} {_links[link]}{note}: malformed payload");
                    return;
                case InboundDrop.MalformedHeartbeat:
                    Record(to.Name, "drop", $"<-{from.Name} {_links[link]}{note}: malformed heartbeat");
                    return;
            }

            if (routed.Heartbeat is not { } heartbeat)
            {
                return; // a vote message, handed to the voter
            }

            var sender = routed.Sender!;
            var incarnation = routed.Incarnation;
            var senderNode = this[sender];
            _lastHeard[(to.Index, senderNode.Index)] = (Now, heartbeat);
            Observe(new HeartbeatDelivered(Now, to.Name, sender, _links[link], heartbeat));
            if (Options.RecordTrace)
            {
                Record(to.Name, "msg", $"<-{sender} {_links[link]} inc {incarnation} seq {routed.Sequence}{note}: {Describe(heartbeat)}");
            }

            to.Core.Receive(to.Clock.LocalNow, sender, _links[link], incarnation, heartbeat);
        });

    private void Persist(SimulatedNode n, PersistEpoch persist)
    {
        string? error = null;
        var previous = n.Persisted.GetValueOrDefault(persist.Group);
        if (persist.Epoch > previous)
        {
            if (_faultsOn && Chance(_faults.PersistFailure))
            {
                error = "simulated: No space left on device";
            }
            else
            {
                n.Persisted[persist.Group] = persist.Epoch;
            }
        }

        Record(n.Name, "cmd", $"persist {persist.Group} epoch {persist.Epoch}: {error ?? "ok"}");
        n.Core.OnEpochPersisted(n.Clock.LocalNow, persist.Group, persist.Epoch, error);
    }

    private void ReleaseArbiter(SimulatedNode n, ReleaseArbiter release)
    {
        if (n.Voter is { } voter)
        {
            Record(n.Name, "cmd", $"release {release.Group}: own vote given back, releases sent to the peer and the witness");
            voter.Release(release.Group);
            return;
        }

        if (_leaseStore is null)
        {
            Record(n.Name, "cmd", $"release arbiter for {release.Group}");
            return;
        }

        // The release reaches the store after a network delay, whatever happens to the process meanwhile.
        var arbiter = n.Arbiter;
        var name = n.Name;
        var arrives = ArbiterArrival(n);
        Record(name, "cmd", $"release arbiter for {release.Group} (reaches the store at {arrives.TotalSeconds:0.000}s)");
        ScheduleGlobal(arrives, () =>
        {
            var pending = arbiter.ReleaseAsync(release.Group, name, CancellationToken.None);
            if (!pending.IsCompleted)
            {
                throw new InvalidOperationException("the simulated lease store must answer synchronously");
            }

            Record(name, "arbiter", $"release of {release.Group} handled (store revision {_leaseStore.Revision})");
        });
    }

    private void AskArbiter(SimulatedNode n, AskArbiter ask)
    {
        if (n.Voter is { } voter)
        {
            var request = ask.Request;
            Record(n.Name, "cmd", $"ask voters {request.Reason} {request.Group} epoch {request.ProposedEpoch}");
            voter.Ask(n.Clock.LocalNow, request, decision => Post(n, () =>
            {
                Record(n.Name, "arbiter", $"{request.Reason} {request.Group}: {(decision.Granted ? "granted" : decision.Unavailable ? "no majority yet" : "refused")} ({decision.Explanation})");
                n.Core.OnArbiterAnswer(n.Clock.LocalNow, ask.RequestId, decision);
            }));
            return;
        }

        if (_leaseStore is not null)
        {
            AskLeaseArbiter(n, ask);
            return;
        }

        var pending = n.Arbiter.RequestAsync(ask.Request, CancellationToken.None);
        if (!pending.IsCompleted)
        {
            throw new InvalidOperationException("the simulated two-node arbiter must answer synchronously");
        }

        var decision = pending.Result;
        var delay = Draw(Options.ArbiterDuration);
        Record(n.Name, "cmd", $"ask arbiter {ask.Request.Reason} {ask.Request.Group} epoch {ask.Request.ProposedEpoch}: {(decision.Granted ? "granted" : "denied")} ({decision.Explanation}) after {Ms(delay)}");
        Later(n, delay, () => n.Core.OnArbiterAnswer(n.Clock.LocalNow, ask.RequestId, decision));
    }

    /// <summary>Lease modes: the request reaches the store after one delay (whatever happens to the process meanwhile: etcd acts on
    /// what it received), the store acts at that instant, and the answer comes back after another (dropped if the process died).</summary>
    private void AskLeaseArbiter(SimulatedNode n, AskArbiter ask)
    {
        var arbiter = n.Arbiter;
        var arrives = ArbiterArrival(n);
        ScheduleGlobal(arrives, () =>
        {
            var pending = arbiter.RequestAsync(ask.Request, CancellationToken.None);
            if (!pending.IsCompleted)
            {
                throw new InvalidOperationException("the simulated lease store must answer synchronously");
            }

            var decision = pending.Result;
            var back = Draw(Options.ArbiterDuration);
            Record(n.Name, "arbiter", $"{ask.Request.Reason} {ask.Request.Group}: {(decision.Granted ? "granted" : decision.Unavailable ? "unavailable" : "denied")} at the store ({decision.Explanation}); answer in {Ms(back)}");
            Later(n, back, () => n.Core.OnArbiterAnswer(n.Clock.LocalNow, ask.RequestId, decision));
        });
    }

    /// <summary>When a process's next arbiter call reaches the store: after a network delay, and not before its previous call
    /// (the runtime issues them in command order on one connection, so a release is never overtaken by the claim after it).</summary>
    private TimeSpan ArbiterArrival(SimulatedNode n)
    {
        var arrives = Now + Draw(Options.ArbiterDuration);
        if (n.ArbiterChannel.Generation == n.Generation && n.ArbiterChannel.LastArrival > arrives)
        {
            arrives = n.ArbiterChannel.LastArrival;
        }

        n.ArbiterChannel = (n.Generation, arrives);
        return arrives;
    }

    private sealed class StoreView(Simulation sim, SimulatedNode node, InMemoryLeaseStore store) : ILeaseStore
    {
        public string Name => store.Name;

        public ValueTask<(long LeaseId, TimeSpan Ttl)> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken)
        {
            Check();
            return store.GrantLeaseAsync(ttl, cancellationToken);
        }

        public ValueTask<TimeSpan?> KeepAliveAsync(long leaseId, CancellationToken cancellationToken)
        {
            Check();
            return store.KeepAliveAsync(leaseId, cancellationToken);
        }

        public ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken)
        {
            Check();
            return store.RevokeLeaseAsync(leaseId, cancellationToken);
        }

        public ValueTask<LeaseClaim> PutIfAbsentAsync(string key, string value, long leaseId, CancellationToken cancellationToken)
        {
            Check();
            return store.PutIfAbsentAsync(key, value, leaseId, cancellationToken);
        }

        public ValueTask<LeaseHolder?> GetAsync(string key, CancellationToken cancellationToken)
        {
            Check();
            return store.GetAsync(key, cancellationToken);
        }

        public ValueTask<bool> DeleteIfLeaseAsync(string key, long leaseId, CancellationToken cancellationToken)
        {
            Check();
            return store.DeleteIfLeaseAsync(key, leaseId, cancellationToken);
        }

        private void Check()
        {
            if (node.StoreCutUntil > sim.Now)
            {
                throw new LeaseStoreUnavailableException($"node {node.Name} cannot reach {store.Name} (connection timed out)");
            }
        }
    }

    /// <summary>Witness mode: a node process's voter side; its messages go to the peer on every link (real envelopes) and to the witness.</summary>
    private WitnessVoter CreateVoter(SimulatedNode n)
    {
        var a = Options.Cluster.Arbiter;
        var peer = _nodeNames.Single(x => x != n.Name);
        WitnessVoter? voter = null;
        voter = new WitnessVoter(
            Options.Cluster.ClusterName,
            n.Name,
            peer,
            a.Witness.Name,
            a.LeaseTtl,
            a.Witness.RequestTimeout,
            TimeSpan.Zero,
            (target, message) =>
            {
                if (target == VoteTarget.Peer)
                {
                    SendVoteToPeer(n, peer, message);
                }
                else
                {
                    SendToWitness(n, message);
                }
            },
            (round, delay) => Later(n, n.Clock.ToGlobalDuration(delay), () => voter!.Expire(n.Clock.LocalNow, round)),
            n.Incarnation,
            (group, delay) => Later(n, n.Clock.ToGlobalDuration(delay), () =>
            {
                Record(n.Name, "arbiter", $"the voters' hold on {group} has run out: ask again now");
                n.Core.OnArbiterFreed(n.Clock.LocalNow, group);
            }));
        foreach (var (group, epoch) in n.Persisted)
        {
            voter.Grantor.Observe(Options.Cluster.ClusterName, group, epoch);
        }

        voter.Grantor.EpochRaised += (_, group, epoch) =>
        {
            // The runtime persists an epoch its own voter granted the peer (PersistGranted).
            if (epoch > n.Persisted.GetValueOrDefault(group))
            {
                n.Persisted[group] = epoch;
            }
        };
        return voter;
    }

    private void SendVoteToPeer(SimulatedNode n, string peer, ClusterMessage message)
    {
        if (Options.RecordTrace)
        {
            Record(n.Name, "msg", $"send to {peer}: {message}");
        }

        SendOnLinks(n, message, this[peer]);
    }

    /// <summary>Witness mode: a message from a node to the witness. It arrives after an arbiter delay unless the witness is down or the
    /// path is cut or the packet lost; a request's reply comes back the same way to the same process.</summary>
    private void SendToWitness(SimulatedNode n, ClusterMessage message)
    {
        var w = _witness!;
        var f = _faultsOn ? _faults : null;
        if (n.StoreCutUntil > Now || n.WitnessRequestsCutUntil > Now || (f is not null && Chance(f.Loss)))
        {
            if (Options.RecordTrace)
            {
                Record(n.Name, "drop", $"->witness: {(f is not null ? "cut or lost" : "cut")}: {message}");
            }

            return;
        }

        var copies = f is not null && Chance(f.Duplicate) ? 2 : 1;
        for (var i = 0; i < copies; i++)
        {
            ScheduleGlobal(Now + Draw(Options.ArbiterDuration), () => WitnessReceives(w, n, message));
        }
    }

    private void WitnessReceives(SimulatedWitness w, SimulatedNode from, ClusterMessage message)
    {
        if (!w.IsUp)
        {
            return;
        }

        var cluster = Options.Cluster.ClusterName;
        switch (message.BodyCase)
        {
            case ClusterMessage.BodyOneofCase.VoteRelease:
                var released = w.Grantor.Release(cluster, message.VoteRelease.Group, from.Name, message.VoteRelease.Epoch, message.VoteRelease.RequestId);
                Record("witness", "arbiter", $"release of {message.VoteRelease.Group} epoch {message.VoteRelease.Epoch} by {from.Name}: {(released ? "released" : "nothing to release")}");
                return;
            case ClusterMessage.BodyOneofCase.VoteRequest:
                var q = message.VoteRequest;
                var vote = w.Grantor.Vote(w.Clock.LocalNow, cluster, q.Group, from.Name, q.Epoch, TimeSpan.FromMilliseconds(q.TtlMs), q.Renew, q.RequestId);
                Record("witness", "arbiter", $"{(q.Renew ? "renewal" : "request")} {q.Group} epoch {q.Epoch} from {from.Name}: {vote.Reason}");
                if (from.StoreCutUntil > Now || from.WitnessRepliesCutUntil > Now || (_faultsOn && Chance(_faults.Loss)))
                {
                    return;
                }

                var reply = new ClusterMessage { VoteReply = WitnessVoter.ToReply(q.RequestId, q.Group, from.Name, vote) };
                Later(from, Draw(Options.ArbiterDuration), () => from.Voter?.OnMessage(from.Clock.LocalNow, w.Name, reply));
                return;
        }
    }

    private void Fence(SimulatedNode n, FenceNode fence)
    {
        var agents = Options.FenceLevels.Count;
        var attempt = new FenceAttempt();
        _fenceAttempt = attempt;
        var task = n.Fencing.FenceAsync(fence.Node, CancellationToken.None);
        _fenceAttempt = null;
        if (!task.IsCompleted)
        {
            throw new InvalidOperationException("the simulated fence agents must answer synchronously");
        }

        var result = task.Result;
        var duration = agents == 0 ? TimeSpan.Zero : attempt.Duration;
        Record(n.Name, "cmd", $"fence {fence.Node}: {(result.Succeeded ? "will succeed" : "will fail")} after {Ms(duration)} ({result.Explanation})");
        Later(n, duration, () =>
        {
            if (result.Succeeded && _byName.TryGetValue(fence.Node, out var target))
            {
                if (target.IsUp)
                {
                    Crash(target.Name);
                    Record(target.Name, "fault", $"powered off by {n.Name}'s fence");
                    var restartAt = Now + Draw(_faults.RestartDelay);
                    var generation = target.Generation;
                    ScheduleGlobal(restartAt, () =>
                    {
                        if (!target.IsUp && target.Generation == generation)
                        {
                            Boot(target);
                        }
                    });
                }
            }

            Observe(new FenceObserved(Now, n.Name, fence.Node, result.Succeeded));
            n.Core.OnFenceCompleted(n.Clock.LocalNow, fence.RequestId, result);
        });
    }

    private FenceAttempt? _fenceAttempt;

    private sealed class FenceAttempt
    {
        public TimeSpan Duration { get; set; }
    }

    private sealed class SimulatedFenceAgent(Simulation sim, SimulatedNode node, string level) : IFenceAgent
    {
        public string Name => level;

        public ValueTask<FenceResult> FenceAsync(string target, CancellationToken cancellationToken)
        {
            var d = sim.Draw(sim.Options.FenceDuration);
            var timeout = sim.Options.Cluster.Fencing.Timeout;
            if (sim._fenceAttempt is { } a)
            {
                a.Duration += d < timeout ? d : timeout;
            }

            var fail = sim._faultsOn && sim.Chance(sim._faults.FenceFailure);
            return ValueTask.FromResult(fail
                ? new FenceResult(false, $"{level} on {node.Name}: simulated failure (BMC did not answer)")
                : new FenceResult(true, $"powered off {target}"));
        }
    }

    private sealed class SimulatedProbe(Simulation sim, SimulatedNode node) : IReachabilityProbe
    {
        public string Target => "gateway:22";

        public ValueTask<bool> ProbeAsync(CancellationToken cancellationToken) => ValueTask.FromResult(node.PingOutageUntil <= sim.Now);
    }

    // ------------------------------------------------------------------ resource groups

    private void StartGroup(SimulatedNode n, StartGroup start)
    {
        var g = n.Groups[start.Group];
        Observe(new GroupStartIssued(Now, n.Name, start.Group, start.Epoch));
        Record(n.Name, "cmd", $"start group {start.Group} epoch {start.Epoch}");
        g.Ownership?.Cancel();
        g.Ownership = new CancellationTokenSource();
        g.Action = new CancellationTokenSource();
        g.Context = new ResourceContext(start.Group, n.Name, start.Epoch, g.Ownership.Token);
        Enqueue(n, g, new GroupOp(ResourceAction.Start, start.Epoch, g.Action.Token));
    }

    private void StopGroup(SimulatedNode n, StopGroup stop)
    {
        var g = n.Groups[stop.Group];
        Observe(new GroupStopIssued(Now, n.Name, stop.Group, stop.Epoch, stop.Reason));
        Record(n.Name, "cmd", $"stop group {stop.Group} epoch {stop.Epoch} ({stop.Reason})");

        // The instant the node stops owning the group: the ownership token is cancelled, and a start or monitor in flight is aborted.
        g.Ownership?.Cancel();
        g.Action?.Cancel();
        if (g.Current is { Kind: not ResourceAction.Stop } current)
        {
            g.Machine.Abandon();
            g.Current = null;
            Aborted(n, g, current);
        }

        var waiting = g.Waiting.ToArray();
        g.Waiting.Clear();
        foreach (var op in waiting)
        {
            if (op.Token.IsCancellationRequested)
            {
                Aborted(n, g, op);
            }
            else
            {
                g.Waiting.Enqueue(op);
            }
        }

        Enqueue(n, g, new GroupOp(ResourceAction.Stop, stop.Epoch, CancellationToken.None));
    }

    private void MonitorGroup(SimulatedNode n, MonitorGroup monitor)
    {
        var g = n.Groups[monitor.Group];
        Enqueue(n, g, new GroupOp(ResourceAction.Monitor, monitor.Epoch, g.Action?.Token ?? CancellationToken.None));
    }

    private void Aborted(SimulatedNode n, GroupRuntime g, GroupOp op)
    {
        if (op.Kind != ResourceAction.Start)
        {
            Record(n.Name, "resource", $"{g.Options.Name}: monitor aborted (group stopping), nothing reported");
            return; // the group is stopping: nothing to report
        }

        var outcome = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, null, $"start aborted: {new OperationCanceledException().Message}", 0);
        g.Ownership?.Cancel();
        Record(n.Name, "resource", $"{g.Options.Name}: start aborted by the stop");
        Post(n, () => n.Core.OnGroupStarted(n.Clock.LocalNow, g.Options.Name, op.Epoch, outcome));
    }

    private void Enqueue(SimulatedNode n, GroupRuntime g, GroupOp op)
    {
        g.Waiting.Enqueue(op);
        if (g.Current is null)
        {
            BeginNext(n, g);
        }
    }

    private void BeginNext(SimulatedNode n, GroupRuntime g)
    {
        while (g.Current is null && g.Waiting.TryDequeue(out var op))
        {
            if (op.Token.IsCancellationRequested)
            {
                Aborted(n, g, op);
                continue;
            }

            g.Current = op;
            op.Serial = ++g.Serial;
            var step = op.Kind switch
            {
                ResourceAction.Start => g.Machine.BeginStart(),
                ResourceAction.Stop => g.Machine.BeginStop(),
                _ => g.Machine.BeginMonitor(),
            };
            Continue(n, g, op, step);
        }
    }

    private void Continue(SimulatedNode n, GroupRuntime g, GroupOp op, ResourceGroupStep step)
    {
        switch (step.Kind)
        {
            case ResourceGroupStepKind.Completed:
                g.Current = null;
                Finish(n, g, op, step.Outcome!);
                BeginNext(n, g);
                break;
            case ResourceGroupStepKind.Delay:
                Record(n.Name, "timer", $"{g.Options.Name}: restart delay {Ms(step.Delay)}");
                Later(n, n.Clock.ToGlobalDuration(step.Delay), () =>
                {
                    if (g.Current == op && op.Serial == g.Serial)
                    {
                        Continue(n, g, op, g.Machine.OnDelayElapsed());
                    }
                });
                break;
            default:
                RunAction(n, g, op, step);
                break;
        }
    }

    private void RunAction(SimulatedNode n, GroupRuntime g, GroupOp op, ResourceGroupStep step)
    {
        var index = step.ResourceIndex;
        var action = step.Action;
        var f = _faultsOn ? _faults.Resources : null;
        var normal = Options.Faults.Resources;
        var duration = Draw(action switch
        {
            ResourceAction.Start => (f ?? normal).StartDuration,
            ResourceAction.Stop => (f ?? normal).StopDuration,
            _ => (f ?? normal).MonitorDuration,
        });
        var hang = false;
        ResourceFailureKind injected = ResourceFailureKind.None;
        if (f is not null)
        {
            if (Chance(f.Slow))
            {
                duration *= 3 + (Random.NextDouble() * 7);
            }

            hang = Chance(f.Hang);
            if (Chance(f.Transient))
            {
                injected = ResourceFailureKind.Transient;
            }
            else if (action != ResourceAction.Stop && Chance(f.PermanentOnNode))
            {
                injected = ResourceFailureKind.PermanentOnNode;
            }
            else if (action != ResourceAction.Stop && Chance(f.Fatal))
            {
                injected = ResourceFailureKind.Fatal;
            }
        }

        var timeout = step.Timeout;
        var hasTimeout = timeout > TimeSpan.Zero && timeout != System.Threading.Timeout.InfiniteTimeSpan;
        var timedOut = hasTimeout && (hang || duration > timeout);
        if (timedOut)
        {
            duration = timeout;
        }
        else if (hang)
        {
            duration = TimeSpan.FromHours(1); // no time-out configured: the action hangs
        }

        var context = g.Context;
        var resource = g.Resources[index];
        Later(n, n.Clock.ToGlobalDuration(duration), () =>
        {
            if (g.Current != op || op.Serial != g.Serial)
            {
                return; // aborted
            }

            ResourceActionResult result;
            if (timedOut)
            {
                result = ResourceActionResult.TimedOutAfter(action, timeout);
                if (action == ResourceAction.Start)
                {
                    g.Running[index] = true; // may be half started
                }
            }
            else if (injected != ResourceFailureKind.None)
            {
                result = action == ResourceAction.Monitor
                    ? ResourceActionResult.FromMonitor(injected == ResourceFailureKind.Transient ? MonitorResult.NotRunning("simulated: the resource died") : MonitorResult.Failed(injected, $"simulated {injected} failure"))
                    : ResourceActionResult.FromResult(ResourceResult.Failure(injected, $"simulated {injected} failure of {ResourceName(action)}"));
                if (action == ResourceAction.Start)
                {
                    g.Running[index] = true; // may be half started
                }
                else if (action == ResourceAction.Monitor && injected == ResourceFailureKind.Transient)
                {
                    g.Running[index] = false;
                    (resource as SimulatedResource)?.StopAsync(context, CancellationToken.None);
                }
            }
            else
            {
                result = Invoke(resource, action, context);
                if (action == ResourceAction.Start)
                {
                    g.Running[index] = true;
                }
                else if (action == ResourceAction.Stop && result.Succeeded)
                {
                    g.Running[index] = false;
                }
                else if (action == ResourceAction.Monitor && result.Status == ResourceStatus.NotRunning)
                {
                    g.Running[index] = false;
                }
            }

            var record = new ResourceActionRecord(g.Options.Name, resource.Name, action, result.Kind, result.Status, result.Message, duration, result.TimedOut);
            Observe(new ResourceActionObserved(Now, n.Name, context.Epoch, record));
            if (Options.RecordTrace || !result.Succeeded || action != ResourceAction.Monitor)
            {
                Record(n.Name, "resource", $"{g.Options.Name}/{resource.Name} {ResourceName(action)} epoch {context.Epoch}: {(result.TimedOut ? "timed out" : result.Succeeded ? result.Status?.ToString() ?? "ok" : $"{result.Kind} ({result.Message})")} after {Ms(duration)}");
            }

            Continue(n, g, op, g.Machine.OnActionCompleted(result, context.OwnershipToken.IsCancellationRequested));
        });
    }

    private static ResourceActionResult Invoke(IResource resource, ResourceAction action, ResourceContext context)
    {
        try
        {
            switch (action)
            {
                case ResourceAction.Start:
                    return ResourceActionResult.FromResult(Wait(resource.StartAsync(context, CancellationToken.None)));
                case ResourceAction.Stop:
                    return ResourceActionResult.FromResult(Wait(resource.StopAsync(context, CancellationToken.None)));
                default:
                    return ResourceActionResult.FromMonitor(Wait(resource.MonitorAsync(context, CancellationToken.None)));
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return ResourceActionResult.FromException(action, ex);
        }
    }

    /// <summary>Resource actions run inline on the simulation thread; an action that does not complete synchronously is waited for (keep it deterministic).</summary>
    private static T Wait<T>(ValueTask<T> pending) => pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();

    private void Finish(SimulatedNode n, GroupRuntime g, GroupOp op, GroupActionOutcome outcome)
    {
        var group = g.Options.Name;
        Record(n.Name, "resource", $"{group}: {ResourceName(op.Kind)} of the group epoch {op.Epoch}: {outcome.Outcome}{(outcome.Resource is null ? "" : $" ({outcome.Resource}: {outcome.FailureKind} {outcome.Message})")}");
        switch (op.Kind)
        {
            case ResourceAction.Start:
                if (outcome.Outcome is GroupOutcome.Blocked or GroupOutcome.Failed)
                {
                    g.Ownership?.Cancel();
                }

                Post(n, () => n.Core.OnGroupStarted(n.Clock.LocalNow, group, op.Epoch, outcome));
                break;
            case ResourceAction.Stop:
                Post(n, () => n.Core.OnGroupStopped(n.Clock.LocalNow, group, op.Epoch, outcome));
                break;
            default:
                if (outcome.Outcome is GroupOutcome.Blocked)
                {
                    g.Ownership?.Cancel();
                }

                Post(n, () => n.Core.OnGroupMonitored(n.Clock.LocalNow, group, op.Epoch, outcome));
                break;
        }
    }

    // ------------------------------------------------------------------ fault injector

    private void ChaosTick()
    {
        if (!_faultsOn)
        {
            return;
        }

        const double dt = 0.1;
        var f = _faults;
        if (Chance(f.LinkCutRate * dt))
        {
            var a = _nodes[Random.Next(_nodes.Count)];
            var b = _nodes[(a.Index + 1 + Random.Next(_nodes.Count - 1)) % _nodes.Count];
            var link = _links[Random.Next(_links.Length)];
            var oneWay = Chance(f.OneWayFraction);
            var until = Now + Draw(f.CutDuration);
            Cut(a.Name, b.Name, link);
            if (!oneWay)
            {
                Cut(b.Name, a.Name, link);
            }

            ScheduleGlobal(until, () => Uncut(a.Name, b.Name, link, oneWay));
        }

        if (Chance(f.PartitionRate * dt) && _nodes.Count > 1)
        {
            var side = _nodes.Where(_ => Chance(0.5)).Select(n => n.Name).ToArray();
            if (side.Length == 0)
            {
                side = [_nodes[0].Name];
            }
            else if (side.Length == _nodes.Count)
            {
                side = side[1..];
            }

            Partition(side);
            var until = Now + Draw(f.PartitionDuration);
            var others = _nodeNames.Except(side).ToArray();
            ScheduleGlobal(until, () =>
            {
                foreach (var a in side)
                {
                    foreach (var b in others)
                    {
                        Uncut(a, b, null, oneWay: false);
                    }
                }
            });
        }

        if (Chance(f.CrashRate * dt))
        {
            var up = _nodes.Where(n => n.IsUp).ToArray();
            if (up.Length > 0)
            {
                var victim = up[Random.Next(up.Length)];
                Crash(victim.Name);
                var generation = victim.Generation;
                ScheduleGlobal(Now + Draw(f.RestartDelay), () =>
                {
                    if (!victim.IsUp && victim.Generation == generation)
                    {
                        Boot(victim);
                    }
                });
            }
        }

        if (Chance(f.StallRate * dt))
        {
            var victim = _nodes[Random.Next(_nodes.Count)];
            Stall(victim.Name, Draw(f.StallDuration));
        }

        if (Chance(f.PingOutageRate * dt))
        {
            var victim = _nodes[Random.Next(_nodes.Count)];
            victim.PingOutageUntil = Now + Draw(f.PingOutageDuration);
            Record(victim.Name, "fault", $"ping targets unreachable until {victim.PingOutageUntil.TotalSeconds:0.000}s");
        }

        if ((_leaseStore is not null || _witness is not null) && Chance(f.StoreOutageRate * dt))
        {
            StoreOutage(Now + Draw(f.StoreOutageDuration));
        }

        if ((_leaseStore is not null || _witness is not null) && Chance(f.StoreCutRate * dt))
        {
            var victim = _nodes[Random.Next(_nodes.Count)];
            if (_witness is not null && Chance(f.OneWayFraction))
            {
                // Asymmetric: only the node's packets to the witness, or only the witness's replies, are lost.
                CutWitnessOneWay(victim.Name, Now + Draw(f.StoreCutDuration), requests: Random.Next(2) == 0);
            }
            else
            {
                CutFromStore(victim.Name, Now + Draw(f.StoreCutDuration));
            }
        }

        // Operator actions (Chance draws nothing when a rate is 0: profiles without them replay exactly as before).
        if (Chance(f.SwitchoverRate * dt))
        {
            OperatorSwitchover(f);
        }

        if (Chance(f.StandbyRate * dt))
        {
            OperatorStandby(f);
        }

        if (Chance(f.MaintenanceRate * dt))
        {
            OperatorMaintenance(f);
        }

        if (Chance(f.ShutdownRate * dt))
        {
            var victim = _nodes[Random.Next(_nodes.Count)];
            OperatorCommand(victim, "shutdown", () => Shutdown(victim.Name));
        }

        ScheduleGlobal(Now + TimeSpan.FromSeconds(dt), ChaosTick);
    }

    /// <summary>An operator moves a random group: on the node that runs it (as its status shows), else on a random node (which refuses).</summary>
    private void OperatorSwitchover(FaultProfile f)
    {
        var group = _groupNames[Random.Next(_groupNames.Length)];
        var owner = _nodes.FirstOrDefault(n => n.IsUp && n.Role(group) == GroupRole.Active) ?? _nodes[Random.Next(_nodes.Count)];
        string? target = null;
        if (Chance(f.SwitchoverTargetFraction) && _nodes.Count > 1)
        {
            target = _nodes[(owner.Index + 1 + Random.Next(_nodes.Count - 1)) % _nodes.Count].Name;
        }

        OperatorCommand(owner, "switchover", () => AdminCore(owner, new SwitchoverCommand(group, target)));
    }

    /// <summary>An operator puts a random node in standby and takes it out again later (unless the process restarted meanwhile: standby is not durable).</summary>
    private void OperatorStandby(FaultProfile f)
    {
        var n = _nodes[Random.Next(_nodes.Count)];
        var duration = Draw(f.StandbyDuration);
        OperatorCommand(n, "standby on", () =>
        {
            var generation = n.Generation;
            if (AdminCore(n, new SetStandbyCommand(true)).Accepted)
            {
                Later(n, duration, () =>
                {
                    if (n.Generation == generation && n.InStandby)
                    {
                        AdminCore(n, new SetStandbyCommand(false));
                    }
                });
            }
        });
    }

    /// <summary>An operator puts a random group in maintenance on a random node and manages it again later (unless the process restarted meanwhile).</summary>
    private void OperatorMaintenance(FaultProfile f)
    {
        var n = _nodes[Random.Next(_nodes.Count)];
        var group = _groupNames[Random.Next(_groupNames.Length)];
        var duration = Draw(f.MaintenanceDuration);
        OperatorCommand(n, "maintenance on", () =>
        {
            var generation = n.Generation;
            if (AdminCore(n, new SetMaintenanceCommand(group, true)).Accepted)
            {
                Later(n, duration, () =>
                {
                    if (n.Generation == generation && n.InMaintenance(group))
                    {
                        AdminCore(n, new SetMaintenanceCommand(group, false));
                    }
                });
            }
        });
    }

    /// <summary>An operator command reaches the node's loop like <see cref="ClusterNode.ExecuteAsync"/> posts it (after a stall, if
    /// the process is stalled); dropped if faults ended meanwhile (the end of faults resets operator state) or the node is down.</summary>
    private void OperatorCommand(SimulatedNode n, string what, Action command)
    {
        if (!n.IsUp)
        {
            Record(n.Name, "admin", $"{what}: node is down, nothing to do");
            return;
        }

        Post(n, () =>
        {
            if (_faultsOn)
            {
                command();
            }
        });
    }

    private void Uncut(string from, string to, string? link, bool oneWay)
    {
        if (!_faultsOn)
        {
            return;
        }

        void One(string x, string y)
        {
            foreach (var l in LinkIndexes(link))
            {
                var key = (this[x].Index, this[y].Index, l);
                if (_cuts.TryGetValue(key, out var c))
                {
                    if (c <= 1)
                    {
                        _cuts.Remove(key);
                    }
                    else
                    {
                        _cuts[key] = c - 1;
                    }
                }
            }
        }

        One(from, to);
        if (!oneWay)
        {
            One(to, from);
        }

        Record("-", "fault", $"heal {from}{(oneWay ? "->" : "<->")}{to} {link ?? "all links"}");
    }

    // ------------------------------------------------------------------ helpers

    internal bool Chance(double p) => p > 0 && Random.NextDouble() < p;

    internal TimeSpan Draw(DurationRange range) =>
        range.Max <= range.Min ? range.Min : range.Min + TimeSpan.FromTicks((long)((range.Max - range.Min).Ticks * Random.NextDouble()));

    private void Observe(SimulationEvent e) => _stepEvents.Add(e);

    private void Record(string node, string category, string text)
    {
        if (Options.RecordTrace)
        {
            _trace.Add(new TraceEntry(Now, node, category, text));
        }
    }

    private void ForgetHeard(int index)
    {
        foreach (var other in _nodes)
        {
            _lastHeard.Remove((index, other.Index));
        }
    }

    private int LinkIndex(string link)
    {
        var i = Array.IndexOf(_links, link);
        return i >= 0 ? i : throw new ArgumentException($"unknown link '{link}'; the cluster has {string.Join(", ", _links)}", nameof(link));
    }

    private IEnumerable<int> LinkIndexes(string? link) => link is null ? Enumerable.Range(0, _links.Length) : [LinkIndex(link)];

    private static HaKitOptions CloneFor(HaKitOptions o, string node) => new()
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

    private static string ResourceName(ResourceAction action) => action switch
    {
        ResourceAction.Start => "start",
        ResourceAction.Stop => "stop",
        _ => "monitor",
    };

    internal static string Ms(TimeSpan t) => $"{t.TotalMilliseconds.ToString("0.#", CultureInfo.InvariantCulture)} ms";

    private static string Describe(IReadOnlyDictionary<string, ulong> epochs) =>
        epochs.Count == 0 ? "none" : string.Join(", ", epochs.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}"));

    private static string Describe(HeartbeatMessage m) =>
        $"prio {m.Priority}{(m.Leaving ? " leaving" : "")} [{string.Join("; ", m.Groups.Select(g => $"{g.Group} {g.Role} e{g.Epoch} h{g.HighestEpoch}{(g.Eligible ? "" : " ineligible")}{(g.HandoffTo is null ? "" : $" ->{g.HandoffTo}")}{(g.FatalMark > g.FatalCleared ? $" fatal{g.FatalMark}" : "")}"))}]";

    private static string Describe(ClusterEvent e) => e switch
    {
        RoleChanged r => $"role {r.Group}: {r.From} -> {r.To} epoch {r.Epoch}{(r.Takeover is { } t ? $" ({t})" : "")}: {r.Why.Reason}",
        PeerHealthChanged p => $"peer {p.Peer}: {p.From} -> {p.To}",
        LinkHealthChanged l => $"link {l.Link} to {l.Peer}: {l.From} -> {l.To} ({l.Detail})",
        _ => e.ToString(),
    };
}
