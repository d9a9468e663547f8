using System.Text;
using HaKit.Replication.Arbiter;
using HaKit.Replication.Storage;
using HaKit.Resources;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Replication.Tests;

/// <summary>The outdated mark through the arbiter: on the core (acknowledgements wait for the arbiter), and on the log and
/// resource with an in-memory mark store that can be unreachable.</summary>
public sealed class ArbiterMarkTests
{
    private static readonly TimeSpan DegradeAfter = TimeSpan.FromSeconds(5);

    [Test]
    public void A_degraded_owner_acknowledges_alone_only_after_the_arbiter_holds_the_mark()
    {
        var pair = new CorePair(ReplicationMode.Durable);
        pair.A.Core.DegradeAfter = DegradeAfter;
        pair.A.Core.ArbiterMarks = true;
        pair.A.Core.BecomeOwner(1);
        pair.A.Append("x");
        pair.A.Step();
        pair.A.Core.Tick(TimeSpan.Zero);
        pair.A.Drain();
        pair.A.Core.Tick(DegradeAfter);
        pair.A.Drain();
        Assert.That(pair.A.Core.Degraded, Is.True);
        Assert.That(pair.A.Log, Is.EqualTo(new[] { "mark peer-outdated 1/1", "publish 1/1" }), "marked locally and asked to publish; nothing acknowledged");
        Assert.That(pair.A.AckedUpTo, Is.Zero);

        pair.A.Append("y");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.Zero, "still not published: nothing the peer lacks is acknowledged");

        pair.A.Core.MarkPublished(new LogPosition(1, 7));
        pair.A.Drain();
        Assert.That(pair.A.AckedUpTo, Is.Zero, "a stale confirmation (another position) does not open the gate");

        pair.A.Core.MarkPublished(new LogPosition(1, 1));
        pair.A.Drain();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(2), "published: both acknowledged");

        // The peer catches up: the mark clears locally and at the arbiter.
        pair.Connect();
        pair.Settle();
        Assert.That(pair.A.Log.TakeLast(2), Is.EqualTo(new[] { "mark peer-outdated 0/0", "publish 0/0" }));
        Assert.That(pair.A.Core.AwaitingArbiterMark, Is.False);
    }

    [Test]
    public void An_async_owner_waits_for_the_arbiter_before_acknowledging_what_a_disconnected_peer_lacks()
    {
        var pair = new CorePair(ReplicationMode.Async);
        pair.A.Core.ArbiterMarks = true;
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.A.Append("x");
        pair.Settle();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1));

        pair.Disconnect();
        pair.A.Append("y");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1), "y waits for the arbiter's mark");
        Assert.That(pair.A.Log.TakeLast(2), Is.EqualTo(new[] { "mark peer-outdated 1/2", "publish 1/2" }));
        pair.A.Core.MarkPublished(new LogPosition(1, 2));
        pair.A.Drain();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(2));
    }

    [Test]
    public void Without_an_arbiter_nothing_is_published_and_nothing_waits_for_it()
    {
        var pair = new CorePair(ReplicationMode.Async);
        pair.A.Core.BecomeOwner(1);
        pair.A.Append("x");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1));
        Assert.That(pair.A.Log.Any(l => l.StartsWith("publish", StringComparison.Ordinal)), Is.False);
    }

    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("hakit-repl-arbiter-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private ReplicationOptions Options(string node, string peer, FakeMarkStore store, ReplicationMode mode = ReplicationMode.Durable, TimeProvider? time = null) => new()
    {
        Group = "g", Directory = Path.Combine(_root, node), Mode = mode, SnapshotEveryEntries = 0, DegradeAfter = DegradeAfter,
        Time = time ?? TimeProvider.System, ArbiterMarks = new ArbiterMarkBinding(store, node, peer),
    };

    [Test]
    public async Task A_degraded_log_waits_while_the_arbiter_is_unreachable_and_acknowledges_once_it_holds_the_mark()
    {
        var time = new FakeTimeProvider();
        var store = new FakeMarkStore();
        await using var a = await ReplicatedKvStore.OpenAsync(Options("a", "b", store, time: time));
        await a.Log.BecomeOwnerAsync(1, CancellationToken.None);
        store.Unreachable = true;
        var put = a.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None);
        for (var i = 0; i < 100 && !a.Log.Status.Degraded; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(20);
        }

        Assert.That(a.Log.Status.Degraded, Is.True);
        Assert.That(OutdatedFile.Read(Path.Combine(_root, "a"), OutdatedFile.PeerOutdated), Is.EqualTo(new LogPosition(1, 1)), "the local mark first");
        for (var i = 0; i < 10; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }

        Assert.That(put.IsCompleted, Is.False, "the arbiter cannot be reached: the write is not acknowledged without the peer (it waits)");
        Assert.That(store.Attempts, Is.GreaterThan(1), "the publisher retries");

        store.Unreachable = false;
        for (var i = 0; i < 200 && !put.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(250));
            await Task.Delay(20);
        }

        Assert.That(put.IsCompleted, Is.True, "acknowledged once the arbiter holds the mark");
        await put;
        Assert.That(store.Marks["b"], Is.EqualTo(new LogPosition(1, 1)));
    }

    [Test]
    public async Task A_deposed_owner_cannot_mark_and_so_acknowledges_nothing_its_peer_lacks()
    {
        var time = new FakeTimeProvider();
        var store = new FakeMarkStore { Holder = "b" };
        await using var a = await ReplicatedKvStore.OpenAsync(Options("a", "b", store, time: time));
        await a.Log.BecomeOwnerAsync(1, CancellationToken.None);
        var put = a.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None);
        for (var i = 0; i < 60; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(10);
        }

        Assert.That(a.Log.Status.Degraded, Is.True);
        Assert.That(put.IsCompleted, Is.False, "the arbiter refused the mark (b holds the group): not acknowledged");
        Assert.That(store.Marks, Is.Empty);
        await a.Log.BecomeStandbyAsync(CancellationToken.None);
        await Assert.ThatAsync(async () => await put, Throws.InstanceOf<InvalidOperationException>(), "the waiting write fails when the node gives the group up");
    }

    [Test]
    public async Task A_standby_marked_at_the_arbiter_refuses_to_start_the_group_until_forced_and_the_forced_owner_clears_the_mark()
    {
        var store = new FakeMarkStore { Holder = "b" };
        store.Marks["b"] = new LogPosition(3, 120);
        await using var b = await ReplicatedKvStore.OpenAsync(Options("b", "a", store));
        Assert.That(b.Log.Status.Outdated, Is.False, "no local mark: this node never heard the owner degrade");
        var resource = new ReplicationResource(b.Log);
        var context = new ResourceContext("g", "b", 4, CancellationToken.None);

        var refused = await resource.StartAsync(context, CancellationToken.None);
        Assert.That(refused.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(refused.Message, Does.Contain("marked outdated at fake arbiter").And.Contain("index 120").And.Contain("--force"));
        Assert.That(b.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));

        ((IForcibleResource)resource).AllowForcedStart("hakit takeover g --force by operator alice");
        var forced = await resource.StartAsync(context, CancellationToken.None);
        Assert.That(forced.Kind, Is.EqualTo(ResourceFailureKind.None));
        Assert.That(b.Log.Status.Role, Is.EqualTo(ReplicaRole.Owner));
        Assert.That(store.Marks.ContainsKey("b"), Is.False, "the forced owner's history is the group's now: its mark is cleared at the arbiter");
    }

    [Test]
    public async Task A_standby_that_cannot_read_the_arbiter_fails_its_start_as_transient()
    {
        var store = new FakeMarkStore { Holder = "b", Unreachable = true };
        await using var b = await ReplicatedKvStore.OpenAsync(Options("b", "a", store));
        var result = await new ReplicationResource(b.Log).StartAsync(new ResourceContext("g", "b", 2, CancellationToken.None), CancellationToken.None);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(result.Message, Does.Contain("cannot be read"));
        Assert.That(b.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));

        store.Unreachable = false;
        var started = await new ReplicationResource(b.Log).StartAsync(new ResourceContext("g", "b", 2, CancellationToken.None), CancellationToken.None);
        Assert.That(started.Kind, Is.EqualTo(ResourceFailureKind.None), "no mark: it owns the group");
    }

    [Test]
    public async Task A_mark_older_than_the_history_this_node_holds_is_void()
    {
        var store = new FakeMarkStore { Holder = "b" };
        // b holds an entry of epoch 6 (it owned the group later than the epoch-3 owner that marked it).
        await using (var owner = await ReplicatedKvStore.OpenAsync(Options("b", "a", new FakeMarkStore { Holder = "b" }, ReplicationMode.Async)))
        {
            await owner.Log.BecomeOwnerAsync(6, CancellationToken.None);
            await owner.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None);
        }

        store.Marks["b"] = new LogPosition(3, 120);
        await using var b = await ReplicatedKvStore.OpenAsync(Options("b", "a", store));
        var result = await new ReplicationResource(b.Log).StartAsync(new ResourceContext("g", "b", 7, CancellationToken.None), CancellationToken.None);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.None), result.Message);
        Assert.That(store.Marks.ContainsKey("b"), Is.False, "the void mark is cleared");
    }

    [Test]
    public async Task In_Witness_mode_the_marks_go_through_the_nodes_witness_arbiter_and_without_one_the_store_cannot_hold_marks()
    {
        var host = new ReplicationHostOptions { Addresses = { ["a"] = "127.0.0.1:7511", ["b"] = "127.0.0.1:7512" } };
        var node = new HaKitOptions { ClusterName = "prod", NodeName = "a" };
        node.Arbiter.Mode = ArbiterMode.Witness;
        using var services = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(new Microsoft.Extensions.DependencyInjection.ServiceCollection());

        var binding = ReplicationHostSetup.ArbiterMarks(host, node, services);

        Assert.That(binding?.Store, Is.InstanceOf<WitnessOutdatedMarks>(), "Witness mode: the marks go through the witness");
        Assert.That((binding!.Node, binding.Peer), Is.EqualTo(("a", "b")));
        await Assert.ThatAsync(async () => await binding.Store.GetAsync("kv", "a", CancellationToken.None), Throws.InstanceOf<NotSupportedException>(),
            "no ClusterNode with a witness arbiter: treated as an arbiter without marks (event 7017), never as unreachable");
    }

    /// <summary>An arbiter in memory: <see cref="Holder"/> holds the group; <see cref="Unreachable"/> makes every call fail.</summary>
    private sealed class FakeMarkStore : IOutdatedMarkStore
    {
        private int _attempts;

        public Dictionary<string, LogPosition> Marks { get; } = [];

        public volatile string Holder = "a";

        public volatile bool Unreachable;

        public int Attempts => Volatile.Read(ref _attempts);

        public string Name => "fake arbiter";

        public ValueTask<bool> SetAsync(string group, string node, LogPosition at, CancellationToken cancellationToken)
        {
            Check();
            lock (Marks)
            {
                if (Holder != (node == "b" ? "a" : "b"))
                {
                    return ValueTask.FromResult(false);
                }

                Marks[node] = at;
                return ValueTask.FromResult(true);
            }
        }

        public ValueTask<bool> ClearAsync(string group, string node, CancellationToken cancellationToken)
        {
            Check();
            lock (Marks)
            {
                Marks.Remove(node);
                return ValueTask.FromResult(true);
            }
        }

        public ValueTask<ArbiterOutdatedMark?> GetAsync(string group, string node, CancellationToken cancellationToken)
        {
            Check();
            lock (Marks)
            {
                return ValueTask.FromResult(Marks.TryGetValue(node, out var at) ? new ArbiterOutdatedMark(at, "a") : null);
            }
        }

        private void Check()
        {
            Interlocked.Increment(ref _attempts);
            if (Unreachable)
            {
                throw new OutdatedMarkStoreUnavailableException("fake arbiter unreachable", null);
            }
        }
    }
}
