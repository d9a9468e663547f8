using System.Text;

namespace HaKit.Replication.Tests;

/// <summary>
/// Automatic snapshots of a state machine that implements <see cref="IBackgroundSnapshots"/> are written off the log's loop:
/// appends go on while the writer is held; the snapshot holds the state captured at its position, not what was applied after
/// it; and a write whose captured state was replaced meanwhile (a divergence rolled it back) is dropped, never put in place.
/// </summary>
public sealed class BackgroundSnapshotTests : ReplicaTestBase
{
    protected override string DirectoryPrefix => "hakit-repl-bgsnap-";

    private static readonly CancellationToken Bound = new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    /// <summary>A key-value state whose first snapshot writer waits for <see cref="Release"/>; it records what it restored.</summary>
    private sealed class GatedState : IBackgroundSnapshots
    {
        private readonly TaskCompletionSource _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly Dictionary<string, string> _values = [];
        private int _captures;

        public TaskCompletionSource WriterStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public List<int> RestoredCounts { get; } = [];

        public int Count { get { lock (_values) { return _values.Count; } } }

        public string? Get(string key) { lock (_values) { return _values.GetValueOrDefault(key); } }

        public void Release() => _gate.TrySetResult();

        public void Apply(in LogEntry entry)
        {
            var text = Encoding.UTF8.GetString(entry.Data.Span).Split('=', 2);
            lock (_values)
            {
                _values[text[0]] = text[1];
            }
        }

        public Func<Stream, CancellationToken, ValueTask> CaptureSnapshot()
        {
            KeyValuePair<string, string>[] items;
            lock (_values)
            {
                items = [.. _values];
            }

            var gated = Interlocked.Increment(ref _captures) == 1;
            return async (destination, cancellationToken) =>
            {
                if (gated)
                {
                    WriterStarted.TrySetResult();
                    await _gate.Task.WaitAsync(cancellationToken);
                }

                await WriteAsync(items, destination, cancellationToken);
            };
        }

        public ValueTask WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken)
        {
            lock (_values)
            {
                return WriteAsync([.. _values], destination, cancellationToken);
            }
        }

        private static ValueTask WriteAsync(KeyValuePair<string, string>[] items, Stream destination, CancellationToken cancellationToken)
        {
            var bytes = Encoding.UTF8.GetBytes(string.Join("\n", items.Select(i => $"{i.Key}={i.Value}")));
            return destination.WriteAsync(bytes, cancellationToken);
        }

        public async ValueTask RestoreSnapshotAsync(Stream source, CancellationToken cancellationToken)
        {
            using var reader = new StreamReader(source);
            var text = await reader.ReadToEndAsync(cancellationToken);
            lock (_values)
            {
                _values.Clear();
                foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                {
                    var pair = line.Split('=', 2);
                    _values[pair[0]] = pair[1];
                }

                RestoredCounts.Add(_values.Count);
            }
        }
    }

    private async Task<ReplicatedLog> OpenAsync(string node, GatedState state, long snapshotEvery, ReplicationMode mode = ReplicationMode.Async)
    {
        var log = await ReplicatedLog.OpenAsync(new ReplicationOptions
        {
            Group = "g", Directory = Path.Combine(Root, node), Mode = mode, SnapshotEveryEntries = snapshotEvery,
        }, state);
        Opened.Add(log);
        return log;
    }

    /// <summary>Closes <paramref name="log"/> and opens <paramref name="node"/>'s directory again with a fresh state (no automatic snapshots).</summary>
    private async Task<GatedState> ReopenAsync(ReplicatedLog log, string node)
    {
        Opened.Remove(log);
        await log.DisposeAsync();
        var reopened = new GatedState();
        await OpenAsync(node, reopened, snapshotEvery: 0);
        return reopened;
    }

    private static Task<LogPosition> Put(ReplicatedLog log, string key, string value) => log.AppendAsync(Encoding.UTF8.GetBytes($"{key}={value}"), Bound);

    private string[] SnapshotFiles(string node) =>
        [.. Directory.GetFiles(Path.Combine(Root, node), "snapshot-*").Select(Path.GetFileName).Order()!];

    [Test]
    public async Task Appends_go_on_while_a_snapshot_is_written_and_the_snapshot_holds_the_state_at_its_position()
    {
        var state = new GatedState();
        var log = await OpenAsync("a", state, snapshotEvery: 3);
        await log.BecomeOwnerAsync(1, Bound);
        for (var i = 1; i <= 3; i++)
        {
            await Put(log, $"k{i}", "v");
        }

        await state.WriterStarted.Task.WaitAsync(Bound);

        // The writer of the snapshot at 3 is held: five more appends are acknowledged and applied meanwhile.
        for (var i = 4; i <= 5; i++)
        {
            await Put(log, $"k{i}", "v").WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.That(state.Count, Is.EqualTo(5));
        Assert.That(log.Status.Snapshot, Is.EqualTo(LogPosition.Zero), "not in place before it is written");
        Assert.That(SnapshotFiles("a").Where(f => f.EndsWith(".snap", StringComparison.Ordinal)), Is.Empty);

        state.Release();
        await Wait.UntilAsync(() => log.Status.Snapshot == new LogPosition(1, 3), "the snapshot at 3 to be put in place");
        Assert.That(SnapshotFiles("a"), Is.EqualTo(new[] { $"snapshot-{3:D20}-{1:D20}.snap" }), "one snapshot, no temporary file left");

        // Reopened: the snapshot restores the three entries it captured, then the log replays 4 and 5.
        var reopened = await ReopenAsync(log, "a");
        Assert.That(reopened.RestoredCounts, Is.EqualTo(new[] { 3 }), "the snapshot holds the state at 3, not what was applied while it was written");
        Assert.That(reopened.Count, Is.EqualTo(5));
    }

    [Test]
    public async Task A_snapshot_whose_state_a_divergence_rolled_back_while_it_was_written_is_dropped()
    {
        var stateA = new GatedState();
        var a = await OpenAsync("a", stateA, snapshotEvery: 4);
        var b = await OpenAsync("b", new GatedState(), snapshotEvery: 0);
        var link = new MemoryLink(a, b);
        link.Connect();
        await a.BecomeOwnerAsync(1, Bound);
        await Put(a, "shared", "1");
        await Wait.UntilAsync(() => a.Status.PeerDurable == 1, "the first write on b");
        link.Disconnect();

        // a writes 2..4 alone (Async): the snapshot at 4 captures this unreplicated tail, and its writer is held.
        for (var i = 2; i <= 4; i++)
        {
            await Put(a, $"lost{i}", "only-on-a");
        }

        await stateA.WriterStarted.Task.WaitAsync(Bound);
        await a.BecomeStandbyAsync(Bound);

        // b owns epoch 2 and writes 2..5; a follows: 2..4 of epoch 1 are cut and a's state is rolled back.
        await b.BecomeOwnerAsync(2, Bound);
        for (var i = 2; i <= 5; i++)
        {
            await Put(b, $"new{i}", "on-b");
        }

        new MemoryLink(b, a).Connect();
        await Wait.UntilAsync(() => stateA.Get("new5") == "on-b", "a to follow b's history");
        Assert.That(stateA.Get("lost2"), Is.Null, "rolled back");

        // The held write ends now: what it holds is no longer a's history, so it is deleted, not put in place.
        // The next automatic snapshot (at 5, b's history) is written after it.
        stateA.Release();
        await Wait.UntilAsync(() => a.Status.Snapshot == new LogPosition(2, 5), "the next snapshot, of b's history, to be put in place");
        Assert.That(SnapshotFiles("a"), Is.EqualTo(new[] { $"snapshot-{5:D20}-{2:D20}.snap" }), "nothing of the dropped write is left");

        // Reopened, a holds b's history only.
        var reopened = await ReopenAsync(a, "a");
        Assert.That(reopened.Get("lost4"), Is.Null);
        Assert.That(reopened.Get("new5"), Is.EqualTo("on-b"));
        Assert.That(reopened.Get("shared"), Is.EqualTo("1"));
    }
}
