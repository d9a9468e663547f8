using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.State;
using HaKit.Tests.Configuration;
using HaKit.Wire;

namespace HaKit.Tests.Runtime;

/// <summary>
/// Two real <see cref="ClusterNode"/>s in this process, heartbeating over real UDP sockets on 127.0.0.1 with short
/// timings. These tests assert behaviour (who runs what, in which order, with which epoch); every wait is bounded.
/// </summary>
[TestFixture]
[NonParallelizable]
public class ClusterNodeTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly List<ClusterNode> _nodes = [];
    private string _stateDir = "";

    [SetUp]
    public void SetUp() => _stateDir = Directory.CreateTempSubdirectory("hakit-node-test-").FullName;

    [TearDown]
    public async Task TearDown()
    {
        foreach (var n in _nodes)
        {
            await n.AbortAsync(); // tear down as before: no handover (DisposeAsync alone would hand groups over)
            await n.DisposeAsync();
        }

        _nodes.Clear();
        Directory.Delete(_stateDir, recursive: true);
    }

    internal static int[] FreeUdpPorts(int count)
    {
        var sockets = Enumerable.Range(0, count).Select(_ =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return s;
        }).ToList();
        var ports = sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToArray();
        sockets.ForEach(s => s.Dispose());
        return ports;
    }

    private static HaKitOptions Options(string node, int[] ports, string? stateDir)
    {
        var o = HaKitOptionsValidatorTests.Valid();
        o.NodeName = node;
        o.Nodes[0].Addresses["lan0"] = $"127.0.0.1:{ports[0]}";
        o.Nodes[1].Addresses["lan0"] = $"127.0.0.1:{ports[1]}";
        o.Links.Add(new LinkOptions { Name = "lan1" });
        o.Nodes[0].Addresses["lan1"] = $"127.0.0.1:{ports[2]}";
        o.Nodes[1].Addresses["lan1"] = $"127.0.0.1:{ports[3]}";
        o.Timing = new TimingOptions
        {
            Interval = TimeSpan.FromMilliseconds(50),
            WarnTime = TimeSpan.FromMilliseconds(150),
            DeadTime = TimeSpan.FromMilliseconds(300),
            InitialDeadTime = TimeSpan.FromMilliseconds(600),
        };
        o.Groups[0].MonitorInterval = TimeSpan.FromMilliseconds(100);
        o.StateDirectory = stateDir ?? "";
        return o;
    }

    private sealed class Recorder
    {
        public ConcurrentQueue<string> Log { get; } = new();

        public ConcurrentDictionary<string, CancellationToken> Tokens { get; } = new();

        public ConcurrentDictionary<string, bool> Running { get; } = new();

        public IResource Resource(string node) => new DelegateResource(
            "http",
            (ctx, _) =>
            {
                Log.Enqueue($"{node} start epoch={ctx.Epoch}");
                Tokens[node] = ctx.OwnershipToken;
                Running[node] = true;
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (ctx, _) =>
            {
                Log.Enqueue($"{node} stop epoch={ctx.Epoch} ownershipCancelled={ctx.OwnershipToken.IsCancellationRequested}");
                Running[node] = false;
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (_, _) => ValueTask.FromResult(Running.GetValueOrDefault(node) ? MonitorResult.Running : MonitorResult.NotRunning()));
    }

    private ClusterNode Node(string name, int[] ports, Recorder recorder, Action<HaKitOptions>? change = null, ClusterNodeServices? services = null)
    {
        var options = Options(name, ports, _stateDir);
        change?.Invoke(options);
        var node = new ClusterNode(options, new Dictionary<string, IReadOnlyList<IResource>> { ["web"] = [recorder.Resource(name)] }, services);
        _nodes.Add(node);
        return node;
    }

    /// <summary>Starts nodes a and b on fresh loopback ports, recording their resource actions.</summary>
    private async Task<(Recorder Rec, ClusterNode A, ClusterNode B)> StartPair()
    {
        var ports = FreeUdpPorts(4);
        var rec = new Recorder();
        var a = Node("a", ports, rec);
        var b = Node("b", ports, rec);
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        return (rec, a, b);
    }

    private static async Task WaitFor(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(Bound);
        while (!condition())
        {
            if (cts.IsCancellationRequested)
            {
                Assert.Fail($"timed out after {Bound.TotalSeconds} s waiting for: {what}");
            }

            await Task.Delay(10);
        }
    }

    private static GroupRole Role(ClusterNode n) => n.GetStatus().Groups.Single().Role;

    [Test]
    public async Task Two_nodes_elect_one_owner_and_the_other_takes_over_when_it_dies()
    {
        var ports = FreeUdpPorts(4);
        var rec = new Recorder();
        var a = Node("a", ports, rec);
        var b = Node("b", ports, rec);
        var events = new ConcurrentQueue<ClusterEvent>();
        b.EventRaised += (_, e) => events.Enqueue(e);
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);

        await WaitFor(() => Role(a) == GroupRole.Active, "a active");
        Assert.That(Role(b), Is.EqualTo(GroupRole.Standby));
        Assert.That(rec.Log, Does.Contain("a start epoch=1"));
        Assert.That(a.GetOwnershipToken("web").IsCancellationRequested, Is.False);
        Assert.That(b.GetOwnershipToken("web").IsCancellationRequested, Is.True, "a standby holds no ownership");

        await a.AbortAsync(); // a crash as far as b can tell: no handover
        await WaitFor(() => Role(b) == GroupRole.Active, "b takes over");

        Assert.That(rec.Log, Does.Contain("b start epoch=2"));
        var takeover = events.OfType<RoleChanged>().Last();
        Assert.That(takeover.To, Is.EqualTo(GroupRole.Active));
        Assert.That(takeover.Takeover, Is.EqualTo(TakeoverReason.Failover));
        Assert.That(takeover.Why.Peers.Single().Links.Select(l => l.Link), Is.EquivalentTo(new[] { "lan0", "lan1" }));
        Assert.That(events.OfType<PeerHealthChanged>().Last().To, Is.EqualTo(HaKit.PeerHealth.Dead));
        Assert.That(b.WireStats.Accepted, Is.GreaterThan(0));
        Assert.That(b.WireStats.TotalDropped, Is.Zero, "a healthy pair drops nothing");
    }

    [Test]
    public async Task A_resource_that_starts_synchronously_is_owned_during_its_start_at_election_and_at_takeover()
    {
        // A start that completes without awaiting runs inside the loop's step that made the group Starting: the clock-true
        // ownership view (IsOwned, EnsureOwned) must already say owned then, not only from the step's end.
        var ports = FreeUdpPorts(4);
        var seen = new ConcurrentQueue<string>();
        var contexts = new ConcurrentDictionary<string, ResourceContext>();
        IResource Resource(string node) => new DelegateResource(
            "http",
            (ctx, _) =>
            {
                seen.Enqueue($"{node} start epoch={ctx.Epoch} owned={ctx.IsOwned}");
                contexts[node] = ctx;
                ctx.EnsureOwned();
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (_, _) => ValueTask.FromResult(ResourceResult.Success),
            (_, _) => ValueTask.FromResult(MonitorResult.Running));
        ClusterNode NodeOf(string name)
        {
            var node = new ClusterNode(Options(name, ports, _stateDir), new Dictionary<string, IReadOnlyList<IResource>> { ["web"] = [Resource(name)] });
            _nodes.Add(node);
            return node;
        }

        var a = NodeOf("a");
        var b = NodeOf("b");
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        await WaitFor(() => Role(a) == GroupRole.Active, "a active");
        await Task.Delay(TimeSpan.FromMilliseconds(700)); // longer than the dead time (300 ms): the loop's later steps keep it owned
        var ownedLater = contexts["a"].IsOwned;
        await a.AbortAsync(); // a crash as far as b can tell
        await WaitFor(() => Role(b) == GroupRole.Active, "b takes over");

        Assert.That(seen, Is.EqualTo(new[] { "a start epoch=1 owned=True", "b start epoch=2 owned=True" }));
        Assert.That(ownedLater, Is.True, "the owner's ownership is renewed by every step, not only published once at the start");
    }

    [Test]
    public async Task Graceful_stop_hands_the_group_over_and_cancels_the_ownership_token_first()
    {
        var (rec, a, b) = await StartPair();
        await WaitFor(() => Role(a) == GroupRole.Active && rec.Tokens.ContainsKey("a"), "a active");
        var aToken = rec.Tokens["a"];

        using var cts = new CancellationTokenSource(Bound);
        await a.StopAsync(cts.Token);
        await WaitFor(() => Role(b) == GroupRole.Active, "b active after handover");

        Assert.That(aToken.IsCancellationRequested, Is.True);
        var log = rec.Log.ToList();
        var stopA = log.IndexOf("a stop epoch=1 ownershipCancelled=True");
        var startB = log.IndexOf("b start epoch=2");
        Assert.That(stopA, Is.GreaterThanOrEqualTo(0), string.Join("\n", log));
        Assert.That(startB, Is.GreaterThan(stopA), "b starts only after a stopped: never both");
        Assert.That(a.GroupsReleased.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public async Task Await_using_without_StopAsync_hands_the_group_over_instead_of_crashing()
    {
        var ports = FreeUdpPorts(4);
        var rec = new Recorder();
        var b = Node("b", ports, rec);
        var events = new ConcurrentQueue<ClusterEvent>();
        b.EventRaised += (_, e) => events.Enqueue(e);
        await using (var a = Node("a", ports, rec))
        {
            await a.StartAsync(CancellationToken.None);
            await b.StartAsync(CancellationToken.None);
            await WaitFor(() => Role(a) == GroupRole.Active && Role(b) == GroupRole.Standby, "a active, b standby");
        }

        // DisposeAsync returned: a stopped its resources (a crash would leave them running) after handing the group to b.
        Assert.That(rec.Log, Does.Contain("a stop epoch=1 ownershipCancelled=True"));
        await WaitFor(() => Role(b) == GroupRole.Active, "b active");
        var takeover = events.OfType<RoleChanged>().Last(r => r.To == GroupRole.Active);
        Assert.That(takeover.Takeover, Is.EqualTo(TakeoverReason.Handoff), "a graceful handover, not a failover after the dead time");
        Assert.That(events.OfType<PeerHealthChanged>().Where(p => p.To == HaKit.PeerHealth.Dead).Select(p => p.Observation.Leaving), Is.All.True, "b never timed a out");
        var log = rec.Log.ToList();
        Assert.That(log.IndexOf("b start epoch=2"), Is.GreaterThan(log.IndexOf("a stop epoch=1 ownershipCancelled=True")), "never both");
    }

    [Test]
    public async Task Epochs_survive_a_restart_in_the_state_file()
    {
        var ports = FreeUdpPorts(4);
        var rec = new Recorder();
        var a = Node("a", ports, rec);
        await a.StartAsync(CancellationToken.None);
        await WaitFor(() => Role(a) == GroupRole.Active, "a alone takes the group after initdead");
        var firstIncarnation = a.Incarnation;
        await a.AbortAsync();
        await a.DisposeAsync();
        _nodes.Remove(a);

        var stored = new FileStateStore(Path.Combine(_stateDir, "a.state")).Load();
        Assert.That(stored.Epochs["web"], Is.EqualTo(1UL));

        var again = Node("a", ports, rec);
        await again.StartAsync(CancellationToken.None);
        await WaitFor(() => Role(again) == GroupRole.Active, "restarted a takes the group again");

        Assert.That(again.Incarnation, Is.GreaterThan(firstIncarnation));
        Assert.That(rec.Log, Does.Contain("a start epoch=2"), "a restarted node never reuses epoch 1");
    }

    [Test]
    public async Task A_node_with_the_wrong_key_is_never_heard_and_its_packets_are_counted_as_bad_mac()
    {
        var ports = FreeUdpPorts(4);
        var rec = new Recorder();
        var a = Node("a", ports, rec);
        var intruder = Node("b", ports, rec, o => o.Auth.Keys[0].Secret = Convert.ToBase64String(Enumerable.Repeat((byte)7, 32).ToArray()));
        await a.StartAsync(CancellationToken.None);
        await intruder.StartAsync(CancellationToken.None);

        await WaitFor(() => a.WireStats.GetDropped(DropReason.BadMac) > 5, "bad-MAC drops counted");
        await WaitFor(() => Role(a) == GroupRole.Active, "a runs the group: b does not count");
        Assert.That(a.GetStatus().Peers.Single().Incarnation, Is.Zero, "b was never accepted");
        Assert.That(a.WireStats.Accepted, Is.Zero);
    }

    [Test]
    public async Task Metrics_count_heartbeats_and_record_the_takeover()
    {
        var measurements = new ConcurrentQueue<(string Name, double Value)>();
        var answers = new ConcurrentQueue<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == HaKitMetrics.MeterName)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            measurements.Enqueue((i.Name, v));
            if (i.Name == "hakit.arbiter.answers")
            {
                answers.Enqueue(string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")));
            }
        });
        listener.SetMeasurementEventCallback<double>((i, v, _, _) => measurements.Enqueue((i.Name, v)));
        listener.Start();

        var (rec, a, b) = await StartPair();
        await WaitFor(() => Role(a) == GroupRole.Active, "a active");
        await a.AbortAsync();
        await WaitFor(() => Role(b) == GroupRole.Active, "b active");
        await WaitFor(() => measurements.Any(m => m.Name == "hakit.failovers"), "failover counted");

        Assert.That(measurements.Count(m => m.Name == "hakit.heartbeats.sent"), Is.GreaterThan(4));
        Assert.That(measurements.Count(m => m.Name == "hakit.heartbeats.received"), Is.GreaterThan(4));
        Assert.That(measurements.Where(m => m.Name == "hakit.takeover.duration").Select(m => m.Value), Has.Some.GreaterThan(0));
        Assert.That(answers, Has.Some.EqualTo("group=web,reason=PeerDead,outcome=granted"), "the arbiter's answer to b's failover is counted");
    }

    [Test]
    public async Task A_switchover_on_the_owner_moves_the_group()
    {
        var (rec, a, b) = await StartPair();
        await WaitFor(() => Role(a) == GroupRole.Active && b.GetStatus().Groups.Single().Owner == "a", "a active and known to b");

        var refused = await b.ExecuteAsync(new SwitchoverCommand("web", "b"), CancellationToken.None);
        Assert.That(refused.Accepted, Is.False);
        var accepted = await a.ExecuteAsync(new SwitchoverCommand("web", "b"), CancellationToken.None);
        Assert.That(accepted.Accepted, Is.True, accepted.Message);
        await WaitFor(() => Role(b) == GroupRole.Active, "b active");
        Assert.That(Role(a), Is.EqualTo(GroupRole.Standby));
    }

    [Test]
    public async Task Logs_read_the_way_an_HA_admin_expects()
    {
        using var provider = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var factory = new Microsoft.Extensions.Logging.LoggerFactory([provider]);
        var ports = FreeUdpPorts(4);
        var rec = new Recorder();
        var a = Node("a", ports, rec);
        var b = Node("b", ports, rec, services: new ClusterNodeServices { LoggerFactory = factory });
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        await WaitFor(() => Role(a) == GroupRole.Active, "a active");
        await a.AbortAsync();
        await WaitFor(() => Role(b) == GroupRole.Active, "b active");
        await WaitFor(() => provider.Collector.GetSnapshot().Any(r => r.Message.Contains("takeover complete")), "takeover logged");

        var lines = provider.Collector.GetSnapshot().Select(r => r.Message).ToList();
        Assert.That(lines, Has.Some.Match(@"^node a is dead \(no heartbeat for \d+\.\d\d s on 2 links\)"));
        Assert.That(lines, Has.Some.Match(@"^group web: acquiring, epoch 2 \(failover: "));
        Assert.That(lines, Has.Some.Match(@"^group web: takeover complete in \d+ ms \(epoch 2, failover\)"));
        Assert.That(lines, Has.Some.Match(@"^link lan0 to node a is down"));
    }

    [Test]
    public async Task Warm_up_compiles_the_takeover_path_in_the_background_unless_turned_off()
    {
        using var provider = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var factory = new Microsoft.Extensions.Logging.LoggerFactory([provider]);
        var ports = FreeUdpPorts(4);
        var rec = new Recorder();
        var on = Node("a", ports, rec, services: new ClusterNodeServices { LoggerFactory = factory });
        await on.StartAsync(CancellationToken.None);
        await WaitFor(() => provider.Collector.GetSnapshot().Any(r => r.Message.StartsWith("warm-up:", StringComparison.Ordinal)), "warm-up logged");
        var line = provider.Collector.GetSnapshot().First(r => r.Message.StartsWith("warm-up:", StringComparison.Ordinal)).Message;
        var prepared = int.Parse(System.Text.RegularExpressions.Regex.Match(line, @"^warm-up: (\d+) methods").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(prepared, Is.GreaterThan(1000), line);

        using var offProvider = new Microsoft.Extensions.Logging.Testing.FakeLoggerProvider();
        using var offFactory = new Microsoft.Extensions.Logging.LoggerFactory([offProvider]);
        var off = Node("b", ports, rec, o => o.WarmUp = false, new ClusterNodeServices { LoggerFactory = offFactory });
        await off.StartAsync(CancellationToken.None);
        await WaitFor(() => offProvider.Collector.GetSnapshot().Any(r => r.Message.StartsWith("node b started", StringComparison.Ordinal)), "b started");
        await Task.Delay(500);
        Assert.That(offProvider.Collector.GetSnapshot().Select(r => r.Message), Has.None.StartsWith("warm-up:"));
    }

    [Test]
    public void Warm_up_prepares_methods_and_stops_when_cancelled()
    {
        var (prepared, failed) = JitWarmUp.Prepare([typeof(ClusterNode).Assembly], CancellationToken.None);
        Assert.That(prepared, Is.GreaterThan(1000));
        Assert.That(failed, Is.EqualTo(0));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => JitWarmUp.Prepare([typeof(ClusterNode).Assembly], cancelled.Token));
    }

    [Test]
    public void Invalid_configuration_fails_at_construction_naming_the_key()
    {
        var options = Options("a", [1, 2, 3, 4], _stateDir);
        options.Timing.DeadTime = TimeSpan.FromMilliseconds(60);
        var ex = Assert.Throws<HaKitConfigurationException>(() =>
            _ = new ClusterNode(options, new Dictionary<string, IReadOnlyList<IResource>>()))!;
        Assert.That(ex.Message, Does.Contain("HaKit:Timing:DeadTime = 00:00:00.0600000"));
        Assert.That(ex.Message, Does.Contain("HaKit:Groups:0:Resources = (none)"));
    }

    [Test]
    public async Task An_arbiter_that_throws_on_renewal_is_an_unknown_answer_the_owner_serves_until_its_lease_runs_out()
    {
        var ports = FreeUdpPorts(4);
        var rec = new Recorder();
        var arbiter = new ThrowingOnRenewal(TimeSpan.FromSeconds(3));
        var a = Node("a", ports, rec, o => o.Arbiter.LeaseDriftMargin = TimeSpan.FromMilliseconds(500), new ClusterNodeServices { Arbiter = arbiter });
        var events = new ConcurrentQueue<ClusterEvent>();
        a.EventRaised += (_, e) => events.Enqueue(e);
        await a.StartAsync(CancellationToken.None);

        await WaitFor(() => events.OfType<RoleChanged>().Any(e => e.From == GroupRole.Active), "a stops its group");
        var stop = events.OfType<RoleChanged>().First(e => e.From == GroupRole.Active);
        Assert.That(stop.Why.Reason, Does.Contain("lease expired before it was renewed"), "a refusal would have stopped the group at the first failed renewal");
        Assert.That(arbiter.Renewals, Is.GreaterThanOrEqualTo(2), "the renewal is retried while the answer is unknown");
    }

    /// <summary>Grants a lease on acquisition; throws on every renewal (a broken arbiter: the contract says never throw).</summary>
    private sealed class ThrowingOnRenewal(TimeSpan lease) : IArbiter
    {
        private int _renewals;

        public int Renewals => Volatile.Read(ref _renewals);

        public string Name => "throws-on-renewal";

        public ValueTask<ArbiterDecision> RequestAsync(ArbiterRequest request, CancellationToken cancellationToken)
        {
            if (request.Reason == AcquireReason.Renew)
            {
                Interlocked.Increment(ref _renewals);
                throw new InvalidOperationException("renewal broke");
            }

            return ValueTask.FromResult(new ArbiterDecision(true, "granted", lease));
        }

        public ValueTask ReleaseAsync(string group, string node, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
