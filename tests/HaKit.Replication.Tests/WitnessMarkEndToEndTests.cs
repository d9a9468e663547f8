using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using HaKit.Arbitration;
using HaKit.Replication.Arbiter;
using HaKit.Resources;
using HaKit.State;
using HaKit.Transport;
using HaKit.Witness;

namespace HaKit.Replication.Tests;

/// <summary>
/// The outdated mark through a real witness, end to end: a real <see cref="WitnessServer"/> on loopback UDP, two real
/// <see cref="ClusterNode"/>s in Witness mode (heartbeats over an in-memory network; the witness over UDP) and two replicated logs
/// over the real gRPC transport, their marks through each node's own witness arbiter (<see cref="ClusterNode.OutdatedMarks"/>).
/// Real time, every wait bounded; directories deleted afterwards.
/// </summary>
[TestFixture]
[NonParallelizable]
[CancelAfter(90_000)]
public sealed class WitnessMarkEndToEndTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);
    private static readonly string Secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
    private readonly List<IAsyncDisposable> _open = [];
    private readonly Dictionary<string, ulong> _epochs = [];
    private string _root = "";
    private string _cluster = "";

    [SetUp]
    public void SetUp()
    {
        _root = Directory.CreateTempSubdirectory("hakit-repl-witness-").FullName;
        _cluster = "w" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant();
    }

    [TearDown]
    public async Task TearDown()
    {
        for (var i = _open.Count - 1; i >= 0; i--)
        {
            if (_open[i] is ClusterNode node)
            {
                await node.AbortAsync();
            }

            await _open[i].DisposeAsync();
        }

        _open.Clear();
        Directory.Delete(_root, recursive: true);
    }

    private static AuthOptions Auth() => new() { Keys = [new AuthKeyOptions { Id = 1, Secret = Secret }], SendKeyId = 1 };

    private async Task<WitnessServer> StartWitnessAsync()
    {
        var witness = new WitnessServer(new WitnessOptions
        {
            Listen = "127.0.0.1:0",
            MaxLeaseTtl = TimeSpan.FromSeconds(2),
            StateDirectory = Path.Combine(_root, "witness"),
            Clusters = [new WitnessClusterOptions { Name = _cluster, Nodes = ["a", "b"], Auth = Auth() }],
        });
        _open.Add(witness);
        await witness.StartAsync(CancellationToken.None);
        return witness;
    }

    private async Task<ClusterNode> StartNodeAsync(string name, InMemoryNetwork network, int witnessPort)
    {
        var options = new HaKitOptions
        {
            ClusterName = _cluster,
            NodeName = name,
            Nodes = new[] { "a", "b" }.Select((n, i) => new NodeOptions { Name = n, Priority = 100, Addresses = { ["lan0"] = $"127.0.0.1:{7600 + i}" } }).ToList(),
            Links = [new LinkOptions { Name = "lan0" }],
            Auth = Auth(),
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
                LeaseTtl = TimeSpan.FromSeconds(2),
                LeaseDriftMargin = TimeSpan.FromMilliseconds(300),
                RetryInterval = TimeSpan.FromMilliseconds(200),
                Witness = new WitnessArbiterOptions { Endpoint = $"127.0.0.1:{witnessPort}", RequestTimeout = TimeSpan.FromMilliseconds(200) },
            },
        };
        var running = false;
        var resource = new DelegateResource(
            "svc",
            (ctx, _) =>
            {
                lock (_epochs)
                {
                    _epochs[name] = ctx.Epoch;
                }

                running = true;
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (_, _) =>
            {
                running = false;
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (_, _) => ValueTask.FromResult(running ? MonitorResult.Running : MonitorResult.NotRunning()));
        var node = new ClusterNode(
            options,
            new Dictionary<string, IReadOnlyList<IResource>> { ["web"] = [resource] },
            new ClusterNodeServices { StateStore = new InMemoryStateStore(), Transports = [network.CreateTransport(name, "lan0")] });
        _open.Add(node);
        await node.StartAsync(CancellationToken.None);
        return node;
    }

    private async Task<ReplicatedKvStore> OpenAsync(string node, string peer, ClusterNode cluster)
    {
        var store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
        {
            Group = "web", Directory = Path.Combine(_root, node), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0,
            DegradeAfter = TimeSpan.FromMilliseconds(300),
            ArbiterMarks = new ArbiterMarkBinding(new WitnessOutdatedMarks(() => cluster.OutdatedMarks), node, peer),
        });
        _open.Add(store);
        return store;
    }

    private async Task ConnectAsync(ReplicatedLog log, string node, string peer, int port, int peerPort)
    {
        var transport = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = node, PeerId = peer, Listen = new IPEndPoint(IPAddress.Loopback, port), Peer = new IPEndPoint(IPAddress.Loopback, peerPort),
            ReconnectDelay = TimeSpan.FromMilliseconds(50),
        });
        transport.Attach(log);
        await transport.StartAsync(CancellationToken.None);
        _open.Add(transport);
    }

    [Test]
    public async Task The_owner_marks_its_peer_at_the_witness_before_acknowledging_alone_the_standby_is_refused_and_the_mark_clears_after_catch_up()
    {
        var witness = await StartWitnessAsync();
        var network = new InMemoryNetwork();
        var a = await StartNodeAsync("a", network, witness.LocalEndpoint!.Port);
        var b = await StartNodeAsync("b", network, witness.LocalEndpoint!.Port);
        await Wait.UntilAsync(() => a.GetStatus().Groups.Single(g => g.Group == "web").Role == GroupRole.Active, "a to own web (after the voters' quiet lease)");
        long epoch;
        lock (_epochs)
        {
            epoch = (long)_epochs["a"];
        }

        int portA = ReplicaTestBase.FreePort(), portB = ReplicaTestBase.FreePort();
        var storeA = await OpenAsync("a", "b", a);
        await ConnectAsync(storeA.Log, "a", "b", portA, portB);
        await storeA.Log.BecomeOwnerAsync(epoch, CancellationToken.None);

        // b's log is not there: after DegradeAfter a goes on alone, but only once the witness holds b's mark (on its disk).
        var put = await storeA.PutAsync("k", "v"u8.ToArray(), CancellationToken.None).WaitAsync(Bound);
        var mark = await b.OutdatedMarks!.GetOutdatedAsync("web", "b", CancellationToken.None);
        Assert.That(put, Is.EqualTo(new LogPosition(epoch, 1)));
        Assert.That(storeA.Log.Status.Degraded, Is.True);
        Assert.That(mark, Is.EqualTo(new OutdatedMark(epoch, 1, "a")), "at the witness once the write was acknowledged without b");
        Assert.That(File.ReadAllText(Path.Combine(_root, "witness", _cluster + ".marks")), Does.Contain($"mark web b {epoch} 1 a"), "on the witness's disk");

        // b never heard a degrade (no local mark), yet its start is refused: the witness says it is outdated.
        var storeB = await OpenAsync("b", "a", b);
        Assert.That(storeB.Log.Status.Outdated, Is.False);
        var refused = await new ReplicationResource(storeB.Log).StartAsync(new ResourceContext("web", "b", (ulong)epoch + 1, CancellationToken.None), CancellationToken.None);
        Assert.That(refused.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode), refused.Message);
        Assert.That(refused.Message, Does.Contain("marked outdated at witness").And.Contain($"epoch {epoch}"));

        // b connects and catches up: a clears the mark at the witness.
        await ConnectAsync(storeB.Log, "b", "a", portB, portA);
        await Wait.UntilAsync(() => storeB.TryGet("k", out _), "b to catch up");
        var watch = Stopwatch.StartNew();
        while (await b.OutdatedMarks.GetOutdatedAsync("web", "b", CancellationToken.None) is not null)
        {
            Assert.That(watch.Elapsed, Is.LessThan(Bound), "the mark to clear at the witness after the catch-up");
            await Task.Delay(50);
        }

        Assert.That(storeA.Log.Status.Degraded, Is.False);
        Assert.That(File.ReadAllText(Path.Combine(_root, "witness", _cluster + ".marks")), Does.Not.Contain("mark web b"));
    }
}
