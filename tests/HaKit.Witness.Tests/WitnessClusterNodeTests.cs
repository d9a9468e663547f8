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
    public async Task A_witness_of_an_earlier_release_cannot_hold_outdated_marks_and_the_node_says_so_instead_of_waiting()
    {
        // An "old" witness: grants votes with replies that do not offer marks, and drops mark requests (an unknown body).
        await StopWitnessAsync();
        using var keys = new HaKit.Wire.AuthKeyRing(new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = WitnessFixture.SecretOne }], SendKeyId = 1 });
        var codec = new HaKit.Wire.EnvelopeCodec(_cluster, "witness", ["a", "b", "witness"], 1, keys, 1400, new HaKit.Wire.WireStats());
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        _witnessPort = ((System.Net.IPEndPoint)socket.LocalEndPoint!).Port;
        using var stop = new CancellationTokenSource();
        var markRequests = 0;
        var oldWitness = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            var reply = new byte[1400];
            while (!stop.IsCancellationRequested)
            {
                System.Net.Sockets.SocketReceiveFromResult r;
                try
                {
                    r = await socket.ReceiveFromAsync(buffer, System.Net.Sockets.SocketFlags.None, new System.Net.IPEndPoint(System.Net.IPAddress.Any, 0), stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                if (!codec.TryOpen(buffer.AsSpan(0, r.ReceivedBytes), out var envelope, out _))
                {
                    continue;
                }

                var message = HaKit.Wire.Proto.ClusterMessage.Parser.ParseFrom(envelope.Payload);
                if (message.BodyCase == HaKit.Wire.Proto.ClusterMessage.BodyOneofCase.OutdatedMarkRequest)
                {
                    Interlocked.Increment(ref markRequests);
                }

                if (message.BodyCase != HaKit.Wire.Proto.ClusterMessage.BodyOneofCase.VoteRequest)
                {
                    continue;
                }

                var q = message.VoteRequest;
                var answer = new HaKit.Wire.Proto.ClusterMessage { VoteReply = new HaKit.Wire.Proto.VoteReply { RequestId = q.RequestId, Group = q.Group, Granted = true, HighestEpoch = q.Epoch, To = envelope.Sender } };
                var length = codec.Encode(Google.Protobuf.MessageExtensions.ToByteArray(answer), reply);
                await socket.SendToAsync(reply.AsMemory(0, length), System.Net.Sockets.SocketFlags.None, r.RemoteEndPoint, stop.Token);
            }
        });
        try
        {
            var (a, _) = await StartPairAsync();

            var ex = await Assert.CatchAsync(async () => await a.OutdatedMarks!.SetOutdatedAsync("web", "b", 1, 1, CancellationToken.None));

            Assert.That(ex, Is.InstanceOf<NotSupportedException>(), "the old witness's vote replies do not offer marks: unsupported, not unreachable");
            Assert.That(ex!.Message, Does.Contain("does not hold outdated marks"));
            Assert.That(markRequests, Is.Zero, "nothing is sent to a witness known not to hold marks");
        }
        finally
        {
            await stop.CancelAsync();
            await oldWitness;
        }
    }
}
