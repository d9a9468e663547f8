using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;

namespace HaKit.Tests.Ownership;

/// <summary>
/// A deterministic, single-threaded harness for <see cref="OwnershipCore"/>: N cores on a virtual clock, a message
/// network with per-link cuts and delay, and a scripted runtime (persistence, arbiter, fencing, resource actions with
/// durations). Every run is a pure function of the script, so a failing test replays exactly.
/// </summary>
internal sealed class CoreCluster
{
    private readonly PriorityQueue<Action, (TimeSpan At, long Seq)> _queue = new();
    private readonly HashSet<(string From, string To, string Link)> _cuts = [];
    private long _seq;

    public CoreCluster(params string[] nodes)
    {
        NodeNames = nodes;
    }

    public IReadOnlyList<string> NodeNames { get; }

    public TimeSpan Now { get; private set; }

    public string[] Links { get; set; } = ["lan0", "lan1"];

    public TimingOptions Timing { get; } = new()
    {
        Interval = TimeSpan.FromMilliseconds(100),
        WarnTime = TimeSpan.FromMilliseconds(250),
        DeadTime = TimeSpan.FromMilliseconds(400),
        InitialDeadTime = TimeSpan.FromMilliseconds(1000),
    };

    public DetectorOptions Detector { get; } = new();

    public List<GroupConfig> Groups { get; } = [new("web", "a", false, TimeSpan.Zero, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(60))];

    public Dictionary<string, int> Priorities { get; } = [];

    public bool FencingConfigured { get; set; }

    /// <summary>What a crash hint may do in the cores (<see cref="CoreConfig.CrashHint"/>).</summary>
    public CrashHintPolicy CrashHint { get; set; } = CrashHintPolicy.Corroborate;

    public TimeSpan NetworkDelay { get; set; } = TimeSpan.FromMilliseconds(1);

    public TimeSpan ArbiterDelay { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>The cores' <c>ArbiterRetryInterval</c>.</summary>
    public TimeSpan ArbiterRetryInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan FenceDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    public TimeSpan StartDuration { get; set; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan StopDuration { get; set; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan MonitorDuration { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Arbiter policy: (node, request) → decision. Default: grant without expiry.</summary>
    public Func<string, ArbiterRequest, ArbiterDecision> Arbiter { get; set; } = (_, _) => ArbiterDecision.Grant("test arbiter");

    /// <summary>Fence policy: (fencer, target) → result. Default: success, and the target is powered off.</summary>
    public Func<string, string, FenceResult> Fence { get; set; } = (_, target) => new FenceResult(true, $"powered off {target}");

    public Func<string, string, ulong, GroupActionOutcome> StartOutcome { get; set; } = (_, _, _) => Ok;

    public Func<string, string, ulong, GroupActionOutcome> StopOutcome { get; set; } = (_, _, _) => Ok;

    public Func<string, string, ulong, GroupActionOutcome> MonitorOutcome { get; set; } = (_, _, _) => Ok;

    /// <summary>Makes the next PersistEpoch on a node fail.</summary>
    public HashSet<string> FailNextPersist { get; } = [];

    public static GroupActionOutcome Ok { get; } = new(GroupOutcome.Succeeded, ResourceFailureKind.None, null, null, 0);

    public Dictionary<string, SimNode> Nodes { get; } = new(StringComparer.Ordinal);

    /// <summary>Every event, with the node that raised it, in order.</summary>
    public List<(string Node, ClusterEvent Event)> Events { get; } = [];

    /// <summary>Every command executed, with its node and time, in order.</summary>
    public List<(TimeSpan At, string Node, CoreCommand Command)> Commands { get; } = [];

    /// <summary>Every instant at which two nodes ran a group's resources (start issued, stop not yet completed).</summary>
    public List<(TimeSpan At, string Group, string[] Nodes)> Overlaps { get; } = [];

    /// <summary>Every ReleaseArbiter the cores issued: (when, node, group).</summary>
    public List<(TimeSpan At, string Node, string Group)> Releases { get; } = [];

    public void Start()
    {
        foreach (var n in NodeNames)
        {
            Boot(n, new Dictionary<string, ulong>(StringComparer.Ordinal), 1);
        }
    }

    public void StartNode(string node) => Boot(node, new Dictionary<string, ulong>(StringComparer.Ordinal), 1);

    public SimNode this[string node] => Nodes[node];

    public GroupRole Role(string node, string group = "web") => Nodes[node].Core.GetRole(group);

    public ulong Epoch(string node, string group = "web") => Nodes[node].Core.GetEpoch(group);

    /// <summary>Nodes whose resources for the group are running (start issued, stop not completed).</summary>
    public string[] Running(string group = "web") => Nodes.Values.Where(n => n.Up && n.Running.ContainsKey(group)).Select(n => n.Name).OrderBy(n => n, StringComparer.Ordinal).ToArray();

    public string[] ActiveNodes(string group = "web") => Nodes.Values.Where(n => n.Up && n.Core.GetRole(group) == GroupRole.Active).Select(n => n.Name).OrderBy(n => n, StringComparer.Ordinal).ToArray();

    public void Cut(string from, string to, string? link = null)
    {
        foreach (var l in link is null ? Links : [link])
        {
            _cuts.Add((from, to, l));
        }
    }

    public void CutBoth(string a, string b, string? link = null)
    {
        Cut(a, b, link);
        Cut(b, a, link);
    }

    public void HealAll() => _cuts.Clear();

    /// <summary>The process dies (SIGKILL): no more ticks or messages; its resources die with it.</summary>
    public void Crash(string node)
    {
        var n = Nodes[node];
        n.Up = false;
        n.Generation++;
        n.Running.Clear();
    }

    /// <summary>A new process starts for the node: new incarnation, epochs from its durable state.</summary>
    public void Restart(string node)
    {
        var n = Nodes[node];
        if (n.Up)
        {
            Crash(node);
        }

        Boot(node, new Dictionary<string, ulong>(n.Persisted, StringComparer.Ordinal), n.Incarnation + 1);
    }

    /// <summary>
    /// A transport of <paramref name="node"/> reports that <paramref name="peer"/>'s process is gone (its stream on
    /// <paramref name="link"/> ended without goodbye, the reconnect was refused), and the runtime wakes the core when the hint is due.
    /// </summary>
    public void HintCrash(string node, string peer, string link)
    {
        var n = Nodes[node];
        n.Core.PeerProcessGone(Now, peer, link, $"connection reset on link {link}, reconnect refused");
        Drain(n);
        if (n.Core.CrashHintDueAt(peer) is { } due && due > Now)
        {
            Later(n, due - Now, () => n.Core.Tick(Now));
        }
    }

    /// <summary>Ticks a node's core now, as its loop does at a deadline it planned (<see cref="OwnershipCore.PeekNextDeadline"/>) between the harness's fixed-rate ticks.</summary>
    public void TickNow(string node)
    {
        var n = Nodes[node];
        n.Core.Tick(Now);
        Drain(n);
    }

    /// <summary>A node's datagram link reports the peer's port closed (an ICMP port unreachable answered a datagram sent to it).</summary>
    public void PortClosed(string node, string peer, string link)
    {
        var n = Nodes[node];
        n.Core.PeerPortClosed(Now, peer, link);
        Drain(n);
    }

    /// <summary>Tells a node's core that the arbiter saw a group become free (etcd: its key was deleted).</summary>
    public void ArbiterFreed(string node, string group = "web")
    {
        var n = Nodes[node];
        n.Core.OnArbiterFreed(Now, group);
        Drain(n);
    }

    public AdminResult Admin(string node, AdminCommand command)
    {
        var n = Nodes[node];
        var result = n.Core.Admin(Now, command);
        Drain(n);
        return result;
    }

    /// <summary>Runs the virtual clock forward.</summary>
    public void Run(TimeSpan duration)
    {
        var until = Now + duration;
        while (_queue.TryPeek(out _, out var key) && key.At <= until)
        {
            _queue.Dequeue().Invoke();
            Now = key.At > Now ? key.At : Now;
            CheckOverlap();
        }

        Now = until;
    }

    public void RunMs(double ms) => Run(TimeSpan.FromMilliseconds(ms));

    /// <summary>Runs until <paramref name="condition"/> holds (checked after every step) or <paramref name="limit"/> passes; returns the time it took.</summary>
    public TimeSpan? RunUntil(Func<bool> condition, TimeSpan limit)
    {
        var start = Now;
        var until = Now + limit;
        if (condition())
        {
            return TimeSpan.Zero;
        }

        while (_queue.TryPeek(out _, out var key) && key.At <= until)
        {
            Now = key.At > Now ? key.At : Now;
            _queue.Dequeue().Invoke();
            CheckOverlap();
            if (condition())
            {
                return Now - start;
            }
        }

        Now = until;
        return null;
    }

    public IEnumerable<T> EventsOf<T>(string? node = null)
        where T : ClusterEvent => Events.Where(e => node is null || e.Node == node).Select(e => e.Event).OfType<T>();

    private void Boot(string name, Dictionary<string, ulong> persisted, ulong incarnation)
    {
        var config = new CoreConfig
        {
            LocalNode = name,
            LocalPriority = Priorities.TryGetValue(name, out var p) ? p : 100,
            Peers = NodeNames.Where(n => n != name).Select(n => new PeerConfig(n, Priorities.TryGetValue(n, out var pp) ? pp : 100)).ToArray(),
            Links = Links,
            Groups = Groups,
            Interval = Timing.Interval,
            TickInterval = Timing.EffectiveTickInterval,
            LocalPauseThreshold = Timing.EffectiveLocalPauseThreshold,
            FencingConfigured = FencingConfigured,
            ArbiterRetryInterval = ArbiterRetryInterval,
            FenceRetryInterval = TimeSpan.FromMilliseconds(500),
            LeaseDriftMargin = TimeSpan.FromMilliseconds(100),
            CrashHint = CrashHint,
        };
        var node = Nodes.TryGetValue(name, out var existing) ? existing : new SimNode(name);
        node.Core = new OwnershipCore(config, new FailureDetectorFactory(Timing, Detector), persisted, Now);
        node.Persisted = persisted;
        node.Incarnation = incarnation;
        node.Up = true;
        node.Generation++;
        node.Running.Clear();
        node.Deadline = TimeSpan.MinValue;
        Nodes[name] = node;
        ScheduleTick(node, node.Generation, Now);
    }

    private void ScheduleTick(SimNode n, int generation, TimeSpan at) =>
        Schedule(at, () =>
        {
            if (!n.Up || n.Generation != generation)
            {
                return;
            }

            if (n.StallUntil > Now)
            {
                ScheduleTick(n, generation, n.StallUntil);
                return;
            }

            // The deadline audit: the event-driven loop sleeps until the core's next deadline, so a tick before it must find nothing
            // to do (a stall report is not a deadline). Every scenario of this harness checks it; the ticks stay at the fixed rate.
            var early = Now < n.Deadline;
            var before = Commands.Count;
            n.Core.Tick(Now);
            Drain(n);
            if (early && Commands.Skip(before).FirstOrDefault(c => c.Command is not EmitEvent { Event: LocalPauseDetected }) is { Command: { } acted })
            {
                throw new InvalidOperationException($"deadline audit: node {n.Name} reported its next deadline at {n.Deadline}, but a tick at {Now} did {acted}");
            }

            ScheduleTick(n, generation, Now + Timing.EffectiveTickInterval);
        });

    private void Schedule(TimeSpan at, Action action) => _queue.Enqueue(action, (at, _seq++));

    /// <summary>Runs <paramref name="action"/> against node <paramref name="n"/> later, if it is still the same process.</summary>
    private void Later(SimNode n, TimeSpan delay, Action action)
    {
        var generation = n.Generation;
        void Attempt()
        {
            if (!n.Up || n.Generation != generation)
            {
                return;
            }

            if (n.StallUntil > Now)
            {
                // A stalled process handles queued input only after the stall, and after its first late tick (the worst case).
                Schedule(n.StallUntil + TimeSpan.FromTicks(10), Attempt);
                return;
            }

            action();
            Drain(n);
        }

        Schedule(Now + delay, Attempt);
    }

    private void Drain(SimNode n)
    {
        while (n.Core.HasReady)
        {
            foreach (var c in n.Core.TakeReady())
            {
                Commands.Add((Now, n.Name, c));
                Execute(n, c);
            }
        }

        n.Deadline = n.Core.PeekNextDeadline();
    }

    private void Execute(SimNode n, CoreCommand command)
    {
        var done = command.AcceptAsync(new Executor(this, n), CancellationToken.None);
        if (!done.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException($"the harness completes every command synchronously ({command})");
        }

        done.GetAwaiter().GetResult();
    }

    /// <summary>The scripted runtime of one node: every command completes at once; results come back after the configured delays.</summary>
    private sealed class Executor(CoreCluster c, SimNode n) : ICoreCommandHandler
    {
        public ValueTask SendHeartbeatAsync(SendHeartbeat send, CancellationToken cancellationToken)
        {
            foreach (var peer in c.Nodes.Values.Where(p => p.Name != n.Name))
            {
                foreach (var link in c.Links)
                {
                    if (c._cuts.Contains((n.Name, peer.Name, link)))
                    {
                        continue;
                    }

                    var inc = n.Incarnation;
                    c.Later(peer, c.NetworkDelay, () => peer.Core.Receive(c.Now, n.Name, link, inc, send.Message));
                }
            }

            return default;
        }

        public ValueTask PersistEpochAsync(PersistEpoch persist, CancellationToken cancellationToken)
        {
            if (c.FailNextPersist.Remove(n.Name))
            {
                n.Core.OnEpochPersisted(c.Now, persist.Group, persist.Epoch, "disk full");
            }
            else
            {
                n.Persisted[persist.Group] = Math.Max(n.Persisted.GetValueOrDefault(persist.Group), persist.Epoch);
                n.Core.OnEpochPersisted(c.Now, persist.Group, persist.Epoch, null);
            }

            return default;
        }

        public ValueTask AskArbiterAsync(AskArbiter ask, CancellationToken cancellationToken)
        {
            c.Later(n, c.ArbiterDelay, () => n.Core.OnArbiterAnswer(c.Now, ask.RequestId, c.Arbiter(n.Name, ask.Request)));
            return default;
        }

        public ValueTask ReleaseArbiterAsync(ReleaseArbiter release, CancellationToken cancellationToken)
        {
            c.Releases.Add((c.Now, n.Name, release.Group));
            return default;
        }

        public ValueTask FenceNodeAsync(FenceNode fence, CancellationToken cancellationToken)
        {
            c.Later(n, c.FenceDelay, () =>
            {
                var result = c.Fence(n.Name, fence.Node);
                if (result.Succeeded && c.Nodes[fence.Node].Up)
                {
                    c.Crash(fence.Node);
                }

                n.Core.OnFenceCompleted(c.Now, fence.RequestId, result);
            });
            return default;
        }

        public ValueTask StartGroupAsync(StartGroup start, CancellationToken cancellationToken)
        {
            n.Running[start.Group] = start.Epoch;
            n.StartedEpochs.Add((start.Group, start.Epoch));
            c.Later(n, c.StartDuration, () =>
            {
                var outcome = c.StartOutcome(n.Name, start.Group, start.Epoch);
                if (outcome.Outcome == GroupOutcome.Failed)
                {
                    n.Running.Remove(start.Group);
                }

                n.Core.OnGroupStarted(c.Now, start.Group, start.Epoch, outcome);
            });
            return default;
        }

        public ValueTask StopGroupAsync(StopGroup stop, CancellationToken cancellationToken)
        {
            c.Later(n, c.StopDuration, () =>
            {
                var outcome = c.StopOutcome(n.Name, stop.Group, stop.Epoch);
                if (outcome.Outcome != GroupOutcome.Blocked)
                {
                    n.Running.Remove(stop.Group);
                }

                n.Core.OnGroupStopped(c.Now, stop.Group, stop.Epoch, outcome);
            });
            return default;
        }

        public ValueTask MonitorGroupAsync(MonitorGroup monitor, CancellationToken cancellationToken)
        {
            c.Later(n, c.MonitorDuration, () => n.Core.OnGroupMonitored(c.Now, monitor.Group, monitor.Epoch, c.MonitorOutcome(n.Name, monitor.Group, monitor.Epoch)));
            return default;
        }

        public ValueTask EmitEventAsync(EmitEvent e, CancellationToken cancellationToken)
        {
            c.Events.Add((n.Name, e.Event));
            return default;
        }
    }

    private void CheckOverlap()
    {
        foreach (var g in Groups)
        {
            var running = Running(g.Name);
            if (running.Length > 1 && (Overlaps.Count == 0 || Overlaps[^1].At != Now))
            {
                Overlaps.Add((Now, g.Name, running));
            }
        }
    }

    internal sealed class SimNode(string name)
    {
        public string Name { get; } = name;

        public OwnershipCore Core { get; set; } = null!;

        public bool Up { get; set; }

        public int Generation { get; set; }

        public ulong Incarnation { get; set; }

        public Dictionary<string, ulong> Persisted { get; set; } = new(StringComparer.Ordinal);

        public Dictionary<string, ulong> Running { get; } = new(StringComparer.Ordinal);

        public List<(string Group, ulong Epoch)> StartedEpochs { get; } = [];

        /// <summary>The core's next deadline after the last step (<see cref="OwnershipCore.PeekNextDeadline"/>), for the deadline audit.</summary>
        public TimeSpan Deadline { get; set; }

        /// <summary>While set in the future, the node's ticks are delayed (a GC pause or a stopped VM).</summary>
        public TimeSpan StallUntil { get; set; }
    }
}
