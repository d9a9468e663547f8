using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.State;
using HaKit.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace HaKit.Witness.Tests;

/// <summary>
/// End to end: two real <see cref="ClusterNode"/>s in Witness mode and a real <see cref="WitnessServer"/> on loopback UDP. The
/// nodes heartbeat (and vote for each other) over an in-memory network so the tests can cut them apart; they reach the witness
/// over real UDP. Real time, short timings (interval 50 ms, dead time 300 ms, lease 2 s, drift margin 300 ms, retry 200 ms, vote
/// time-out 200 ms). Every wait is bounded; the witness's state directory is deleted afterwards.
/// </summary>
[TestFixture]
[NonParallelizable]
public class WitnessClusterNodeTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(300);
    private readonly List<ClusterNode> _nodes = [];
    private readonly ConcurrentQueue<string> _log = new();
    private readonly ConcurrentDictionary<(string Node, string Group), bool> _running = new();
    private readonly ConcurrentDictionary<(string Node, string Group), ulong> _epochs = new();
    private readonly ConcurrentDictionary<(string Node, string Group), TimeSpan> _startedAt = new();
    private readonly ConcurrentDictionary<(string Node, string Group), TimeSpan> _stoppedAt = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private InMemoryNetwork _network = null!;
    private WitnessServer? _witness;
    private string _stateDirectory = "";
    private string _cluster = "";
    private int _witnessPort;
    private TimeSpan _retryInterval = TimeSpan.FromMilliseconds(200);
    private FakeLogCollector _logs = new();

    private TimeSpan Now => _clock.Elapsed;

    [SetUp]
    public async Task SetUp()
    {
        _network = new InMemoryNetwork();
        _log.Clear();
        _running.Clear();
        _epochs.Clear();
        _startedAt.Clear();
        _stoppedAt.Clear();
        _witnessPort = 0;
        _retryInterval = TimeSpan.FromMilliseconds(200);
        _logs = new FakeLogCollector();
        _cluster = "w" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
        _stateDirectory = Path.Combine(Path.GetTempPath(), "hakit-witness-e2e-" + _cluster);
        await StartWitnessAsync();
    }

    [TearDown]
    public async Task TearDown()
    {
        foreach (var n in _nodes)
        {
            await n.AbortAsync(); // tear down as before: no handover (DisposeAsync alone would hand groups over)
            await n.DisposeAsync();
        }

        _nodes.Clear();
        if (_witness is not null)
        {
            await _witness.DisposeAsync();
        }

        if (Directory.Exists(_stateDirectory))
        {
            Directory.Delete(_stateDirectory, recursive: true);
        }

        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            TestContext.Out.WriteLine(string.Join("\n", _log));
        }
    }

    private async Task StartWitnessAsync()
    {
        _witness = new WitnessServer(new WitnessOptions
        {
            Listen = $"127.0.0.1:{_witnessPort}",
            MaxLeaseTtl = Ttl,
            StateDirectory = _stateDirectory,
            Clusters = [WitnessFixture.Cluster(_cluster, WitnessFixture.SecretOne, "a", "b")],
        });
        await _witness.StartAsync(CancellationToken.None);
        _witnessPort = _witness.LocalEndpoint!.Port;
        _log.Enqueue($"witness started on port {_witnessPort} at {Now.TotalMilliseconds:0} ms");
    }

    private async Task StopWitnessAsync()
    {
        await _witness!.DisposeAsync();
        _witness = null;
        _log.Enqueue($"witness stopped at {Now.TotalMilliseconds:0} ms");
    }

    private IResource Resource(string node, string group) => new DelegateResource(
        "svc",
        (ctx, _) =>
        {
            _log.Enqueue($"{node} start {group} epoch={ctx.Epoch} at {Now.TotalMilliseconds:0} ms");
            _epochs[(node, group)] = ctx.Epoch;
            _startedAt[(node, group)] = Now;
            _running[(node, group)] = true;
            return ValueTask.FromResult(ResourceResult.Success);
        },
        (ctx, _) =>
        {
            _log.Enqueue($"{node} stop {group} epoch={ctx.Epoch} at {Now.TotalMilliseconds:0} ms");
            _stoppedAt[(node, group)] = Now;
            _running[(node, group)] = false;
            return ValueTask.FromResult(ResourceResult.Success);
        },
        (_, _) => ValueTask.FromResult(_running.GetValueOrDefault((node, group)) ? MonitorResult.Running : MonitorResult.NotRunning()));

    private async Task<(ClusterNode A, ClusterNode B)> StartPairAsync()
    {
        var names = new[] { "a", "b" };
        foreach (var name in names)
        {
            var options = new HaKitOptions
            {
                ClusterName = _cluster,
                NodeName = name,
                Nodes = names.Select((n, i) => new NodeOptions { Name = n, Priority = 100, Addresses = { ["lan0"] = $"127.0.0.1:{7600 + i}" } }).ToList(),
                Links = [new LinkOptions { Name = "lan0" }],
                Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = WitnessFixture.SecretOne }], SendKeyId = 1 },
                Groups = [new GroupOptions { Name = "web", PreferredNode = "a", Resources = ["svc"], MonitorInterval = TimeSpan.FromMilliseconds(100) }],
                Timing = new TimingOptions
                {
                    Interval = TimeSpan.FromMilliseconds(50),
                    WarnTime = TimeSpan.FromMilliseconds(150),
                    DeadTime = TimeSpan.FromMilliseconds(300),
                    InitialDeadTime = TimeSpan.FromMilliseconds(600),
                },
                Arbiter = new ArbiterOptions
                {
                    Mode = ArbiterMode.Witness,
                    LeaseTtl = Ttl,
                    LeaseDriftMargin = Margin,
                    RetryInterval = _retryInterval,
                    Witness = new WitnessArbiterOptions { Endpoint = $"127.0.0.1:{_witnessPort}", RequestTimeout = TimeSpan.FromMilliseconds(200) },
                },
            };
            var node = new ClusterNode(
                options,
                new Dictionary<string, IReadOnlyList<IResource>> { ["web"] = [Resource(name, "web")] },
                new ClusterNodeServices
                {
                    StateStore = new InMemoryStateStore(),
                    Transports = [_network.CreateTransport(name, "lan0")],
                    LoggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Information).AddProvider(new FakeLoggerProvider(_logs))),
                });
            _nodes.Add(node);
            await node.StartAsync(CancellationToken.None);
        }

        var (a, b) = (_nodes[0], _nodes[1]);
        // Every voter is quiet for one lease after it starts: the first owner comes after that.
        await WaitFor(() => Active(a, "web"), Ttl + TimeSpan.FromSeconds(5), "a active");
        return (a, b);
    }

    private async Task WaitFor(Func<bool> condition, TimeSpan bound, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > bound)
            {
                Assert.Fail($"timed out after {bound.TotalSeconds} s waiting for: {what}\n{string.Join("\n", _log)}");
            }

            await Task.Delay(10);
        }
    }

    private static GroupStatusView Group(ClusterNode n, string group) => n.GetStatus().Groups.Single(g => g.Group == group);

    private static bool Active(ClusterNode n, string group) => Group(n, group).Role == GroupRole.Active;

    private static bool Owns(ClusterNode n, string group) => Group(n, group).Role is GroupRole.Active or GroupRole.Starting;

    [Test]
    public async Task The_owner_crashes_and_the_standby_takes_over_once_the_owners_lease_ran_out_with_a_higher_epoch()
    {
        var (a, b) = await StartPairAsync();
        var epochA = _epochs[("a", "web")];
        await Task.Delay(1000); // a few renewals

        var crash = Now;
        await a.AbortAsync(); // a crash: no release; its lease runs out at b's voter and at the witness
        await WaitFor(() => Active(b, "web"), Ttl + TimeSpan.FromSeconds(3), "b active");

        var takeover = _startedAt[("b", "web")] - crash;
        TestContext.Out.WriteLine($"Witness mode, lease {Ttl.TotalSeconds} s: takeover {takeover.TotalMilliseconds:0} ms after the owner crashed");
        Assert.That(_epochs[("b", "web")], Is.GreaterThan(epochA));
        Assert.That(takeover, Is.GreaterThan(Ttl / 3), "not before a's last renewal could have run out at b's voter");
        Assert.That(_witness!.ClusterStats[_cluster].Accepted, Is.GreaterThan(0), "the witness took part");
    }

    [Test]
    public async Task After_a_refusal_the_survivor_asks_again_when_the_voters_said_the_dead_owners_lease_ends_not_a_retry_interval_later()
    {
        _retryInterval = TimeSpan.FromSeconds(6); // three leases: without the hint b would wait this long after its first refusal
        var (a, b) = await StartPairAsync();
        await Task.Delay(700);

        var crash = Now;
        await a.AbortAsync();
        await WaitFor(() => Active(b, "web"), Ttl + TimeSpan.FromSeconds(2), "b active well before its 6 s retry interval");
        var takeover = _startedAt[("b", "web")] - crash;
        TestContext.Out.WriteLine($"Witness mode, retry interval 6 s: takeover {takeover.TotalMilliseconds:0} ms after the owner crashed");
        Assert.That(_log.Count(l => l.StartsWith("b start", StringComparison.Ordinal)), Is.EqualTo(1));
    }

    [Test]
    public async Task Cut_apart_the_pair_keeps_the_group_where_it_is_because_the_witness_votes_for_the_owner()
    {
        var (a, b) = await StartPairAsync();
        _network.CutBoth("a", "b");
        await WaitFor(() => b.GetStatus().Peers.Single().Health == HaKit.PeerHealth.Dead, TimeSpan.FromSeconds(3), "b sees a dead");

        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < (2 * Ttl) + TimeSpan.FromMilliseconds(500))
        {
            Assert.That(Owns(b, "web"), Is.False, "b is refused while a's lease holds at the witness");
            Assert.That(Active(a, "web"), Is.True, "a keeps serving: it renews with the witness");
            await Task.Delay(20);
        }

        Assert.That(_log.Count(l => l.StartsWith("b start", StringComparison.Ordinal)), Is.Zero);
        Assert.That(_log.Count(l => l.StartsWith("a stop", StringComparison.Ordinal)), Is.Zero);
    }

    [Test]
    public async Task A_witness_outage_does_not_disturb_a_healthy_pair()
    {
        var (a, b) = await StartPairAsync();
        var epoch = _epochs[("a", "web")];
        await StopWitnessAsync();

        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < 3 * Ttl)
        {
            Assert.That(Active(a, "web"), Is.True, "the pair alone is a majority");
            Assert.That(Owns(b, "web"), Is.False);
            await Task.Delay(20);
        }

        Assert.That(_epochs[("a", "web")], Is.EqualTo(epoch));
        Assert.That(_log.Count(l => l.StartsWith("a stop", StringComparison.Ordinal)), Is.Zero);
        Assert.That(_logs.GetSnapshot().Where(r => r.Id.Id == 2126).Select(r => r.Message), Has.Some.Contains("has not answered").And.Some.Contains("the pair alone is the majority"),
            "the operator is warned that the pair has no tie-breaker left");

        await StartWitnessAsync(); // on the same port
        await WaitFor(() => _logs.GetSnapshot().Any(r => r.Id.Id == 2127), TimeSpan.FromSeconds(5), "the nodes see the witness answer again");
    }

    [Test]
    public async Task Cut_from_its_peer_with_the_witness_down_the_owner_stops_on_its_lease_and_nobody_starts_until_the_witness_is_back()
    {
        var (a, b) = await StartPairAsync();
        var epochA = _epochs[("a", "web")];
        await StopWitnessAsync();
        var cut = Now;
        _network.CutBoth("a", "b");

        await WaitFor(() => !_running.GetValueOrDefault(("a", "web")), Ttl + TimeSpan.FromSeconds(1), "a stops its group");
        var servedFor = _stoppedAt[("a", "web")] - cut;
        TestContext.Out.WriteLine($"owner stopped {servedFor.TotalMilliseconds:0} ms after it lost its peer and the witness (lease {Ttl.TotalMilliseconds:0} ms, margin {Margin.TotalMilliseconds:0} ms)");
        Assert.That(servedFor, Is.LessThanOrEqualTo(Ttl - Margin + TimeSpan.FromMilliseconds(300)), "a stopped before its lease could have run out at a voter");

        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < Ttl)
        {
            Assert.That(Owns(a, "web") || Owns(b, "web"), Is.False, "nobody runs the group without a majority");
            await Task.Delay(20);
        }

        await StartWitnessAsync();
        await WaitFor(() => Active(a, "web") ^ Active(b, "web"), (2 * Ttl) + TimeSpan.FromSeconds(3), "one owner again once the witness is back (after its quiet lease)");
        var owner = Active(a, "web") ? "a" : "b";
        Assert.That(_epochs[(owner, "web")], Is.GreaterThan(epochA));
        Assert.That(Owns(a, "web") && Owns(b, "web"), Is.False);
    }

    [Test]
    public async Task A_switchover_does_not_wait_for_the_old_lease()
    {
        var (a, b) = await StartPairAsync();
        var asked = Now;
        var result = await a.ExecuteAsync(new SwitchoverCommand("web", "b"), CancellationToken.None);
        Assert.That(result.Accepted, Is.True, result.Message);
        await WaitFor(() => Active(b, "web"), Ttl, "b active");
        var took = _startedAt[("b", "web")] - asked;
        TestContext.Out.WriteLine($"switchover a -> b in Witness mode: {took.TotalMilliseconds:0} ms");
        Assert.That(took, Is.LessThan(Ttl / 2), "the target waited for the old lease instead of the release");
        Assert.That(_epochs[("b", "web")], Is.GreaterThan(_epochs[("a", "web")]));
    }

    [Test]
    public async Task HaKit_Replication_marks_the_peer_at_the_witness_before_acknowledging_alone_the_standby_is_refused_and_the_mark_clears_after_catch_up()
    {
        var (a, b) = await StartPairAsync();
        var epoch = (long)_epochs[("a", "web")];
        var root = Directory.CreateTempSubdirectory("hakit-witness-repl-").FullName;
        var open = new List<IAsyncDisposable>();
        try
        {
            int portA = FreePort(), portB = FreePort();
            Replication.ReplicationOptions Options(string node, string peer, ClusterNode cluster) => new()
            {
                Group = "web", Directory = Path.Combine(root, node), Mode = Replication.ReplicationMode.Durable, SnapshotEveryEntries = 0,
                DegradeAfter = TimeSpan.FromMilliseconds(300),
                ArbiterMarks = new Replication.Arbiter.ArbiterMarkBinding(new Replication.Arbiter.WitnessOutdatedMarks(() => cluster.OutdatedMarks), node, peer),
            };
            async Task<Replication.ReplicationTransport> ConnectAsync(Replication.ReplicatedLog log, string node, string peer, int port, int peerPort)
            {
                var transport = new Replication.ReplicationTransport(new Replication.ReplicationTransportOptions
                {
                    NodeId = node, PeerId = peer, Listen = new(System.Net.IPAddress.Loopback, port), Peer = new(System.Net.IPAddress.Loopback, peerPort),
                    ReconnectDelay = TimeSpan.FromMilliseconds(50),
                });
                transport.Attach(log);
                await transport.StartAsync(CancellationToken.None);
                open.Add(transport);
                return transport;
            }

            var storeA = await Replication.ReplicatedKvStore.OpenAsync(Options("a", "b", a));
            open.Add(storeA);
            await ConnectAsync(storeA.Log, "a", "b", portA, portB);
            await storeA.Log.BecomeOwnerAsync(epoch, CancellationToken.None);

            // b is not there: after DegradeAfter a goes on alone, but only once the witness holds b's mark.
            var put = await storeA.PutAsync("k", "v"u8.ToArray(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(15));
            var mark = await b.OutdatedMarks!.GetOutdatedAsync("web", "b", CancellationToken.None);
            Assert.That(put, Is.EqualTo(new Replication.LogPosition(epoch, 1)));
            Assert.That(storeA.Log.Status.Degraded, Is.True);
            Assert.That(mark, Is.EqualTo(new OutdatedMark(epoch, 1, "a")), "at the witness once the write was acknowledged without b");
            Assert.That(File.ReadAllText(Path.Combine(_stateDirectory, WitnessServer.MarksFileName(_cluster))), Does.Contain($"mark web b {epoch} 1 a"), "on the witness's disk");

            // b never heard a degrade (no local mark), yet its start is refused: the witness says it is outdated.
            var storeB = await Replication.ReplicatedKvStore.OpenAsync(Options("b", "a", b));
            open.Add(storeB);
            Assert.That(storeB.Log.Status.Outdated, Is.False);
            var refused = await new Replication.ReplicationResource(storeB.Log).StartAsync(new ResourceContext("web", "b", (ulong)epoch + 1, CancellationToken.None), CancellationToken.None);
            Assert.That(refused.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode), refused.Message);
            Assert.That(refused.Message, Does.Contain("marked outdated at witness").And.Contain($"epoch {epoch}"));

            // b connects and catches up: a clears the mark at the witness.
            await ConnectAsync(storeB.Log, "b", "a", portB, portA);
            await WaitFor(() => storeB.TryGet("k", out _), TimeSpan.FromSeconds(15), "b to catch up");
            var watch = Stopwatch.StartNew();
            while (await b.OutdatedMarks.GetOutdatedAsync("web", "b", CancellationToken.None) is not null)
            {
                Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(15)), "the mark to clear at the witness after the catch-up");
                await Task.Delay(50);
            }

            Assert.That(storeA.Log.Status.Degraded, Is.False);
        }
        finally
        {
            for (var i = open.Count - 1; i >= 0; i--)
            {
                await open[i].DisposeAsync();
            }

            Directory.Delete(root, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
