using System.Text;

namespace HaKit.Replication.Tests;

public sealed class ReplicatedLogTests
{
    private string _root = "";
    private readonly List<IAsyncDisposable> _open = [];

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("hakit-repl-log-").FullName;

    [TearDown]
    public async Task TearDown()
    {
        foreach (var item in _open)
        {
            await item.DisposeAsync();
        }

        _open.Clear();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<ReplicatedKvStore> OpenAsync(string node, ReplicationMode mode = ReplicationMode.Durable, Action<DivergedEntries>? onDiverged = null, long snapshotEvery = 0)
    {
        var store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
        {
            Group = "g",
            Directory = Path.Combine(_root, node),
            Mode = mode,
            SnapshotEveryEntries = snapshotEvery,
            OnDiverged = onDiverged,
        });
        _open.Add(store);
        return store;
    }

    private async Task CloseAsync(ReplicatedKvStore store)
    {
        _open.Remove(store);
        await store.DisposeAsync();
    }

    private static byte[] V(string s) => Encoding.UTF8.GetBytes(s);

    private static string? Get(ReplicatedKvStore store, string key) => store.TryGet(key, out var v) ? Encoding.UTF8.GetString(v) : null;

    private static readonly CancellationToken Bound = new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    [Test]
    public async Task A_durable_put_is_acknowledged_with_its_position_and_applied_on_the_standby()
    {
        var a = await OpenAsync("a");
        var b = await OpenAsync("b");
        new MemoryLink(a.Log, b.Log).Connect();
        await a.Log.BecomeOwnerAsync(3, Bound);
        var position = await a.PutAsync("k", V("v1"), Bound);
        Assert.That(position, Is.EqualTo(new LogPosition(3, 1)));
        Assert.That(a.Log.Status.PeerDurable, Is.GreaterThanOrEqualTo(1), "Durable: the peer wrote it before the acknowledgement");
        Assert.That(Get(a, "k"), Is.EqualTo("v1"));
        await Wait.UntilAsync(() => Get(b, "k") == "v1", "the standby to apply the put");
        Assert.That(b.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
        Assert.That(b.Log.Status.Epoch, Is.EqualTo(3));
    }

    /// <summary>A state machine whose snapshot takes a while to write (a foreground snapshot runs on the log's loop).</summary>
    private sealed class SlowSnapshot : IReplicatedStateMachine
    {
        public void Apply(in LogEntry entry)
        {
        }

        public ValueTask WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken)
        {
            Thread.Sleep(30);
            return ValueTask.CompletedTask;
        }

        public ValueTask RestoreSnapshotAsync(Stream source, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    [Test]
    public async Task The_status_read_after_an_append_returns_already_counts_that_append()
    {
        // The append's completion runs on the thread pool, off the log's loop. The status was rebuilt only at the end of the
        // loop's step, after the snapshot this step also takes, so a writer read a status from before its own acknowledged
        // append (a CI run saw PeerDurable 0 right after a Durable put returned).
        async Task<ReplicatedLog> OpenAsync(string node)
        {
            var log = await ReplicatedLog.OpenAsync(new ReplicationOptions
            {
                Group = "g", Directory = Path.Combine(_root, node), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 1,
            }, new SlowSnapshot());
            _open.Add(log);
            return log;
        }

        var a = await OpenAsync("a");
        var b = await OpenAsync("b");
        new MemoryLink(a, b).Connect();
        await a.BecomeOwnerAsync(1, Bound);
        for (var i = 1; i <= 5; i++)
        {
            var position = await a.AppendAsync(V($"e{i}"), Bound);
            var status = a.Status;
            Assert.That((status.Acknowledged, status.PeerDurable), Is.EqualTo((position.Index, position.Index)), $"append {i}");
        }
    }

    [Test]
    public async Task A_durable_put_waits_while_the_peer_is_away_and_completes_when_it_catches_up()
    {
        var a = await OpenAsync("a");
        var b = await OpenAsync("b");
        var link = new MemoryLink(a.Log, b.Log);
        await a.Log.BecomeOwnerAsync(1, Bound);
        var put = a.PutAsync("k", V("v"), Bound);
        await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
        Assert.That(put.IsCompleted, Is.False, "Durable needs the peer's disk");
        link.Connect();
        Assert.That(await put.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(new LogPosition(1, 1)));
    }

    [Test]
    public async Task An_async_put_completes_without_the_peer()
    {
        var a = await OpenAsync("a", ReplicationMode.Async);
        await a.Log.BecomeOwnerAsync(1, Bound);
        var position = await a.PutAsync("k", V("v"), Bound).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(position.Index, Is.EqualTo(1));
        Assert.That(a.Log.Status.LagEntries, Is.EqualTo(1), "the lag is visible");
    }

    /// <summary>A state machine whose Apply takes a while (as a host's may), recording how many entries it applied.</summary>
    private sealed class SlowApply : IReplicatedStateMachine
    {
        private long _applied;

        public long Applied => Interlocked.Read(ref _applied);

        public void Apply(in LogEntry entry)
        {
            Thread.Sleep(50);
            Interlocked.Increment(ref _applied);
        }

        public ValueTask WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask RestoreSnapshotAsync(Stream source, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    [Test]
    public async Task An_acknowledged_append_is_applied_before_its_task_completes()
    {
        // Read-your-writes: the owner applies an entry before it completes the append. The completions run off the log's loop,
        // so with the acknowledgement executed before the apply, each append here completed while its Apply still slept.
        var state = new SlowApply();
        var log = await ReplicatedLog.OpenAsync(new ReplicationOptions { Group = "g", Directory = Path.Combine(_root, "a"), Mode = ReplicationMode.Async, SnapshotEveryEntries = 0 }, state);
        _open.Add(log);
        await log.BecomeOwnerAsync(1, Bound);
        for (var i = 1; i <= 3; i++)
        {
            var position = await log.AppendAsync(V($"e{i}"), Bound);
            Assert.That(state.Applied, Is.GreaterThanOrEqualTo(position.Index), $"entry {i} applied when its append completed");
        }
    }

    [Test]
    public async Task Pooled_appends_complete_in_order_with_their_positions_and_reuse_their_completions()
    {
        var a = await OpenAsync("a", ReplicationMode.Received);
        var b = await OpenAsync("b", ReplicationMode.Received);
        new MemoryLink(a.Log, b.Log).Connect();
        await a.Log.BecomeOwnerAsync(2, Bound);

        // A put in ReplicatedKvStore's entry format: op 1, key length (u16 LE), key, value.
        static byte[] Put(string key, string value) => [1, (byte)key.Length, 0, .. Encoding.UTF8.GetBytes(key), .. Encoding.UTF8.GetBytes(value)];

        // 8 writers, each awaiting its append before the next: 400 appends through at most 8 completion objects at a time.
        var positions = new List<LogPosition>[8];
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async w =>
        {
            positions[w] = [];
            for (var i = 0; i < 50; i++)
            {
                positions[w].Add(await a.Log.AppendPooledAsync(Put($"w{w}", $"{i}"), CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            }
        }));

        var all = positions.SelectMany(p => p).ToList();
        Assert.That(all.Select(p => p.Index).Order(), Is.EqualTo(Enumerable.Range(1, 400).Select(i => (long)i)), "every append has its own index");
        Assert.That(all.Select(p => p.Epoch).Distinct(), Is.EqualTo(new[] { 2L }));
        Assert.That(positions.All(p => p.Zip(p.Skip(1)).All(x => x.First.Index < x.Second.Index)), Is.True, "one writer's appends are in its order");
        Assert.That(Enumerable.Range(0, 8).Select(w => Get(a, $"w{w}")), Is.All.EqualTo("49"), "the owner applied every last write");
        await Wait.UntilAsync(() => Enumerable.Range(0, 8).All(w => Get(b, $"w{w}") == "49"), "the standby to apply every writer's last write");

        // A cancellable token takes the task path; a standby refuses pooled appends too.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.That((await a.Log.AppendPooledAsync(Put("t", "x"), cts.Token)).Index, Is.EqualTo(401));
        await Assert.ThatAsync(async () => await b.Log.AppendPooledAsync(Put("s", "x"), CancellationToken.None), Throws.InvalidOperationException);
    }

    [Test]
    public async Task The_standby_refuses_appends()
    {
        var b = await OpenAsync("b");
        await Assert.ThatAsync(() => b.PutAsync("k", V("v"), Bound), Throws.InvalidOperationException);
    }

    [Test]
    public async Task After_a_failover_the_new_owner_has_every_acknowledged_write_and_the_old_one_catches_up_after_a_restart()
    {
        var a = await OpenAsync("a");
        var b = await OpenAsync("b");
        var link = new MemoryLink(a.Log, b.Log);
        link.Connect();
        await a.Log.BecomeOwnerAsync(1, Bound);
        for (var i = 0; i < 50; i++)
        {
            await a.PutAsync($"k{i}", V($"a{i}"), Bound);
        }

        link.Disconnect();
        await CloseAsync(a); // the owner dies
        await b.Log.BecomeOwnerAsync(2, Bound);
        for (var i = 0; i < 50; i++)
        {
            Assert.That(Get(b, $"k{i}"), Is.EqualTo($"a{i}"), "an acknowledged Durable write is on the new owner");
        }

        Assert.That(b.Log.Status.Role, Is.EqualTo(ReplicaRole.Owner));
        var pending = b.PutAsync("k0", V("b0"), Bound); // Durable: waits for a peer
        var a2 = await OpenAsync("a");
        Assert.That(Get(a2, "k49"), Is.EqualTo("a49"), "the restarted node recovered its state from disk");
        new MemoryLink(b.Log, a2.Log).Connect();
        Assert.That(await pending.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(new LogPosition(2, 51)));
        await Wait.UntilAsync(() => Get(a2, "k0") == "b0", "the old owner to catch up with the new owner's write");
        Assert.That(a2.Log.Status.SeenEpoch, Is.EqualTo(2));
    }

    [Test]
    public async Task The_unreplicated_tail_of_a_rejoining_owner_reaches_the_divergence_callback_and_its_state_is_rolled_back()
    {
        var cut = new List<DivergedEntries>();
        var a = await OpenAsync("a", ReplicationMode.Async, d => cut.Add(d));
        var b = await OpenAsync("b", ReplicationMode.Async);
        var link = new MemoryLink(a.Log, b.Log);
        link.Connect();
        await a.Log.BecomeOwnerAsync(1, Bound);
        await a.PutAsync("shared", V("1"), Bound);
        await Wait.UntilAsync(() => Get(b, "shared") == "1", "replication of the first write");
        link.Disconnect();

        await a.PutAsync("lost", V("only-on-a"), Bound); // Async: acknowledged without the peer
        Assert.That(Get(a, "lost"), Is.EqualTo("only-on-a"));
        await a.Log.BecomeStandbyAsync(Bound);
        await b.Log.BecomeOwnerAsync(2, Bound);
        await b.PutAsync("new", V("on-b"), Bound);

        new MemoryLink(a.Log, b.Log).Connect();
        await Wait.UntilAsync(() => Get(a, "new") == "on-b", "the old owner to follow the new history");
        Assert.That(cut, Has.Count.EqualTo(1));
        Assert.That(cut[0].Entries.Single().Position, Is.EqualTo(new LogPosition(1, 2)));
        Assert.That(Encoding.UTF8.GetString(cut[0].Entries[0].Data.Span), Does.Contain("lost").And.Contain("only-on-a"));
        Assert.That(Get(a, "lost"), Is.Null, "the cut write is rolled back from the applied state");
        Assert.That(Get(a, "shared"), Is.EqualTo("1"));
    }

    [Test]
    public async Task A_deposed_owners_tail_in_its_own_snapshot_still_reaches_the_divergence_callback_after_a_restart()
    {
        // docs/replication.md, "Divergence below a node's own snapshot" (simulator seed 8), over the real files: a writes alone
        // (Async), snapshots past what its peer holds (its log is compacted only to that) and restarts. The reopened log holds
        // those entries from the compaction point on, so following b's newer history cuts them and hands them over.
        var a = await OpenAsync("a", ReplicationMode.Async);
        var b = await OpenAsync("b", ReplicationMode.Async);
        var link = new MemoryLink(a.Log, b.Log);
        link.Connect();
        await a.Log.BecomeOwnerAsync(1, Bound);
        await a.PutAsync("shared", V("1"), Bound);
        await Wait.UntilAsync(() => a.Log.Status.PeerDurable == 1, "replication of the first write");
        link.Disconnect();
        for (var i = 0; i < 3; i++)
        {
            await a.PutAsync($"lost{i}", V("only-on-a"), Bound);
        }

        await a.Log.TakeSnapshotAsync(Bound);
        Assert.That(a.Log.Status.Snapshot, Is.EqualTo(new LogPosition(1, 4)), "the snapshot holds the unreplicated tail");
        await CloseAsync(a);

        var cut = new List<DivergedEntries>();
        var a2 = await OpenAsync("a", ReplicationMode.Async, d => { lock (cut) { cut.Add(d); } });
        Assert.That(Get(a2, "lost2"), Is.EqualTo("only-on-a"), "restored from its snapshot");
        await b.Log.BecomeOwnerAsync(2, Bound);
        await b.PutAsync("new", V("on-b"), Bound);
        new MemoryLink(b.Log, a2.Log).Connect();

        await Wait.UntilAsync(() => Get(a2, "new") == "on-b", "the restarted old owner to install b's history");
        DivergedEntries[] seen;
        lock (cut)
        {
            seen = [.. cut];
        }

        var conflict = seen.Single(d => d.Kind == DivergenceKind.Conflict);
        Assert.That(conflict.Entries.Select(e => e.Position), Is.EqualTo(new[] { new LogPosition(1, 2), new LogPosition(1, 3), new LogPosition(1, 4) }),
            "the entries in a's own snapshot that b's history does not hold, with their data");
        Assert.That(conflict.UnavailableThrough, Is.Null);
        Assert.That(Get(a2, "lost0"), Is.Null, "a's state is the owner's now");
        Assert.That(Get(a2, "shared"), Is.EqualTo("1"));
        Assert.That(a2.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
        Assert.That(File.Exists(Path.Combine(_root, "a", "awaiting-snapshot")), Is.False, "the wait for b's snapshot ended with its install");
    }

    [Test]
    public async Task A_restarted_node_still_knows_its_own_entries_of_an_epoch_that_a_second_owner_took()
    {
        // a owns epoch 3 and writes alone (Async), then restarts; b, which never heard of epoch 3, is also made owner of epoch 3
        // (a split brain at start-up). Following b, the restarted a must cut its own entry at b's position (it knows it from the
        // `owned` file), or it would acknowledge b's entry as durable while holding its own, and b's acknowledged write would be
        // lost when a takes over later.
        var cut = new List<DivergedEntries>();
        var a = await OpenAsync("a", ReplicationMode.Async);
        await a.Log.BecomeOwnerAsync(3, Bound);
        await a.PutAsync("k", V("a-own"), Bound);
        await CloseAsync(a);
        a = await OpenAsync("a", ReplicationMode.Durable, d => cut.Add(d));
        Assert.That(Get(a, "k"), Is.EqualTo("a-own"));
        var b = await OpenAsync("b");
        await b.Log.BecomeOwnerAsync(3, Bound);

        new MemoryLink(a.Log, b.Log).Connect();
        var position = await b.PutAsync("k", V("b-acknowledged"), Bound);
        Assert.That(position, Is.EqualTo(new LogPosition(3, 1)), "the same position as a's own entry");
        await Wait.UntilAsync(() => Get(a, "k") == "b-acknowledged", "a to hold b's acknowledged write");
        Assert.That(cut.SelectMany(d => d.Entries).Select(e => Encoding.UTF8.GetString(e.Data.Span)).Single(), Does.Contain("a-own"));
        Assert.That(a.Log.Status.Durable, Is.EqualTo(1));
    }

    [Test]
    public async Task A_new_standby_with_an_empty_disk_installs_the_owners_snapshot_after_compaction()
    {
        var a = await OpenAsync("a");
        var b = await OpenAsync("b");
        var link = new MemoryLink(a.Log, b.Log);
        link.Connect();
        await a.Log.BecomeOwnerAsync(1, Bound);
        for (var i = 0; i < 100; i++)
        {
            await a.PutAsync($"k{i}", V($"v{i}"), Bound);
        }

        await a.Log.TakeSnapshotAsync(Bound);
        Assert.That(a.Log.Status.Snapshot.Index, Is.EqualTo(100));
        link.Disconnect();

        // The peer is replaced by a node with an empty disk: the owner compacted past it.
        var c = await OpenAsync("c");
        new MemoryLink(a.Log, c.Log).Connect();
        await a.PutAsync("after", V("snapshot"), Bound);
        Assert.That(Get(c, "k99"), Is.EqualTo("v99"));
        await Wait.UntilAsync(() => Get(c, "after") == "snapshot", "the new standby to continue after the snapshot");
        Assert.That(c.Log.Status.Snapshot, Is.EqualTo(new LogPosition(1, 100)));
        Assert.That(c.Count, Is.EqualTo(101));
    }

    [Test]
    public async Task Restarting_restores_the_snapshot_and_replays_the_log_after_it()
    {
        var a = await OpenAsync("a", ReplicationMode.Async, snapshotEvery: 30);
        await a.Log.BecomeOwnerAsync(1, Bound);
        for (var i = 0; i < 75; i++)
        {
            await a.PutAsync($"k{i % 10}", V($"v{i}"), Bound);
        }

        await Wait.UntilAsync(() => a.Log.Status.Snapshot.Index >= 60, "automatic snapshots");
        await CloseAsync(a);
        var again = await OpenAsync("a", ReplicationMode.Async);
        Assert.That(again.Count, Is.EqualTo(10));
        Assert.That(Get(again, "k4"), Is.EqualTo("v74"));
        Assert.That(again.Log.Status.Last, Is.EqualTo(new LogPosition(1, 75)));
        Assert.That(again.Log.Status.SeenEpoch, Is.EqualTo(1));
    }
}
