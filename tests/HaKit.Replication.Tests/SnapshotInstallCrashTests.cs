using System.Text;
using HaKit.Replication.Protocol;

namespace HaKit.Replication.Tests;

/// <summary>
/// A standby killed in the middle of installing its owner's snapshot (docs/replication.md, "Catch-up and resync"), over the real
/// files: the install stops after each of its steps as a crash would (the step's hook throws, the node's files stay as they
/// are), the directory is reopened, and the reopened node must hold a state of one history (never the snapshot with the old
/// log's other history loaded after it), and what the snapshot replaced must have reached the divergence callback.
/// </summary>
public sealed class SnapshotInstallCrashTests : ReplicaTestBase
{
    private static readonly CancellationToken Bound = new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;

    /// <inheritdoc />
    protected override string DirectoryPrefix => "hakit-repl-crash-";

    private static byte[] V(string s) => Encoding.UTF8.GetBytes(s);

    private async Task<ReplicatedKvStore> OpenAsync(string node, List<DivergedEntries>? cut = null)
    {
        var store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
        {
            Group = "g",
            Directory = Path.Combine(Root, node),
            Mode = ReplicationMode.Async,
            OnDiverged = cut is null ? null : d =>
            {
                lock (cut)
                {
                    cut.Add(d);
                }
            },
        });
        Opened.Add(store);
        return store;
    }

    private static string[] CutValues(List<DivergedEntries> cut)
    {
        lock (cut)
        {
            return [.. cut.SelectMany(d => d.Entries).Select(e => Encoding.UTF8.GetString(e.Data.Span))];
        }
    }

    [TestCase("Reported")]
    [TestCase("LogCut")]
    [TestCase("Published")]
    public async Task A_standby_killed_while_installing_the_owners_snapshot_reopens_with_one_history_and_the_replaced_entries_reported(string step)
    {
        var crashAfter = Enum.Parse<SnapshotInstallStep>(step);
        // a owned epoch 1 and wrote six entries alone after the shared one (indexes 2..7, Async: acknowledged without the peer).
        // b took over in epoch 2 with c as its standby, wrote three (2..4), snapshotted at (2, 4) and compacted (c holds them).
        // Then a comes back in c's place: to follow b it must install that snapshot, which replaces a's own 2..7; a's log
        // reaches past the snapshot's index with another history there.
        var cut = new List<DivergedEntries>();
        var a = await OpenAsync("a", cut);
        var b = await OpenAsync("b");
        var link = new MemoryLink(a.Log, b.Log);
        link.Connect();
        await a.Log.BecomeOwnerAsync(1, Bound);
        await a.PutAsync("shared", V("1"), Bound);
        await Wait.UntilAsync(() => b.Log.Status.Durable == 1, "replication of the shared write");
        link.Disconnect();
        for (var i = 0; i < 6; i++)
        {
            await a.PutAsync($"lost{i}", V("only-on-a"), Bound);
        }

        await a.Log.BecomeStandbyAsync(Bound);
        var c = await OpenAsync("c");
        var toC = new MemoryLink(b.Log, c.Log);
        toC.Connect();
        await b.Log.BecomeOwnerAsync(2, Bound);
        for (var i = 0; i < 3; i++)
        {
            await b.PutAsync($"new{i}", V("on-b"), Bound);
        }

        await Wait.UntilAsync(() => b.Log.Status.PeerDurable == 4, "c to hold b's writes");
        await b.Log.TakeSnapshotAsync(Bound);
        Assert.That(b.Log.Status.Snapshot, Is.EqualTo(new LogPosition(2, 4)));
        toC.Disconnect();

        var crashed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.Log.InstallStep = reached =>
        {
            if (reached == crashAfter)
            {
                crashed.TrySetResult();
                throw new IOException($"simulated crash after {reached}");
            }
        };
        var crashLink = new MemoryLink(a.Log, b.Log);
        crashLink.Connect();
        await crashed.Task.WaitAsync(TimeSpan.FromSeconds(20), Bound);
        await Wait.UntilAsync(() => a.Log.IsFaulted, "the install to stop where it crashed");
        crashLink.Disconnect();
        Opened.Remove(a);
        await a.DisposeAsync();
        var reportedBeforeCrash = CutValues(cut);
        Assert.That(reportedBeforeCrash.Count(v => v.Contains("only-on-a", StringComparison.Ordinal)), Is.EqualTo(6),
            "the six entries the snapshot replaces reached the callback before anything on disk changed");

        // Reopened as after the crash: one history, whichever step it stopped at.
        var again = new List<DivergedEntries>();
        var a2 = await OpenAsync("a", again);
        string?[] lost = [.. Enumerable.Range(0, 6).Select(i => Get(a2, $"lost{i}"))];
        if (crashAfter == SnapshotInstallStep.Published)
        {
            Assert.That(a2.Log.Status.Snapshot, Is.EqualTo(new LogPosition(2, 4)), "the owner's snapshot is in place");
            Assert.That(Get(a2, "new2"), Is.EqualTo("on-b"));
            Assert.That(lost, Is.All.Null, "a's own 5..7 are not loaded after b's snapshot as if they followed it");
        }
        else if (crashAfter == SnapshotInstallStep.LogCut)
        {
            Assert.That(a2.Log.Status.Snapshot, Is.EqualTo(LogPosition.Zero), "the old state: no snapshot yet");
            Assert.That(lost, Is.All.Null, "the replaced entries are cut from the log before the snapshot is put in place");
        }
        else
        {
            Assert.That(lost, Is.All.EqualTo("only-on-a"), "nothing on disk changed yet: a holds its own history as before");
        }

        // It follows b to the end, and ends with b's history.
        new MemoryLink(a2.Log, b.Log).Connect();
        await b.PutAsync("after", V("crash"), Bound);
        await Wait.UntilAsync(() => Get(a2, "after") == "crash", "the reopened node to follow the owner");
        Assert.That(Get(a2, "new0"), Is.EqualTo("on-b"));
        Assert.That(Get(a2, "shared"), Is.EqualTo("1"));
        Assert.That(Enumerable.Range(0, 6).Select(i => Get(a2, $"lost{i}")), Is.All.Null);
        if (crashAfter == SnapshotInstallStep.Reported)
        {
            Assert.That(CutValues(again).Count(v => v.Contains("only-on-a", StringComparison.Ordinal)), Is.EqualTo(6),
                "still on disk when it crashed: reported again (at least once)");
        }
        else
        {
            Assert.That(CutValues(again), Has.None.Contains("only-on-a"), "cut before the crash: nothing of them is left to report twice");
        }
    }
}
