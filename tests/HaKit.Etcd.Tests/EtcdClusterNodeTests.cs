using System.Collections.Concurrent;
using System.Diagnostics;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Etcd.Tests.Harness;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.State;
using HaKit.Transport;

namespace HaKit.Etcd.Tests;

/// <summary>
/// End to end: real <see cref="ClusterNode"/>s in Etcd mode (each with its own <see cref="EtcdLeaseStore"/>) over one
/// real etcd, heartbeating over an in-memory network, on real time with short timings (interval 50 ms, dead time 300 ms,
/// lease 2 s, drift margin 300 ms, retry 200 ms, etcd request timeout 500 ms). Every wait is bounded.
/// </summary>
[TestFixture]
[NonParallelizable]
public class EtcdClusterNodeTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private readonly List<ClusterNode> _nodes = [];
    private readonly List<EtcdLeaseStore> _stores = [];
    private EtcdProcess _etcd = null!;
    private InMemoryNetwork _network = null!;
    private Recorder _rec = null!;
    private string _cluster = "";
    private TimeSpan _retryInterval = TimeSpan.FromMilliseconds(200);

    [SetUp]
    public async Task SetUp()
    {
        _etcd = await EtcdProcess.StartAsync();
        _network = new InMemoryNetwork();
        _rec = new Recorder();
        _cluster = "e2e" + Guid.NewGuid().ToString("N")[..8];
        _retryInterval = TimeSpan.FromMilliseconds(200);
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
        _stores.ForEach(s => s.Dispose());
        _stores.Clear();
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }

        if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
        {
            TestContext.Out.WriteLine(string.Join("\n", _rec.Log));
        }
    }

    private sealed class Recorder
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public ConcurrentQueue<string> Log { get; } = new();

        public ConcurrentDictionary<(string Node, string Group), bool> Running { get; } = new();

        public ConcurrentDictionary<(string Node, string Group), TimeSpan> StartedAt { get; } = new();

        public ConcurrentDictionary<(string Node, string Group), ulong> Epochs { get; } = new();

        public TimeSpan Now => _clock.Elapsed;

        public int Starts(string node, string group) => Log.Count(l => l.StartsWith($"{node} start {group} ", StringComparison.Ordinal));

        public int Stops(string node, string group) => Log.Count(l => l.StartsWith($"{node} stop {group} ", StringComparison.Ordinal));

        public IResource Resource(string node, string group) => new DelegateResource(
            "svc",
            (ctx, _) =>
            {
                Log.Enqueue($"{node} start {group} epoch={ctx.Epoch} at {Now.TotalMilliseconds:0} ms");
                Epochs[(node, group)] = ctx.Epoch;
                StartedAt[(node, group)] = Now;
                Running[(node, group)] = true;
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (ctx, _) =>
            {
                Log.Enqueue($"{node} stop {group} epoch={ctx.Epoch} at {Now.TotalMilliseconds:0} ms");
                Running[(node, group)] = false;
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (_, _) => ValueTask.FromResult(Running.GetValueOrDefault((node, group)) ? MonitorResult.Running : MonitorResult.NotRunning()));
    }

    private ClusterNode Node(string name, string[] all, params (string Group, string Preferred)[] groups)
    {
        var options = new HaKitOptions
        {
            ClusterName = _cluster,
            NodeName = name,
            Nodes = all.Select((n, i) => new NodeOptions { Name = n, Priority = 100, Addresses = { ["lan0"] = $"127.0.0.1:{7500 + i}" } }).ToList(),
            Links = [new LinkOptions { Name = "lan0" }],
            Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = Convert.ToBase64String(new byte[32]) }], SendKeyId = 1 },
            Groups = groups.Select(g => new GroupOptions { Name = g.Group, PreferredNode = g.Preferred, Resources = ["svc"], MonitorInterval = TimeSpan.FromMilliseconds(100) }).ToList(),
            Timing = new TimingOptions
            {
                Interval = TimeSpan.FromMilliseconds(50),
                WarnTime = TimeSpan.FromMilliseconds(150),
                DeadTime = TimeSpan.FromMilliseconds(300),
                InitialDeadTime = TimeSpan.FromMilliseconds(600),
            },
            Arbiter = new ArbiterOptions
            {
                Mode = ArbiterMode.Etcd,
                LeaseTtl = Ttl,
                LeaseDriftMargin = TimeSpan.FromMilliseconds(300),
                RetryInterval = _retryInterval,
                Etcd = new EtcdArbiterOptions { Endpoints = [_etcd.ClientUrl], RequestTimeout = TimeSpan.FromMilliseconds(500) },
            },
        };
        var store = new EtcdLeaseStore(options.Arbiter.Etcd);
        _stores.Add(store);
        var node = new ClusterNode(
            options,
            groups.ToDictionary(g => g.Group, g => (IReadOnlyList<IResource>)[_rec.Resource(name, g.Group)]),
            new ClusterNodeServices
            {
                LeaseStore = store,
                StateStore = new InMemoryStateStore(),
                Transports = [_network.CreateTransport(name, "lan0")],
            });
        _nodes.Add(node);
        return node;
    }

    private async Task<ClusterNode[]> Start(string[] names, params (string Group, string Preferred)[] groups)
    {
        var nodes = names.Select(n => Node(n, names, groups)).ToArray();
        foreach (var n in nodes)
        {
            await n.StartAsync(CancellationToken.None);
        }

        return nodes;
    }

    private async Task WaitFor(Func<bool> condition, TimeSpan bound, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!condition())
        {
            if (watch.Elapsed > bound)
            {
                Assert.Fail($"timed out after {bound.TotalSeconds} s waiting for: {what}\n{string.Join("\n", _rec.Log)}");
            }

            await Task.Delay(10);
        }
    }

    private static GroupStatusView Group(ClusterNode n, string group) => n.GetStatus().Groups.Single(g => g.Group == group);

    private static bool Active(ClusterNode n, string group) => Group(n, group).Role == GroupRole.Active;

    [Test]
    public async Task The_owner_crashes_and_the_standby_takes_over_once_the_lease_expired_with_a_higher_epoch()
    {
        var (a, b) = await Start(["a", "b"], ("web", "a")) switch { var n => (n[0], n[1]) };
        await WaitFor(() => Active(a, "web"), TimeSpan.FromSeconds(10), "a active");
        var epochA = _rec.Epochs[("a", "web")];
        var lease = await _stores[0].GetAsync($"/hakit/{_cluster}/groups/web", CancellationToken.None);
        Assert.That(lease!.Value, Is.EqualTo("a"));
        Assert.That(epochA, Is.EqualTo((ulong)lease.CreateRevision), "the epoch resources see is the key's create revision");
        await Task.Delay(1000); // a few renewals

        var crash = _rec.Now;
        await a.AbortAsync(); // a crash: no release, the key stays until its lease expires
        await WaitFor(() => Active(b, "web"), Ttl + TimeSpan.FromSeconds(2), "b active within ttl + 2 s");

        var takeover = _rec.StartedAt[("b", "web")] - crash;
        TestContext.Out.WriteLine($"takeover after the owner crashed (lease ttl {Ttl.TotalSeconds} s): {takeover.TotalMilliseconds:0} ms");
        Assert.That(_rec.Epochs[("b", "web")], Is.GreaterThan(epochA));
        Assert.That(takeover, Is.GreaterThan(TimeSpan.FromMilliseconds(300)), "not before a was dead");
        Assert.That((await _stores[1].GetAsync($"/hakit/{_cluster}/groups/web", CancellationToken.None))!.Value, Is.EqualTo("b"));
    }

    [Test]
    public async Task The_standby_asks_again_as_soon_as_the_dead_owners_key_is_gone_not_a_retry_interval_later()
    {
        _retryInterval = TimeSpan.FromSeconds(6); // longer than the lease: without the watch b would wait this long after its refusal
        var (a, b) = await Start(["a", "b"], ("web", "a")) switch { var n => (n[0], n[1]) };
        await WaitFor(() => Active(a, "web"), TimeSpan.FromSeconds(10), "a active");
        await Task.Delay(700);

        var refused = 0;
        b.EventRaised += (_, e) =>
        {
            if (e is TakeoverDelayed d && d.Reason.Contains("is held by node a", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref refused);
            }
        };
        var crash = _rec.Now;
        await a.AbortAsync();
        await WaitFor(() => Volatile.Read(ref refused) > 0, TimeSpan.FromSeconds(3), "b refused while a's key holds");
        // a's key goes with its lease (at most 2 s + etcd's 500 ms expiry scan); the watch then brings b's next attempt forward.
        await WaitFor(() => Active(b, "web"), Ttl + TimeSpan.FromSeconds(2), "b active well before its 6 s retry interval");
        TestContext.Out.WriteLine($"takeover with the watch (retry interval 6 s): {(_rec.StartedAt[("b", "web")] - crash).TotalMilliseconds:0} ms");
    }

    [Test]
    public async Task Cut_heartbeats_do_not_let_the_standby_start_while_the_owner_holds_its_lease()
    {
        var (a, b) = await Start(["a", "b"], ("web", "a")) switch { var n => (n[0], n[1]) };
        await WaitFor(() => Active(a, "web"), TimeSpan.FromSeconds(10), "a active");

        _network.CutBoth("a", "b");
        await WaitFor(() => b.GetStatus().Peers.Single().Health == HaKit.PeerHealth.Dead, TimeSpan.FromSeconds(3), "b sees a dead");
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < 2 * Ttl + TimeSpan.FromMilliseconds(500))
        {
            Assert.That(Group(b, "web").Role, Is.Not.EqualTo(GroupRole.Active).And.Not.EqualTo(GroupRole.Starting), "b is refused while a's lease is renewed");
            Assert.That(Active(a, "web"), Is.True, "a keeps serving: it renews its lease at etcd");
            await Task.Delay(20);
        }

        Assert.That(_rec.Starts("b", "web"), Is.Zero);
        Assert.That(_rec.Stops("a", "web"), Is.Zero);
        Assert.That(_rec.Starts("a", "web"), Is.EqualTo(1));
    }

    [Test]
    public async Task The_owner_stops_when_etcd_stops_and_a_node_owns_the_group_again_after_etcd_restarts()
    {
        var (a, b) = await Start(["a", "b"], ("web", "a")) switch { var n => (n[0], n[1]) };
        await WaitFor(() => Active(a, "web"), TimeSpan.FromSeconds(10), "a active");
        var epochA = _rec.Epochs[("a", "web")];
        await Task.Delay(500);

        await _etcd.StopAsync();
        var stopped = Stopwatch.StartNew();
        await WaitFor(() => !_rec.Running.GetValueOrDefault(("a", "web")), Ttl + TimeSpan.FromSeconds(1), "a stops its group within ttl + 1 s");
        TestContext.Out.WriteLine($"a stopped its group {stopped.Elapsed.TotalMilliseconds:0} ms after etcd stopped");
        // a keeps serving on its lease first: it stops at (last renewal sent) + ttl - margin, and renews every ttl / 3.
        Assert.That(stopped.Elapsed, Is.GreaterThan(Ttl - TimeSpan.FromMilliseconds(300) - (Ttl / 3) - TimeSpan.FromMilliseconds(300)));

        var outage = Stopwatch.StartNew();
        while (outage.Elapsed < TimeSpan.FromSeconds(2))
        {
            Assert.That(Active(a, "web") || Active(b, "web"), Is.False, "nobody runs the group without a lease");
            await Task.Delay(20);
        }

        Assert.That(_rec.Starts("b", "web"), Is.Zero);
        await _etcd.RestartAsync();
        await WaitFor(() => Active(a, "web") || Active(b, "web"), TimeSpan.FromSeconds(10), "a group owner again after etcd restarted");
        var owner = Active(a, "web") ? "a" : "b";
        Assert.That(_rec.Epochs[(owner, "web")], Is.GreaterThan(epochA));
        Assert.That(Active(a, "web") && Active(b, "web"), Is.False);
    }

    [Test]
    public async Task Three_nodes_two_groups_each_on_its_preferred_node_and_a_crash_moves_only_its_group()
    {
        var nodes = await Start(["a", "b", "c"], ("g1", "a"), ("g2", "b"));
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        await WaitFor(() => Active(a, "g1") && Active(b, "g2"), TimeSpan.FromSeconds(10), "g1 on a, g2 on b");
        await Task.Delay(500);
        Assert.That(nodes.Count(n => Active(n, "g1")), Is.EqualTo(1));
        Assert.That(nodes.Count(n => Active(n, "g2")), Is.EqualTo(1));
        var g2Epoch = _rec.Epochs[("b", "g2")];

        await a.AbortAsync();
        await WaitFor(() => Active(b, "g1") || Active(c, "g1"), Ttl + TimeSpan.FromSeconds(3), "g1 moves to b or c");
        await Task.Delay(500);

        Assert.That(new[] { b, c }.Count(n => Active(n, "g1")), Is.EqualTo(1), "exactly one node took g1");
        Assert.That(_rec.Starts("b", "g1") + _rec.Starts("c", "g1"), Is.EqualTo(1));
        Assert.That(Active(b, "g2"), Is.True, "g2 undisturbed");
        Assert.That(Active(c, "g2"), Is.False);
        Assert.That(_rec.Starts("b", "g2"), Is.EqualTo(1));
        Assert.That(_rec.Stops("b", "g2"), Is.Zero);
        Assert.That(_rec.Epochs[("b", "g2")], Is.EqualTo(g2Epoch));
    }
}
