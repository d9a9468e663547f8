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
    public void Received_acknowledges_once_written_locally_and_held_by_the_peer_without_waiting_for_either_fdatasync()
    {
        // DRBD protocol B: the owner's local write handed to the OS (not flushed) and the peer's receipt.
        var pair = new CorePair(ReplicationMode.Received);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.Settle();
        pair.A.AutoDurable = false;
        pair.B.AutoDurable = false;
        pair.A.Append("x");
        pair.A.Step();
        Assert.That(pair.A.Core.Written, Is.EqualTo(1), "the owner asked for the write");
        Assert.That(pair.A.AckedUpTo, Is.Zero, "written locally, but the peer has not answered");
        pair.B.Step();
        pair.A.Step();
        Assert.That(pair.A.Core.Durable, Is.Zero, "the owner did not fdatasync it");
        Assert.That(pair.B.Core.Durable, Is.Zero, "the peer did not write it");
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1));
        Assert.That(pair.A.Log, Is.EqualTo(new[] { "ack 1" }));
        Assert.That(pair.A.AppliedEntries.Select(e => e.Index), Is.EqualTo(new long[] { 1 }), "applied once acknowledged (read-your-writes)");
    }

    [Test]
    public void Received_never_acknowledges_before_the_owners_write_command_was_issued()
    {
        // The owner's persist command precedes its send in the same pump, so even an instant peer answer cannot acknowledge an
        // entry the owner did not write; Async still waits for the owner's fdatasync.
        foreach (var mode in new[] { ReplicationMode.Received, ReplicationMode.Async })
        {
            var pair = new CorePair(mode);
            pair.Connect();
            pair.A.Core.BecomeOwner(1);
            pair.Settle();
            pair.A.AutoDurable = false;
            pair.A.Append("x");
            pair.A.Core.Pump();
            var outputs = pair.A.Core.Outputs.ToList();
            var persistAt = outputs.FindIndex(c => c is PersistEntriesCommand);
            var sendAt = outputs.FindIndex(c => c is SendCommand { Message: AppendMessage { Batch.Count: > 0 } });
            Assert.That(persistAt, Is.GreaterThanOrEqualTo(0).And.LessThan(sendAt), $"{mode}: the write is issued before the send");
            pair.A.Drain();
            pair.Settle();
            Assert.That(pair.A.Core.PeerReceived, Is.EqualTo(1));
            Assert.That(pair.A.AckedUpTo, Is.EqualTo(mode == ReplicationMode.Received ? 1 : 0), $"{mode}");
        }
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

        var chunk = CoreNode.ChunkBytes(0, 40);
        standby.Core.Receive(new SnapshotChunkMessage(4, new LogPosition(4, 10), 0, 40, chunk, HaKit.Replication.Storage.Crc32C.Compute(chunk)));
        standby.Drain();
        Assert.That(standby.Incoming, Is.Null, "no snapshot chunk from a lower epoch is written");
        Assert.That(standby.Core.Snapshot, Is.EqualTo(LogPosition.Zero), "nor a snapshot from a lower epoch installed");
        Assert.That(standby.Sent.OfType<RejectMessage>().Count(r => r.Reason == RejectReason.StaleEpoch), Is.EqualTo(2));
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

        // The owner compacts what its peer holds durably; then the peer's disk is replaced by an empty one.
        var pair2 = new CorePair(ReplicationMode.Async);
        pair2.Connect();
        pair2.B.Core.BecomeOwner(1);
        for (var i = 1; i <= 10; i++)
        {
            pair2.B.Append($"e{i}");
        }

        pair2.Settle();
        pair2.B.Core.SnapshotTaken(new LogPosition(1, 8));
        pair2.B.Drain();
        Assert.That(pair2.B.Core.Log.Base, Is.EqualTo(new LogPosition(1, 8)));
        pair2.ReplaceA();
        pair2.B.Append("e11");
        pair2.B.Step();
        pair2.Connect();
        pair2.Settle();
        Assert.That(pair2.B.SnapshotsSent, Is.EqualTo(1));
        Assert.That(pair2.A.Core.Snapshot, Is.EqualTo(new LogPosition(1, 8)));
        Assert.That(pair2.A.Core.Last, Is.EqualTo(new LogPosition(1, 11)));
        Assert.That(pair2.A.Core.Durable, Is.EqualTo(11));
        Assert.That(pair2.B.Core.PeerDurable, Is.EqualTo(11));
    }

    [Test]
    public void A_standby_compacts_only_what_it_knows_the_owner_acknowledged_so_a_later_divergence_still_reaches_the_callback()
    {
        // b applies e1..e10 (durable on b); the owner a acknowledged only up to 5 when b snapshots at 10.
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.A.AutoDurable = false;
        for (var i = 1; i <= 5; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.Settle();
        pair.A.MakeDurable();
        pair.Settle();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(5));
        for (var i = 6; i <= 10; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.Settle();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(5), "a has not made 6..10 durable itself");
        Assert.That(pair.B.Core.Applied, Is.EqualTo(10), "b applies what is durable on b");
        pair.B.Core.SnapshotTaken(new LogPosition(1, 10));
        pair.B.Drain();
        Assert.That(pair.B.Core.Log.Base.Index, Is.EqualTo(5), "b keeps 6..10: the owner has not acknowledged them");

        // a crashes before its fdatasync (6..10 lost) and owns epoch 2 with a different 6: b's 6..10 diverge.
        var a2 = new CoreNode("a", ReplicationMode.Durable, 1, 1 << 20, 1 << 16, pair.A.Core.Log.Range(1, 5).ToArray(), new OwnedEpochs(1, 0));
        pair.Disconnect();
        a2.Core.BecomeOwner(2);
        a2.Append("e6'");
        a2.Step();
        a2.Peer = pair.B;
        pair.B.Peer = a2;
        a2.Connected = pair.B.Connected = true;
        a2.Core.PeerUp();
        pair.B.Core.PeerUp();
        for (var round = 0; round < 50; round++)
        {
            a2.Step();
            pair.B.Step();
        }

        var cut = pair.B.Diverged.SelectMany(d => d.Entries).Select(CoreNode.Text).ToArray();
        Assert.That(cut, Is.EqualTo(new[] { "e6", "e7", "e8", "e9", "e10" }), "the entries b applied and a's history lost reach the callback");
        Assert.That(pair.B.Core.Last, Is.EqualTo(new LogPosition(2, 6)));
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
    // Regression for the lost acknowledged write of the SIGKILL test (issue 11): the restarted node's HaKit proposed the epoch the
    // other node already owned (its view of the epoch lagged the replication stream under load), its replication accepted it
    // (only a lower epoch was refused), and two owners then wrote different entries under the same (epoch, index). The node that
    // went back to following skipped the new owner's entries as "already held" (log matching compares positions), acknowledged
    // them as durable, and lost them when it took over later.
    [Test]
    public void A_node_that_followed_the_owner_of_an_epoch_refuses_to_own_that_epoch()
    {
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        Assert.That(pair.A.Core.BecomeOwner(3), Is.True);
        pair.A.Append("w1");
        pair.Settle();
        Assert.That(pair.B.Core.SeenEpoch, Is.EqualTo(3));
        Assert.That(pair.B.Core.BecomeOwner(3), Is.False, "epoch 3 has an owner (a), which b followed");
        Assert.That(pair.B.Core.Role, Is.EqualTo(ReplicaRole.Standby));
        Assert.That(pair.B.Core.BecomeOwner(4), Is.True, "a later epoch is the normal takeover");
    }

    [Test]
    public void A_node_that_gave_up_its_own_epoch_may_own_it_again_if_it_followed_no_one_in_it()
    {
        var pair = new CorePair(ReplicationMode.Durable);
        Assert.That(pair.A.Core.BecomeOwner(3), Is.True);
        pair.A.Drain();
        Assert.That(pair.A.PersistedOwned, Is.EqualTo((3L, 0L)), "the marker is persisted for a restart");
        pair.A.Core.BecomeStandby("resource restarted");
        Assert.That(pair.A.Core.BecomeOwner(3), Is.True, "a resource restarted in place keeps its epoch");
    }

    [Test]
    public void No_acknowledged_entry_is_lost_when_two_nodes_were_made_owner_in_one_epoch()
    {
        // a and b own epoch 2's history up to w2; both are then made owner of epoch 3 while cut off from each other (b's view of the
        // epoch lagged), each appends, a gives up and follows b. a's own epoch-3 entry carries b's positions but is not b's.
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        pair.A.Core.BecomeOwner(2);
        pair.A.Append("w1");
        pair.A.Append("w2");
        pair.Settle();
        pair.Disconnect();
        Assert.That(pair.A.Core.BecomeOwner(3), Is.True);
        Assert.That(pair.B.Core.BecomeOwner(3), Is.True);
        pair.A.Append("a-unacknowledged");
        pair.A.Step();
        pair.B.Append("b3");
        pair.B.Append("b4");
        pair.B.Step();
        pair.A.Core.BecomeStandby("split brain resolved: b keeps the group");
        pair.A.Step();
        pair.Connect();
        pair.Settle();

        Assert.That(pair.B.AckedUpTo, Is.EqualTo(4), "b3 and b4 are acknowledged once a holds them durably");
        var a = pair.A.Core.Log;
        var b = pair.B.Core.Log;
        for (var i = 1; i <= pair.B.AckedUpTo; i++)
        {
            Assert.That(CoreNode.Text(a.Get(i)), Is.EqualTo(CoreNode.Text(b.Get(i))), $"index {i}: the follower holds the owner's entry");
        }

        Assert.That(pair.A.AppliedEntries.Select(CoreNode.Text), Is.EqualTo(new[] { "w1", "w2", "b3", "b4" }), "a's state is b's history");
        Assert.That(pair.A.Diverged.SelectMany(d => d.Entries).Select(CoreNode.Text), Is.EqualTo(new[] { "a-unacknowledged" }),
            "a's own entry of epoch 3 is cut and handed to the callback");
        Assert.That(pair.A.PersistedOwned, Is.EqualTo((0L, 0L)), "following b in epoch 3, a no longer owns it");
        Assert.That(pair.A.Core.BecomeOwner(3), Is.False, "and may not own it again");

        // b dies; a takes over in a later epoch with every acknowledged entry.
        Assert.That(pair.A.Core.BecomeOwner(4), Is.True);
        Assert.That(pair.A.Core.Log.Last.Index, Is.EqualTo(4));
    }

    [Test]
    public void A_restarted_node_cuts_its_own_entries_when_it_follows_a_second_owner_of_its_epoch()
    {
        // a owned epoch 3 before a restart (persisted marker: its own entries follow index 1); b was made owner of epoch 3 too.
        var a = new CoreNode("a", ReplicationMode.Durable, 3, 1 << 20, 1 << 16,
            [new LogEntry(new LogPosition(2, 1), "w1"u8.ToArray()), new LogEntry(new LogPosition(3, 2), "a-own"u8.ToArray())], (3, 1));
        var b = new CoreNode("b", ReplicationMode.Durable, 2, 1 << 20, 1 << 16, [new LogEntry(new LogPosition(2, 1), "w1"u8.ToArray())], default);
        a.Peer = b;
        b.Peer = a;
        var pair = new[] { a, b };
        Assert.That(a.Core.BecomeOwner(3), Is.True, "its own epoch, followed by no one since");
        a.Core.BecomeStandby("split brain lost");
        Assert.That(b.Core.BecomeOwner(3), Is.True);
        b.Append("b2");
        a.Connected = b.Connected = true;
        a.Core.PeerUp();
        b.Core.PeerUp();
        for (var i = 0; i < 50; i++)
        {
            foreach (var node in pair)
            {
                node.Step();
            }
        }

        Assert.That(b.AckedUpTo, Is.EqualTo(2));
        Assert.That(CoreNode.Text(a.Core.Log.Get(2)), Is.EqualTo("b2"), "a holds b's acknowledged entry, not its own");
        Assert.That(a.Diverged.SelectMany(d => d.Entries).Select(CoreNode.Text), Is.EqualTo(new[] { "a-own" }));
    }

    [Test]
    public void Two_owners_of_one_epoch_on_a_live_stream_resume_replication_when_one_gives_up()
    {
        // Both are made owner of epoch 3 while connected: each ignores the other's probe (no answer). When a gives up, b must
        // probe again; before, b waited for an answer that never came and acknowledged nothing until the stream was re-made.
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        Assert.That(pair.A.Core.BecomeOwner(3), Is.True);
        Assert.That(pair.B.Core.BecomeOwner(3), Is.True);
        pair.A.Append("a1");
        pair.B.Append("b1");
        pair.B.Append("b2");
        pair.Settle();
        Assert.That(pair.B.AckedUpTo, Is.Zero, "a owner does not follow another owner of its epoch");
        pair.A.Core.BecomeStandby("split brain lost");
        pair.A.Drain();
        pair.Settle();
        Assert.That(pair.B.AckedUpTo, Is.EqualTo(2));
        Assert.That(pair.A.Core.Log.Last.Index, Is.EqualTo(2));
        Assert.That(CoreNode.Text(pair.A.Core.Log.Get(1)), Is.EqualTo("b1"));
        Assert.That(pair.A.Diverged.SelectMany(d => d.Entries).Select(CoreNode.Text), Is.EqualTo(new[] { "a1" }));
    }
}
