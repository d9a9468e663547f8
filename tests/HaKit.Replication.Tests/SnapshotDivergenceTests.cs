using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;

namespace HaKit.Replication.Tests;

/// <summary>
/// Divergence below a node's own snapshot (docs/replication.md, "Divergence below a node's own snapshot"), on the deterministic
/// core: a restarted node holds its log from the compaction point, not from the snapshot's position, so entries a later history
/// cuts still reach the divergence callback; entries truly gone (compacted away) are reported by range; waiting for the owner's
/// snapshot survives a restart. Found by the simulator with snapshots on (seeds 8, 145, 176 of the CI range).
/// </summary>
public sealed class SnapshotDivergenceTests
{
    private static LogEntry[] Entries(long epoch, long from, long to, string prefix = "e") =>
        [.. Enumerable.Range((int)from, (int)(to - from + 1)).Select(i => new LogEntry(new LogPosition(epoch, i), System.Text.Encoding.UTF8.GetBytes($"{prefix}{i}")))];

    /// <summary>Connects <paramref name="owner"/> and <paramref name="standby"/> and steps them (bounded).</summary>
    private static void Run(CoreNode owner, CoreNode standby, int rounds = 50)
    {
        owner.Peer = standby;
        standby.Peer = owner;
        owner.Connected = standby.Connected = true;
        owner.Core.PeerUp();
        standby.Core.PeerUp();
        for (var i = 0; i < rounds; i++)
        {
            owner.Step();
            standby.Step();
        }
    }

    /// <summary>An owner in <paramref name="epoch"/> over <paramref name="entries"/>, with a snapshot at its last entry.</summary>
    private static CoreNode Owner(long epoch, LogEntry[] entries, long seenEpoch)
    {
        var owner = new CoreNode("b", ReplicationMode.Async, seenEpoch, 1 << 20, 1 << 16, entries, default);
        Assert.That(owner.Core.BecomeOwner(epoch), Is.True);
        owner.Drain();
        owner.Core.SnapshotTaken(owner.Core.Last, 4000);
        owner.Drain();
        return owner;
    }

    [Test]
    public void A_restarted_node_holds_its_log_from_the_compaction_point_so_a_later_history_still_cuts_what_its_snapshot_holds()
    {
        // Seed 8's shape: a owned epoch 1 and wrote 11..15 after its peer confirmed 1..10 (a deposed owner's tail); it compacted only
        // to 10 (what its peer holds durably), snapshotted at 15 and restarted. b owns epoch 2 with its own 11..12.
        var a = new CoreNode("a", ReplicationMode.Async, 1, [.. Entries(1, 1, 10).Skip(9), .. Entries(1, 11, 15)], (1, 0),
            snapshot: new LogPosition(1, 15), logBase: new LogPosition(1, 9));
        Assert.That(a.Core.Log.Base, Is.EqualTo(new LogPosition(1, 9)), "the log starts at the compaction point, below the snapshot");
        Assert.That(a.Core.Applied, Is.EqualTo(15), "the state machine holds the snapshot");
        Assert.That(a.AppliedEntries, Is.Empty, "nothing is applied twice: 10..15 are in the snapshot");

        var b = Owner(2, [.. Entries(1, 1, 10), .. Entries(2, 11, 12, "f")], seenEpoch: 1);
        Run(b, a);

        var cut = a.Diverged.Single();
        Assert.That(cut.Kind, Is.EqualTo(DivergenceKind.Conflict));
        Assert.That(cut.Entries.Select(e => e.Position), Is.EqualTo(Entries(1, 11, 15).Select(e => e.Position)),
            "11..15 are in a's snapshot, and still handed to the callback");
        Assert.That(cut.UnavailableThrough, Is.Null, "nothing was lost from the disk");
        Assert.That(a.Installed.Select(i => i.Position), Is.EqualTo(new[] { new LogPosition(2, 12) }), "then a installs the owner's snapshot");
        Assert.That(a.Core.Last, Is.EqualTo(new LogPosition(2, 12)));
        Assert.That(a.Marks[OutdatedFile.AwaitingSnapshot], Is.EqualTo(LogPosition.Zero), "the wait ended with the install");
    }

    [Test]
    public void Entries_compacted_away_before_the_divergence_are_reported_by_range_and_the_node_waits_for_the_owners_snapshot()
    {
        // Seed 145's shape: a compacted everything up to 10 (it knew the owner had acknowledged it), then the owner lost 9..10
        // (Received: acknowledged, not yet fdatasynced, its host lost power) and won a split brain with another 9..10 in epoch 2.
        var a = new CoreNode("a", ReplicationMode.Received, 1, [], default, snapshot: new LogPosition(1, 10), logBase: new LogPosition(1, 10));
        var b = Owner(2, [.. Entries(1, 1, 8), .. Entries(2, 9, 12, "f")], seenEpoch: 1);
        b.Connected = false;
        a.Peer = b;
        b.Peer = a;
        a.Connected = b.Connected = true;
        b.Core.PeerUp();
        a.Core.PeerUp();
        for (var i = 0; i < 4 && a.Diverged.Count == 0; i++)
        {
            b.Step();
            a.Step();
        }

        var report = a.Diverged.Single();
        Assert.That(report.Kind, Is.EqualTo(DivergenceKind.Conflict));
        Assert.That(report.Entries, Is.Empty, "nothing after the compaction point");
        Assert.That(report.UnavailableThrough, Is.EqualTo(new LogPosition(1, 10)), "a's own entry at its compaction point conflicts with the owner's");
        Assert.That(report.UnavailableFrom, Is.Null, "where the histories part below it is not known");
        Assert.That(a.Marks[OutdatedFile.AwaitingSnapshot], Is.Not.EqualTo(LogPosition.Zero), "the wait is persisted");
        Assert.That(a.Core.PromotionRefusal(), Does.Contain("waits for the owner's snapshot"), "a state with lost history is not promoted");

        Run(b, a);
        Assert.That(a.Installed.Select(i => i.Position), Is.EqualTo(new[] { new LogPosition(2, 12) }));
        Assert.That(a.Marks[OutdatedFile.AwaitingSnapshot], Is.EqualTo(LogPosition.Zero));
        Assert.That(a.Core.PromotionRefusal(), Is.Null);
        Assert.That(a.Diverged, Has.Count.EqualTo(1), "reported once");
    }

    [Test]
    public void An_owner_whose_history_ends_below_the_compacted_entries_gets_them_reported_instead_of_a_probe_loop()
    {
        // a compacted up to 10; the owner of epoch 2 lost 9..10 and has written nothing since: its log ends at 8. a used to answer
        // each of its probes "continue after 10", and the owner probed again at once, for ever.
        var a = new CoreNode("a", ReplicationMode.Async, 1, [], default, snapshot: new LogPosition(1, 10), logBase: new LogPosition(1, 10));
        var b = Owner(2, Entries(1, 1, 8), seenEpoch: 1);
        Run(b, a, rounds: 20);

        var report = a.Diverged.First();
        Assert.That(report.Entries, Is.Empty);
        Assert.That(report.UnavailableThrough, Is.EqualTo(new LogPosition(1, 10)));
        Assert.That(a.Installed.Select(i => i.Position), Is.EqualTo(new[] { new LogPosition(1, 8) }), "the owner's snapshot replaces the state");
        Assert.That(b.Sent.OfType<AppendMessage>().Count(), Is.LessThan(10), "no probe loop");
        Assert.That(a.Marks[OutdatedFile.CatchUp], Is.EqualTo(new LogPosition(2, 10)), "a held the history to 10: not promoted before it has the owner's there");

        b.Append("f9");
        b.Append("f10");
        Run(b, a, rounds: 20);
        Assert.That(a.Core.Last, Is.EqualTo(new LogPosition(2, 10)));
        Assert.That(a.Marks[OutdatedFile.CatchUp], Is.EqualTo(LogPosition.Zero));
        Assert.That(a.Core.PromotionRefusal(), Is.Null);
    }

    [Test]
    public void Own_entries_of_a_shared_epoch_compacted_into_the_snapshot_are_reported_from_their_first_index()
    {
        // a owned epoch 2 from index 5 and compacted its own 6..8 into its snapshot; b owned epoch 2 too and writes there.
        var a = new CoreNode("a", ReplicationMode.Async, 2, Entries(2, 9, 9, "a"), (2, 5), snapshot: new LogPosition(2, 8), logBase: new LogPosition(2, 8));
        var b = Owner(2, [.. Entries(1, 1, 5), .. Entries(2, 6, 10, "b")], seenEpoch: 1);
        Run(b, a);

        var report = a.Diverged.First();
        Assert.That(report.Entries.Select(e => e.Position), Is.EqualTo(new[] { new LogPosition(2, 9) }), "what follows the compaction point, with its data");
        Assert.That(report.UnavailableFrom, Is.EqualTo(6), "its own entries of epoch 2 start after index 5");
        Assert.That(report.UnavailableThrough, Is.EqualTo(new LogPosition(2, 8)));
        Assert.That(a.Installed, Has.Count.EqualTo(1), "then the owner's snapshot replaces the state");
    }

    [Test]
    public void Waiting_for_the_owners_snapshot_survives_a_restart_and_the_short_log_is_handed_over_when_it_is_installed()
    {
        // Seed 176's shape: a divergence cut a's log to 6 while its snapshot (at 12) holds cut entries; a restarted before the
        // owner's snapshot came. Its log (4..6) ends below its snapshot: kept, and a still waits.
        var a = new CoreNode("a", ReplicationMode.Async, 2, Entries(1, 5, 6), default, snapshot: new LogPosition(2, 12), logBase: new LogPosition(1, 4),
            awaiting: new LogPosition(2, 4));
        Assert.That(a.Core.AwaitingSnapshot, Is.True);
        Assert.That(a.Core.PromotionRefusal(), Does.Contain("waits for the owner's snapshot"), "a restarted node with a diverged state is not promoted");

        var b = Owner(3, [.. Entries(1, 1, 4), .. Entries(3, 5, 20, "f")], seenEpoch: 2);
        Run(b, a);

        Assert.That(a.Installed.Select(i => i.Position), Is.EqualTo(new[] { new LogPosition(3, 20) }), "appends are refused until the owner's snapshot is installed");
        var replaced = a.Diverged.Single();
        Assert.That(replaced.Kind, Is.EqualTo(DivergenceKind.ReplacedBySnapshot));
        Assert.That(replaced.Entries.Select(e => e.Index), Is.EqualTo(new long[] { 5, 6 }), "the entries it held, not confirmed against the owner, reach the callback");
        Assert.That(a.Marks[OutdatedFile.AwaitingSnapshot], Is.EqualTo(LogPosition.Zero));
        Assert.That(a.Core.Last, Is.EqualTo(new LogPosition(3, 20)));
    }

    /// <summary>a (restarted: snapshot at 18, log from <paramref name="logBase"/>) held 1..15 of the owner's history and its own
    /// 16..18; b owns epoch 2 with 16..20 and its newest snapshot at 10, older than what a held.</summary>
    private static (CoreNode A, CoreNode B) OlderSnapshotThanHeld(long logBase)
    {
        var a = new CoreNode("a", ReplicationMode.Durable, 1, Entries(1, logBase + 1, 18), default, snapshot: new LogPosition(1, 18), logBase: new LogPosition(1, logBase));
        var b = new CoreNode("b", ReplicationMode.Durable, 1, 1 << 20, 1 << 16, [.. Entries(1, 1, 15), .. Entries(2, 16, 20, "f")], default);
        Assert.That(b.Core.BecomeOwner(2), Is.True);
        b.Core.SnapshotTaken(new LogPosition(1, 10), 4000);
        b.Drain();
        return (a, b);
    }

    [Test]
    public void An_owners_snapshot_older_than_the_matched_history_keeps_the_matched_entries_after_it()
    {
        var (a, b) = OlderSnapshotThanHeld(logBase: 8);
        Run(b, a);

        Assert.That(a.Installed.Select(i => i.Position), Is.EqualTo(new[] { new LogPosition(1, 10) }));
        Assert.That(a.Diverged.SelectMany(d => d.Entries).Select(e => e.Index), Is.EqualTo(new long[] { 16, 17, 18 }),
            "only its own 16..18 reach the callback: 11..15 match the owner's history");
        Assert.That(a.Diverged.All(d => d.Kind == DivergenceKind.Conflict), Is.True);
        Assert.That(a.Core.Log.Base, Is.EqualTo(new LogPosition(1, 10)));
        Assert.That(a.Core.Last, Is.EqualTo(new LogPosition(2, 20)), "11..15 stayed after the snapshot, the owner sent 16..20");
        Assert.That(a.Log.Where(l => l.StartsWith("mark " + OutdatedFile.CatchUp, StringComparison.Ordinal)), Is.Empty, "it never went below what it held");
        Assert.That(b.Sent.OfType<AppendMessage>().Select(m => m.Prev.Index).Where(p => p is >= 10 and < 15), Is.Empty,
            "after the snapshot the owner goes on after 15, not after 10: a kept 11..15");
    }

    [Test]
    public void An_owners_snapshot_older_than_the_compacted_history_holds_promotion_until_the_node_has_it_again()
    {
        // a compacted 9..12 into its own snapshot: the owner's snapshot at 10 replaces them, and a may not own the group before
        // it holds the owner's history up to 15 again (simulator seeds 545, 613).
        var (a, b) = OlderSnapshotThanHeld(logBase: 12);
        b.Peer = a;
        a.Peer = b;
        b.Connected = a.Connected = true;
        b.Core.PeerUp();
        a.Core.PeerUp();
        for (var i = 0; i < 50 && a.Installed.Count == 0; i++)
        {
            b.Step();
            a.Step();
        }

        Assert.That(a.Installed.Select(i => i.Position), Is.EqualTo(new[] { new LogPosition(1, 10) }));
        Assert.That(a.Marks[OutdatedFile.CatchUp], Is.EqualTo(new LogPosition(2, 15)), "persisted: a restarted node is still held");
        Assert.That(a.Core.PromotionRefusal(), Does.Contain("older than the history it held up to index 15"));

        b.Connected = a.Connected = false; // the owner goes away before a caught up: a stays held
        b.Core.PeerDown();
        a.Core.PeerDown();
        Assert.That(a.Core.PromotionRefusal(), Does.Contain("older than the history it held up to index 15"), "still held with the owner gone");

        Run(b, a);
        Assert.That(a.Core.Last, Is.EqualTo(new LogPosition(2, 20)));
        Assert.That(a.Marks[OutdatedFile.CatchUp], Is.EqualTo(LogPosition.Zero), "cleared once it holds 15 again");
        Assert.That(a.Core.PromotionRefusal(), Is.Null);
    }

    [Test]
    public void A_node_without_a_persisted_wait_starts_not_waiting()
    {
        var a = new CoreNode("a", ReplicationMode.Async, 1, Entries(1, 5, 12), default, snapshot: new LogPosition(1, 10), logBase: new LogPosition(1, 4));
        Assert.That(a.Core.AwaitingSnapshot, Is.False);
        Assert.That(a.Core.PromotionRefusal(), Is.Null);
        Assert.That(a.AppliedEntries.Select(e => e.Index), Is.EqualTo(new long[] { 11, 12 }), "only what follows the snapshot is applied at start");
    }

    [Test]
    public void A_log_base_above_the_snapshot_or_another_entry_at_the_snapshots_index_is_refused()
    {
        Assert.That(() => new ReplicationCore(ReplicationMode.Async, new LogPosition(1, 5), Entries(1, 7, 8), 1, 1 << 16, 1 << 20, logBase: new LogPosition(1, 6)),
            Throws.ArgumentException.With.Message.Contains("above the snapshot"));
        Assert.That(() => new ReplicationCore(ReplicationMode.Async, new LogPosition(2, 5), Entries(1, 4, 8), 2, 1 << 16, 1 << 20, logBase: new LogPosition(1, 3)),
            Throws.ArgumentException.With.Message.Contains("does not hold the snapshot's position"));
    }

    [Test]
    public void A_received_standby_compacts_only_what_the_owner_made_durable_so_a_lost_tail_is_reported_with_its_data()
    {
        // Received: b acknowledges 9..10 once written on it and held by a, before its own fdatasync. a snapshots at 10. If b then
        // loses 9..10 (power lost before its fdatasync) and an owner without them writes another 9..10, a's 9..10 are cut: they
        // must still be in a's log, with their data, for the callback; compacted into a's snapshot they were reported by range.
        var b = new CoreNode("b", ReplicationMode.Received, 0);
        var a = new CoreNode("a", ReplicationMode.Received, 0);
        Assert.That(b.Core.BecomeOwner(1), Is.True);
        b.Drain();
        for (var i = 1; i <= 8; i++)
        {
            b.Append($"e{i}");
        }

        Run(b, a);
        Assert.That(b.Core.Durable, Is.EqualTo(8));
        b.AutoDurable = false;
        b.Append("e9");
        b.Append("e10");
        for (var i = 0; i < 20; i++)
        {
            b.Step();
            a.Step();
        }

        Assert.That(b.AckedUpTo, Is.EqualTo(10), "Received: acknowledged before the owner's fdatasync");
        Assert.That(b.Core.Durable, Is.EqualTo(8));
        b.Append("e11"); // its append tells a the owner's acknowledged index (10) and its durable one (8)
        for (var i = 0; i < 20; i++)
        {
            b.Step();
            a.Step();
        }

        Assert.That(a.Core.KnownOwnerAcknowledged, Is.EqualTo(10));
        Assert.That(a.Core.KnownOwnerDurable, Is.EqualTo(8), "the owner's durable index travels with its appends");

        a.Core.SnapshotTaken(new LogPosition(1, 10), 4000);
        a.Drain();
        Assert.That(a.Core.Log.Base, Is.EqualTo(new LogPosition(1, 8)), "compacted only to what the owner made durable");

        // b's host loses 9..11; c wins with its own 9..10 in epoch 2.
        var c = new CoreNode("c", ReplicationMode.Received, 1, 1 << 20, 1 << 16, [.. Entries(1, 1, 8), .. Entries(2, 9, 10, "f")], default);
        Assert.That(c.Core.BecomeOwner(2), Is.True);
        c.Drain();
        Run(c, a);
        var cut = a.Diverged.First();
        Assert.That(cut.Entries.Select(e => CoreNode.Text(e)), Is.EqualTo(new[] { "e9", "e10", "e11" }), "the lost tail, with its data");
        Assert.That(cut.UnavailableThrough, Is.Null, "nothing of it was compacted away");
        Assert.That(a.Core.Last, Is.EqualTo(new LogPosition(2, 10)));
    }

    [Test]
    public void An_owner_that_does_not_send_its_durable_index_is_taken_at_its_acknowledged_one()
    {
        var a = new CoreNode("a", ReplicationMode.Received, 0);
        a.Core.Receive(new AppendMessage(1, LogPosition.Zero, RecordBatch.Encode(Entries(1, 1, 5)), OwnerAcknowledged: 4));
        Assert.That(a.Core.KnownOwnerDurable, Is.EqualTo(4));
        a.Core.Receive(new AppendMessage(1, new LogPosition(1, 5), RecordBatch.Empty, OwnerAcknowledged: 5, OwnerDurable: 3));
        Assert.That(a.Core.KnownOwnerDurable, Is.EqualTo(3));

        // On the wire: carried when known, absent (read back as not sent) otherwise.
        var sent = new AppendMessage(1, new LogPosition(1, 5), RecordBatch.Empty, OwnerAcknowledged: 5, OwnerDurable: 3);
        Assert.That(((AppendMessage)HaKit.Replication.Transport.FrameCodec.Decode(HaKit.Replication.Transport.FrameCodec.Encode(sent))!).OwnerDurable, Is.EqualTo(3));
        var older = sent with { OwnerDurable = -1 };
        Assert.That(((AppendMessage)HaKit.Replication.Transport.FrameCodec.Decode(HaKit.Replication.Transport.FrameCodec.Encode(older))!).OwnerDurable, Is.EqualTo(-1));
    }
}
