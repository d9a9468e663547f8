using HaKit.Replication.Protocol;

namespace HaKit.Replication.Tests;

public sealed class ReplicationCoreTests
{
    [Test]
    public void Async_acknowledges_after_the_local_durable_write_without_the_peer()
    {
        var pair = new CorePair(ReplicationMode.Async);
        pair.A.Core.BecomeOwner(1);
        pair.A.AutoDurable = false;
        pair.A.Append("x");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.Zero, "not before the local fdatasync");
        pair.A.MakeDurable();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1));
        Assert.That(pair.A.AppliedEntries.Select(e => e.Index), Is.EqualTo(new long[] { 1 }), "the owner applies what is acknowledged");
    }

    [Test]
    public void Received_acknowledges_when_the_peer_holds_the_entry_before_its_disk_write()
    {
        var pair = new CorePair(ReplicationMode.Received);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.B.AutoDurable = false;
        pair.A.Append("x");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.Zero, "durable locally but the peer has not answered");
        pair.B.Step();
        pair.A.Step();
        Assert.That(pair.B.Core.Durable, Is.Zero, "the peer did not write it yet");
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1));
    }

    [Test]
    public void Received_does_not_acknowledge_before_the_owners_own_durable_write()
    {
        var pair = new CorePair(ReplicationMode.Received);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.A.AutoDurable = false;
        pair.A.Append("x");
        pair.Settle();
        Assert.That(pair.A.Core.PeerReceived, Is.EqualTo(1));
        Assert.That(pair.A.AckedUpTo, Is.Zero);
        pair.A.MakeDurable();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1));
    }

    [Test]
    public void Durable_is_not_acknowledged_before_the_peers_fdatasync()
    {
        // The planted bug of the issue ("acknowledge Durable before the peer's fsync") makes this fail.
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.B.AutoDurable = false;
        pair.A.Append("x");
        pair.Settle();
        Assert.That(pair.A.Core.PeerReceived, Is.EqualTo(1));
        Assert.That(pair.A.Core.Durable, Is.EqualTo(1));
        Assert.That(pair.A.AckedUpTo, Is.Zero, "the peer holds it only in memory");
        pair.B.MakeDurable();
        pair.Settle();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1));
    }

    [Test]
    public void Durable_sends_to_the_peer_before_the_local_write_is_durable()
    {
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.Settle();
        pair.A.AutoDurable = false;
        pair.A.Append("x");
        pair.A.Step();
        var appends = pair.A.Sent.OfType<AppendMessage>().Where(m => m.Batch.Count > 0).ToList();
        Assert.That(appends, Has.Count.EqualTo(1), "sent in the same step as the local write was requested");
        Assert.That(pair.A.Written, Is.EqualTo(1));
        Assert.That(pair.A.Core.Durable, Is.Zero);
    }

    [Test]
    public void A_node_refuses_entries_from_an_epoch_lower_than_it_has_seen()
    {
        // The planted bug of the issue ("accept a lower epoch") makes this fail.
        var standby = new CoreNode("b", seenEpoch: 5);
        standby.Connected = true;
        standby.Core.PeerUp();
        standby.Core.Receive(new AppendMessage(3, LogPosition.Zero, RecordBatch.Encode([new LogEntry(new LogPosition(3, 1), "stale"u8.ToArray())])));
        standby.Drain();
        Assert.That(standby.Core.Last, Is.EqualTo(LogPosition.Zero), "nothing was written");
        Assert.That(standby.Written, Is.Zero);
        var reject = standby.Sent.OfType<RejectMessage>().Single();
        Assert.That(reject.Reason, Is.EqualTo(RejectReason.StaleEpoch));
        Assert.That(reject.Epoch, Is.EqualTo(5));

        standby.Core.Receive(new SnapshotMessage(4, new LogPosition(4, 10), "s"u8.ToArray()));
        standby.Drain();
        Assert.That(standby.Core.Snapshot, Is.EqualTo(LogPosition.Zero), "nor a snapshot from a lower epoch");
    }

    [Test]
    public void A_deposed_owner_learns_the_higher_epoch_from_the_refusal_and_fails_its_waiting_appends()
    {
        var pair = new CorePair(ReplicationMode.Durable);
        pair.A.Core.BecomeOwner(1);
        pair.B.Core.BecomeOwner(2);
        pair.B.Core.BecomeStandby("test");
        pair.A.Append("late");
        pair.Connect();
        pair.Settle();
        Assert.That(pair.A.Core.Role, Is.EqualTo(ReplicaRole.Standby));
        Assert.That(pair.A.Core.SeenEpoch, Is.EqualTo(2));
        Assert.That(pair.A.PersistedEpoch, Is.EqualTo(2), "the epoch is persisted before acting on it");
        Assert.That(pair.A.Failed, Has.Count.EqualTo(1));
        Assert.That(pair.B.Core.Last, Is.EqualTo(LogPosition.Zero), "the deposed owner's entry did not reach the other log");
    }

    [Test]
    public void Becoming_owner_in_an_epoch_lower_than_seen_is_refused()
    {
        var node = new CoreNode("a", seenEpoch: 7);
        Assert.That(node.Core.BecomeOwner(6), Is.False);
        Assert.That(node.Core.Role, Is.EqualTo(ReplicaRole.Standby));
        Assert.That(node.Core.BecomeOwner(8), Is.True);
        node.Drain();
        Assert.That(node.PersistedEpoch, Is.EqualTo(8));
    }

    [Test]
    public void The_standby_applies_entries_in_order_once_durable()
    {
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        for (var i = 1; i <= 20; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.Settle();
        Assert.That(pair.B.AppliedEntries.Select(CoreNode.Text), Is.EqualTo(Enumerable.Range(1, 20).Select(i => $"e{i}")));
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(20));
    }

    [Test]
    public void A_lagging_standby_catches_up_in_batches_within_the_in_flight_budget()
    {
        var pair = new CorePair(ReplicationMode.Async, maxInFlight: 2000, maxBatch: 1000);
        pair.A.Core.BecomeOwner(1);
        for (var i = 1; i <= 300; i++)
        {
            pair.A.Append($"entry-{i:D4}-" + new string('p', 40));
        }

        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(300), "Async does not wait for the peer");
        pair.Connect();

        // Step the owner alone: it may not send more than the in-flight budget before the standby answers.
        pair.A.Step();
        pair.A.Step();
        var inFlight = pair.B.Inbox.OfType<AppendMessage>().Sum(m => m.Batch.PayloadBytes);
        Assert.That(inFlight, Is.LessThanOrEqualTo(2000));
        pair.Settle();
        Assert.That(pair.B.Core.Last, Is.EqualTo(new LogPosition(1, 300)));
        Assert.That(pair.A.Core.PeerDurable, Is.EqualTo(300));
        Assert.That(pair.A.Sent.OfType<AppendMessage>().Max(m => m.Batch.PayloadBytes), Is.LessThanOrEqualTo(1000));
    }

    [Test]
    public void An_old_owner_that_rejoins_has_its_unreplicated_tail_cut_and_handed_to_the_callback()
    {
        var pair = new CorePair(ReplicationMode.Async);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        for (var i = 1; i <= 3; i++)
        {
            pair.A.Append($"a{i}");
        }

        pair.Settle();
        Assert.That(pair.B.Core.Last, Is.EqualTo(new LogPosition(1, 3)));

        // A goes on writing alone (Async), then B takes over in epoch 2 and writes its own history.
        pair.Disconnect();
        pair.A.Append("a4");
        pair.A.Append("a5");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(5));
        pair.A.Core.BecomeStandby("lost the group");
        pair.B.Core.BecomeOwner(2);
        pair.B.Append("b4");
        pair.B.Append("b5");
        pair.B.Append("b6");
        pair.B.Step();

        pair.Connect();
        pair.Settle();
        Assert.That(pair.A.Diverged, Has.Count.EqualTo(1));
        var cut = pair.A.Diverged[0];
        Assert.That(cut.Kind, Is.EqualTo(DivergenceKind.Conflict));
        Assert.That(cut.OwnerEpoch, Is.EqualTo(2));
        Assert.That(cut.Entries.Select(e => e.Position), Is.EqualTo(new[] { new LogPosition(1, 4), new LogPosition(1, 5) }));
        Assert.That(cut.Entries.Select(CoreNode.Text), Is.EqualTo(new[] { "a4", "a5" }));
        Assert.That(Enumerable.Range(1, 6).Select(i => pair.A.Core.Log.Get(i).Position), Is.EqualTo(Enumerable.Range(1, 6).Select(i => pair.B.Core.Log.Get(i).Position)));
        Assert.That(pair.A.Restores, Is.EqualTo(1), "the applied state went past the divergence point: it is restored and replayed");
        Assert.That(pair.A.AppliedEntries.Select(CoreNode.Text), Is.EqualTo(new[] { "a1", "a2", "a3", "b4", "b5", "b6" }));
    }

    [Test]
    public void Divergence_is_found_across_a_whole_epoch_in_one_round_trip()
    {
        var pair = new CorePair(ReplicationMode.Async);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.A.Append("a1");
        pair.Settle();
        pair.Disconnect();
        for (var i = 2; i <= 50; i++)
        {
            pair.A.Append($"a{i}");
        }

        pair.A.Step();
        pair.A.Core.BecomeStandby("lost");
        pair.B.Core.BecomeOwner(2);
        for (var i = 2; i <= 60; i++)
        {
            pair.B.Append($"b{i}");
        }

        pair.B.Step();
        pair.Connect();
        pair.Settle();
        var mismatches = pair.A.Sent.OfType<RejectMessage>().Count(r => r.Reason == RejectReason.Mismatch);
        Assert.That(mismatches, Is.LessThanOrEqualTo(2));
        Assert.That(pair.A.Diverged.Single().Entries, Has.Count.EqualTo(49));
        Assert.That(pair.A.Core.Last, Is.EqualTo(new LogPosition(2, 60)));
    }

    [Test]
    public void A_standby_behind_the_owners_compaction_installs_its_snapshot_and_continues()
    {
        var pair = new CorePair(ReplicationMode.Async);
        pair.A.Core.BecomeOwner(1);
        for (var i = 1; i <= 10; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.A.Step();

        // No peer has confirmed anything: the owner keeps its log; after the peer confirmed up to 0 only, force compaction
        // by a standby-side snapshot as if the peer had been durable before (compaction bound = min(snapshot, peer durable)).
        pair.A.Core.SnapshotTaken(new LogPosition(1, 8));
        pair.A.Drain();
        Assert.That(pair.A.Core.Log.Base.Index, Is.Zero, "the owner keeps what the peer has not confirmed");

        // A standby compacts freely; make B the owner with a compacted log, A a fresh standby.
        var pair2 = new CorePair(ReplicationMode.Async);
        pair2.B.Core.BecomeOwner(1);
        for (var i = 1; i <= 10; i++)
        {
            pair2.B.Append($"e{i}");
        }

        pair2.B.Step();
        pair2.B.Core.BecomeStandby("to compact");
        pair2.B.Core.SnapshotTaken(new LogPosition(1, 8));
        pair2.B.Drain();
        Assert.That(pair2.B.Core.Log.Base, Is.EqualTo(new LogPosition(1, 8)));
        pair2.B.Core.BecomeOwner(2);
        pair2.B.Append("e11");
        pair2.B.Step();
        pair2.Connect();
        pair2.Settle();
        Assert.That(pair2.B.SnapshotsSent, Is.EqualTo(1));
        Assert.That(pair2.A.Core.Snapshot, Is.EqualTo(new LogPosition(1, 8)));
        Assert.That(pair2.A.Core.Last, Is.EqualTo(new LogPosition(2, 11)));
        Assert.That(pair2.A.Core.Durable, Is.EqualTo(11));
        Assert.That(pair2.B.Core.PeerDurable, Is.EqualTo(11));
    }

    [Test]
    public void The_owner_compacts_only_what_the_peer_has_durably()
    {
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        for (var i = 1; i <= 10; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.Settle();
        pair.Disconnect();
        pair.A.Core.Mode = ReplicationMode.Async;
        for (var i = 11; i <= 15; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.A.Step();
        pair.A.Core.SnapshotTaken(new LogPosition(1, 15));
        var compact = pair.A.Core.Outputs.OfType<CompactCommand>().Single();
        pair.A.Drain();
        Assert.That(compact.UpToIndex, Is.EqualTo(10));
        Assert.That(pair.A.Core.Log.Base.Index, Is.EqualTo(10));
    }

    [Test]
    public void A_reconnecting_standby_resumes_from_its_position_without_resending_everything()
    {
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        for (var i = 1; i <= 5; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.Settle();
        pair.Disconnect();
        for (var i = 6; i <= 8; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(5), "Durable waits for the peer");
        pair.A.Sent.Clear();
        pair.Connect();
        pair.Settle();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(8));
        var resent = pair.A.Sent.OfType<AppendMessage>().SelectMany(m => m.Batch.ToList()).Select(e => e.Index).ToList();
        Assert.That(resent, Is.EqualTo(new long[] { 6, 7, 8 }));
    }
}
