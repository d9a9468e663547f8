using System.Globalization;
using System.Runtime.CompilerServices;
using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.Wire;
using HaKit.Wire.Proto;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

/// <summary>
/// A deterministic, single-threaded simulation of a HaKit cluster: every node runs the real <see cref="OwnershipCore"/> and
/// failure detectors, heartbeats go through the real wire layer (signed envelopes, replay window, protobuf payloads; typed after
/// it for seven seeds in eight, see <see cref="WireDelivery"/>), resource
/// groups run the real <see cref="ResourceGroupMachine"/>, arbiter decisions come from the real <see cref="TwoNodeArbiter"/> and
/// fencing from the real fence coordinator. Time is virtual; one seeded <see cref="System.Random"/> draws every fault, delay and duration,
/// so a run is a pure function of its <see cref="SimulationOptions"/> and replays exactly from its seed.
/// </summary>
/// <remarks>
/// <para>The core's commands run through the node's own executor (the one <see cref="ClusterNode"/> runs) over virtual-time
/// ports: a persist writes the node's durable state to a simulated disk and feeds back at once (or fails); a start creates the
/// group's ownership token; a stop cancels it first and aborts a start or monitor in flight; fence levels are tried in order;
/// arbiter answers and action results are posted back later; one envelope per link.</para>
/// <para>After every step (one scheduled event) every <see cref="IInvariant"/> is checked.</para>
/// </remarks>
public sealed partial class Simulation : IDisposable
{
    // This file is the engine: the event queue and virtual clock, scheduling per node process, boot, tick and exit of a process,
    // and the drain of the core's commands into the node's executor (Simulation.Commands.cs: its ports). The rest, one concept per file:
    //   Simulation.Run.cs, Simulation.State.cs          the public run API and Dispose; what tests and invariants read
    //   Simulation.Network.cs, LinkCuts.cs               link cuts and partitions
    //   Simulation.Processes.cs, Simulation.Admin.cs     crash/restart/stall; operator commands and graceful shutdown
    //   ChaosSchedule.cs, OperatorActions.cs             the fault injector and the simulated operator
    //   Simulation.Faults.cs                             the end of the fault period
    //   Simulation.Draws.cs                              the seeded draws: chances, durations (edge-biased), clock rates
    //   Simulation.Arbiter.cs, SimulatedProbe.cs         arbiter commands; the two-node back-end
    //   Simulation.LeaseStore.cs, LeaseStoreView.cs      the lease store back-end
    //   Simulation.Witness.cs                            the witness back-end
    //   Simulation.Fencing.cs                            fencing
    //   ResourceDriver.cs, GroupRuntime.cs               resource groups
    //   Simulation.Wire.cs                               heartbeats on the links: codec, network faults, receive path
    //   ReplicationWorld.cs, SimulatedReplica*.cs        replication (SimulationOptions.Replication): disk, stream, driver
    //   Simulation.ReplicationMarks.cs                   replication: the outdated marks at the arbiter (etcd, witness)
    //   TraceFormat.cs                                   how trace lines are written
    private readonly EventQueue<ScheduledEvent> _queue = new();
    private readonly LinkCuts _cuts;
    // Per directed link (LinkCuts.Slot): packets captured for replays (byte[] or TypedPacket).
    private readonly List<object>?[] _captured;
    // Per (receiver index, sender index), receiver-major: the last heartbeat from the sender that reached the receiver's process.
    private readonly (TimeSpan At, HeartbeatMessage Message)?[] _lastHeard;
    private readonly List<SimulatedNode> _nodes = [];
    private readonly Dictionary<string, SimulatedNode> _byName = new(StringComparer.Ordinal);
    private readonly List<SimulationEvent> _stepEvents = [];
    private readonly List<TraceEntry> _trace = [];
    private readonly List<InvariantViolation> _violations = [];
    private readonly IInvariant[] _invariants;
    // Each invariant's Check as a delegate bound to its object: one call site calling a dozen types through the interface went
    // through the runtime's resolve stub at every step (about 5 % of a sweep).
    private readonly Func<Simulation, string?>[] _checks;
    private readonly string[] _nodeNames;
    private readonly string[] _links;
    private readonly string[] _groupNames;
    private readonly byte[] _payload;
    private readonly byte[] _send;
    private readonly FaultProfile _faults;
    private readonly ResourceDriver _resources;
    private readonly OperatorActions _operators;
    private readonly ChaosSchedule _chaos;
    private readonly InMemoryLeaseStore? _leaseStore;
    private readonly ReplicationWorld? _replication;
    private readonly SimulatedWitness? _witness;
    private TimeSpan _storeDownUntil;
    private long _seq;
    private int _stepThread;
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
        _stepThread = Environment.CurrentManagedThreadId;
        _faults = options.Faults;
        var cluster = options.Cluster;
        _nodeNames = cluster.Nodes.Select(n => n.Name).ToArray();
        _links = cluster.Links.Select(l => l.Name).ToArray();
        _groupNames = cluster.Groups.Select(g => g.Name).ToArray();
        _typedWire = options.Wire == WireDelivery.Typed || (options.Wire == WireDelivery.Sampled && !FullWireSeed(options.Seed));
        _payload = new byte[cluster.MaxPacketSize];
        _send = new byte[cluster.MaxPacketSize];
        for (var i = 0; i < _nodeNames.Length; i++)
        {
            var nodeOptions = SimulatedNode.OptionsFor(cluster, _nodeNames[i]);
            var errors = HaKitOptionsValidator.Validate(nodeOptions).ToList();
            if (errors.Count > 0)
            {
                throw new HaKitConfigurationException(errors);
            }

            var rate = DrawRate();
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
            _witness = new SimulatedWitness(cluster.Arbiter.Witness.Name, DrawRate());
        }

        _lastHeard = new (TimeSpan, HeartbeatMessage)?[_nodes.Count * _nodes.Count];
        _cuts = new LinkCuts(_nodes.Count, _links.Length);
        _captured = new List<object>?[_nodes.Count * _nodes.Count * _links.Length];
        FaultsEndAt = options.FaultDuration;
        Bounds = SimulationBounds.From(options);
        _invariants = [.. options.Invariants ?? Invariants.Default(options)];
        _checks = Array.ConvertAll(_invariants, i => (Func<Simulation, string?>)i.Check);
        _replication = options.Replication is { } replication ? new ReplicationWorld(this, replication, cluster) : null;
        _resources = new ResourceDriver(this);
        _operators = new OperatorActions(this);
        _chaos = new ChaosSchedule(this, _operators);
    }

    /// <summary>The scenario.</summary>
    public SimulationOptions Options { get; }

    /// <summary>The single seeded random source (use it for your own scheduled faults to stay replayable).</summary>
    public Random Random { get; }

    /// <summary>Global virtual time.</summary>
    public TimeSpan Now { get; private set; }

    /// <summary>Replication in the simulation (<see cref="SimulationOptions.Replication"/>); null when off.</summary>
    internal ReplicationWorld? Replication => _replication;

    /// <summary>Steps executed so far.</summary>
    public long Steps { get; private set; }

    // ------------------------------------------------------------------ engine

    private bool Stopped => Options.StopAtFirstViolation && _violations.Count > 0;

    private void RunUntil(TimeSpan until)
    {
        while (!Stopped && _queue.TryPeekAt(out var at) && at <= until.Ticks)
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

        var ev = _queue.Dequeue(out var at);
        if (at > Now.Ticks)
        {
            Now = TimeSpan.FromTicks(at); // the clock moves to the event (an event scheduled in the past runs now)
        }

        _stepEvents.Clear();
        Steps++;

        // The executor's continuations (an arbiter answer, a fence result) must run inline, on this thread, when the step completes
        // them: a synchronization context (a test framework's) would send them to the thread pool instead.
        var context = SynchronizationContext.Current;
        if (context is not null)
        {
            SynchronizationContext.SetSynchronizationContext(null);
        }

        _stepThread = Environment.CurrentManagedThreadId;
        try
        {
            RunEvent(ref ev);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _violations.Add(new InvariantViolation("no-exception", Now, $"{ex.GetType().Name}: {ex.Message}{Environment.NewLine}{ex.StackTrace}"));
            return;
        }
        finally
        {
            if (context is not null)
            {
                SynchronizationContext.SetSynchronizationContext(context);
            }
        }

        // Quiet: since the last check no command ran but heartbeat sends, nothing was observed but heartbeat deliveries, no disk
        // was written, and no core changed a group's role, epoch or highest epoch: no role, epoch, process, resource or persisted
        // epoch changed (a process starts or dies with an event; resources act only on commands and report every action as an
        // event; a witness voter's grant writes the disk outside any command). QuietStepTests checks the claim on whole runs.
        QuietStep = _changes == _changesAtLastCheck && _coreChanges.Value == _coreChangesAtLastCheck;
        CheckInvariants();
        _changesAtLastCheck = _changes;
        _coreChangesAtLastCheck = _coreChanges.Value;
    }

    /// <summary>Whether the step just executed changed none of the state invariants scan (nodes' roles, epochs and highest
    /// epochs, processes, resources, persisted epochs, operator state), since the previous check: an invariant whose verdict and
    /// bookkeeping depend only on that state and the step's events may skip its scan when its previous check found nothing (see
    /// <see cref="ResourcesNeverOverlapInvariant"/>). A heartbeat's send or delivery alone leaves a step quiet.</summary>
    internal bool QuietStep { get; private set; }

    /// <summary>Commands executed (but heartbeat sends), events observed (but heartbeat deliveries) and disk writes so far; a
    /// step is quiet when neither this nor the cores' shared change counter moved since the last check.</summary>
    private long _changes;
    private long _changesAtLastCheck = -1;
    // Shared by every node's core: changes of any group's role, epoch or highest epoch on any node (a process's start or death
    // is an observed event besides).
    private readonly GroupState.ChangeCounter _coreChanges = new();
    private long _coreChangesAtLastCheck = -1;

    private void CheckInvariants()
    {
        var checks = _checks;
        for (var i = 0; i < checks.Length; i++)
        {
            var message = checks[i](this);
            if (message is not null)
            {
                var v = new InvariantViolation(_invariants[i].Name, Now, message);
                _violations.Add(v);
                Record("-", "check", $"VIOLATION {v}");
                if (Options.StopAtFirstViolation)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Runs <paramref name="action"/> at global time <paramref name="at"/> (events at the same time run in the order
    /// they were scheduled); the step that runs it first moves the clock to <paramref name="at"/> when that is later than now.</summary>
    internal void ScheduleGlobal(TimeSpan at, Action action) => Enqueue(at, new ScheduledEvent(EventKind.Global, null, 0, action));

    private void Enqueue(TimeSpan at, in ScheduledEvent e) => _queue.Enqueue(at.Ticks, _seq++, e);

    /// <summary>Runs work for a node's current process after a global delay; dropped if the process died; deferred while it is stalled.</summary>
    internal void Later(SimulatedNode n, TimeSpan delay, Action action) =>
        Enqueue(Now + delay, new ScheduledEvent(EventKind.Process, n, n.Generation, action));

    internal void Post(SimulatedNode n, Action action) => Later(n, TimeSpan.Zero, action);

    internal void Boot(SimulatedNode n)
    {
        n.Generation++;
        n.IsUp = true;
        n.StalledUntil = TimeSpan.Zero;
        n.IsShuttingDown = false;
        n.ExitPending = false;
        n.InStandby = false;
        n.MaintenanceGroups.Clear();
        n.Clock = new SimulatedTimeProvider(() => Now, Now, n.Rate);
        n.TickEvery = n.Clock.ToGlobalDuration(n.Options.Timing.EffectiveTickInterval);
        // The node's durable state over its simulated disk: the incarnation is the stored one plus one, written at once.
        n.Store ??= new SimulatedStateStore(this, n);
        n.State = new DurableNodeState(n.Store, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        n.Store.Starting = true;
        n.State.Load(UnixEpochClock.Instance);
        n.Store.Starting = false;
        n.Incarnation = n.State.Incarnation;
        n.WireStats = new WireStats();
        n.Codec = new EnvelopeCodec(Options.Cluster.ClusterName, n.Name, _nodeNames, n.Incarnation, n.Keys, Options.Cluster.MaxPacketSize, n.WireStats);
        var agents = Options.FenceLevels.Select(l => (IFenceAgent)new SimulatedFenceAgent(this, n, l)).ToArray();
        n.Fencing = new FenceCoordinator(agents, Options.Cluster.Fencing.Timeout, n.Clock);
        n.Arbiter = _leaseStore is { } leaseStore
            ? new LeaseStoreArbiter(new LeaseStoreView(this, n, leaseStore), Options.Cluster.ClusterName, Options.Cluster.Arbiter.LeaseTtl, Options.Cluster.Arbiter.Etcd.KeyPrefix)
            : new TwoNodeArbiter(Options.PingTargets ? [new SimulatedProbe(this, n)] : []);
        n.Core = new OwnershipCore(CoreConfig.FromOptions(n.Options, agents.Length > 0), FailureDetectorFactory.FromOptions(n.Options), n.State.Epochs, TimeSpan.Zero, _coreChanges);
        n.Voter = _witness is null ? null : CreateVoter(n);
        StartWatch(n);
        _replication?.Boot(n);
        _resources.CreateGroups(n);
        n.Executor = CreateExecutor(n);

        ForgetHeard(n.Index);
        Observe(new NodeStarted(Now, n.Name, n.Incarnation));
        Record(n.Name, "fault", $"process starts, incarnation {n.Incarnation}, clock rate {n.Rate.ToString("0.0000", CultureInfo.InvariantCulture)}, persisted epochs {Describe(n.Persisted)}");
        ScheduleTick(n, n.Generation, Now);
        ScheduleReachability(n);
    }

    private void ScheduleTick(SimulatedNode n, int generation, TimeSpan at)
    {
        n.NextTickAt = at;
        Enqueue(at, new ScheduledEvent(EventKind.Tick, n, generation, null));
    }

    private void Tick(SimulatedNode n, int generation)
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
        ScheduleTick(n, generation, Now + n.TickEvery);
    }

    /// <summary>What a step runs: scheduled work without a closure per event for the frequent kinds (a tick, work of a process,
    /// a packet's delivery); a process's work is dropped if the process died and deferred while it is stalled.</summary>
    private void RunEvent(ref ScheduledEvent e)
    {
        switch (e.Kind)
        {
            case EventKind.Global:
                e.Action!();
                return;
            case EventKind.Tick:
                Tick(e.Node!, e.Generation);
                return;
        }

        var n = e.Node!;
        if (!n.IsUp || n.Generation != e.Generation)
        {
            return;
        }

        if (n.StalledUntil > Now)
        {
            Enqueue(n.StalledUntil, e);
            return;
        }

        if (e.Kind == EventKind.Deliver)
        {
            Receive(n, _nodes[e.Aux & 0xFF], (e.Aux >> 8) & 0xFF, e.Payload!, Notes[e.Aux >> 16]);
        }
        else
        {
            e.Action!();
        }

        Drain(n);
    }

    private enum EventKind : byte
    {
        /// <summary>Global work (a fault, the fault injector, a scripted action): <see cref="ScheduledEvent.Action"/>.</summary>
        Global,

        /// <summary>Work of a node's process (<see cref="Later"/>).</summary>
        Process,

        /// <summary>A tick of a node's core at its fixed rate.</summary>
        Tick,

        /// <summary>A packet arriving at a node's process (<see cref="ScheduledEvent.Payload"/>: its bytes, or the typed message; <see cref="ScheduledEvent.Aux"/>: sender, link and note).</summary>
        Deliver,
    }

    /// <summary>One entry of the event queue (a value: no closure per tick, per delivery or per process step).</summary>
    private readonly struct ScheduledEvent(EventKind kind, SimulatedNode? node, int generation, Action? action, object? payload = null, int aux = 0)
    {
        public readonly EventKind Kind = kind;
        public readonly int Generation = generation;
        public readonly int Aux = aux;
        public readonly SimulatedNode? Node = node;
        public readonly Action? Action = action;
        public readonly object? Payload = payload;
    }

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
        var batch = _batches.Count > 0 ? _batches.Pop() : new List<CoreCommand>();
        try
        {
            DrainCommands(n, batch);
        }
        finally
        {
            batch.Clear();
            _batches.Push(batch);
        }
    }

    /// <summary>Reusable batch lists (a stack: a command's execution may drain again).</summary>
    private readonly Stack<List<CoreCommand>> _batches = new();

    private void DrainCommands(SimulatedNode n, List<CoreCommand> batch)
    {
        var executed = 0;
        while (n.IsUp && n.Core.HasReady)
        {
            n.Core.TakeReadyInto(batch);
            var crashAt = _faultsOn && Chance(_faults.BatchCrash) ? Random.Next(batch.Count) : -1;
            for (var i = 0; i < batch.Count; i++)
            {
                var c = batch[i];
                if (!n.IsUp)
                {
                    return;
                }

                if (i == crashAt)
                {
                    CrashMidBatch(n, i, batch.Count);
                    return;
                }

                if (++executed > MaxCommandsPerStep)
                {
                    throw new InvalidOperationException($"livelock: node {n.Name}'s core issued more than {MaxCommandsPerStep} commands in one step without time advancing (last: {c})");
                }

                if (c is PersistEpoch persist)
                {
                    // The executor writes through DurableNodeState to the simulated disk; the trace names the command and its result.
                    n.Store!.InCommand = true;
                    n.Store.LastError = null;
                    Execute(n, c);
                    n.Store.InCommand = false;
                    Record(n.Name, "cmd", $"persist {persist.Group} epoch {persist.Epoch}: {n.Store.LastError ?? "ok"}");
                    continue;
                }

                Execute(n, c);
            }
        }
    }

    private const int MaxCommandsPerStep = 10_000;

    /// <summary>Runs one command through the node's executor; every port completes the call synchronously (results come later, as steps).</summary>
    private void Execute(SimulatedNode n, CoreCommand c)
    {
        if (c is not HaKit.Ownership.SendHeartbeat)
        {
            _changes++;
        }

        var done = c.AcceptAsync(n.Executor, CancellationToken.None);
        if (!done.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException($"the simulator's executor must complete every command synchronously (node {n.Name}, {c})");
        }

        done.GetAwaiter().GetResult();
    }

    /// <summary>The process is killed after <paramref name="executed"/> of the <paramref name="count"/> commands of a batch (what ran
    /// has happened: an epoch persisted, a request on its way; the rest never runs) and restarts after a restart delay.</summary>
    private void CrashMidBatch(SimulatedNode n, int executed, int count)
    {
        TakeDown(n, $"crash in the middle of a batch of commands ({executed} of {count} executed)");
        var generation = n.Generation;
        ScheduleGlobal(Now + Draw(_faults.RestartDelay), () =>
        {
            if (!n.IsUp && n.Generation == generation)
            {
                Boot(n);
            }
        });
    }

    // ------------------------------------------------------------------ helpers

    internal void Observe(SimulationEvent e)
    {
        if (e is not HeartbeatDelivered)
        {
            _changes++;
        }

        _stepEvents.Add(e);
    }

    /// <summary>Records a trace line whose text is formatted only when the trace is recorded.</summary>
    internal void Record(string node, string category, [InterpolatedStringHandlerArgument("")] ref TraceText text)
    {
        if (Options.RecordTrace)
        {
            _trace.Add(new TraceEntry(Now, node, category, text.ToStringAndClear()));
        }
    }

    internal void Record(string node, string category, string text)
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
            _lastHeard[PairSlot(index, other.Index)] = null;
        }
    }

    /// <summary>The index of (receiver, sender) in a dense per-pair array, receiver-major.</summary>
    private int PairSlot(int to, int from) => (to * _nodes.Count) + from;
}
