using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;

namespace HaKit.Replication.Tests;

/// <summary>
/// Two owners of one epoch, compared under a later epoch (docs/replication.md, "Two owners of one epoch"): HaKit's epoch is not
/// unique to one owner in TwoNode mode, so the replication term is the epoch and its writer. A node keeps the epochs it wrote
/// entries in; an owner sends the earlier ones with every append; a standby that wrote entries in one of them too cuts its own
/// (they are not the owner's, although their positions match) and hands them to the divergence callback.
/// </summary>
public sealed class TwoOwnersOfOneEpochTests
{
    /// <summary>a and b hold w1, w2 of epoch 2, then both are made owner of epoch 3 while cut off from each other and each appends.</summary>
    private static CorePair SplitInEpoch3(ReplicationMode mode)
    {
        var pair = new CorePair(mode);
        pair.Connect();
        pair.A.Core.BecomeOwner(2);
        pair.A.Append("w1");
        pair.A.Append("w2");
        pair.Settle();
        pair.Disconnect();
        Assert.That(pair.A.Core.BecomeOwner(3), Is.True);
        Assert.That(pair.B.Core.BecomeOwner(3), Is.True);
        pair.A.Append("a3");
        pair.A.Append("a4");
        pair.A.Step();
        pair.B.Append("b3");
        pair.B.Append("b4");
        pair.B.Step();
        return pair;
    }

    private static string[] Texts(ReplicationCore core) =>
        [.. Enumerable.Range(1, (int)core.Log.Last.Index).Select(i => CoreNode.Text(core.Log.Get(i)))];

    [TestCase(ReplicationMode.Durable)]
    [TestCase(ReplicationMode.Async)]
    public void The_loser_of_a_shared_epoch_cuts_its_own_entries_of_it_when_it_follows_the_winner_in_a_later_epoch(ReplicationMode mode)
    {
        var pair = SplitInEpoch3(mode);
        pair.A.Core.BecomeStandby("split brain resolved: b keeps the group");
        pair.A.Step();
        pair.B.Core.BecomeStandby("b's resources restarted");
        Assert.That(pair.B.Core.BecomeOwner(5), Is.True, "b moves on to epoch 5 before a follows it");
        pair.B.Append("b5");
        pair.B.Step();
        pair.Connect();
        pair.Settle();

        Assert.That(Texts(pair.A.Core), Is.EqualTo(new[] { "w1", "w2", "b3", "b4", "b5" }), "a holds b's history, not its own entries of epoch 3 at b's positions");
        Assert.That(pair.A.AppliedEntries.Select(CoreNode.Text), Is.EqualTo(new[] { "w1", "w2", "b3", "b4", "b5" }), "a's state is b's");
        Assert.That(pair.A.Diverged.SelectMany(d => d.Entries).Select(CoreNode.Text), Is.EqualTo(new[] { "a3", "a4" }),
            "a's own entries of epoch 3 are handed to the divergence callback");
        Assert.That(pair.A.PersistedOwned, Is.EqualTo((0L, 0L)), "a no longer claims entries of epoch 3");
        if (mode == ReplicationMode.Async)
        {
            Assert.That(pair.A.Acknowledged, Has.Some.GreaterThanOrEqualTo(4L), "in Async mode a had acknowledged them: the callback is how the host hears of the loss");
        }
    }

    [Test]
    public void The_winner_cuts_its_own_entries_of_the_shared_epoch_when_the_loser_moves_on_and_the_winner_follows_it()
    {
        var pair = SplitInEpoch3(ReplicationMode.Durable);
        pair.B.Core.BecomeStandby("b gives the group up");
        pair.B.Step();
        pair.A.Core.BecomeStandby("a's resources restarted");
        Assert.That(pair.A.Core.BecomeOwner(5), Is.True, "a takes epoch 5 without following b");
        pair.A.Append("a5");
        pair.A.Step();
        pair.Connect();
        pair.Settle();

        Assert.That(Texts(pair.B.Core), Is.EqualTo(new[] { "w1", "w2", "a3", "a4", "a5" }), "b holds a's history");
        Assert.That(pair.B.Diverged.SelectMany(d => d.Entries).Select(CoreNode.Text), Is.EqualTo(new[] { "b3", "b4" }));
        Assert.That(pair.A.Diverged, Is.Empty, "the owner cuts nothing");
    }

    [Test]
    public void An_ordinary_failover_cuts_nothing_the_owner_holds()
    {
        // a owns 2 and b follows; b owns 3 and a follows; a owns 4 again and b follows: a's earlier epoch 2 is sent with every
        // append, but b never wrote entries in epoch 2 (it followed a), so nothing is cut.
        var pair = new CorePair(ReplicationMode.Durable);
        pair.Connect();
        pair.A.Core.BecomeOwner(2);
        pair.A.Append("w1");
        pair.Settle();
        pair.A.Core.BecomeStandby("handover");
        pair.B.Core.BecomeOwner(3);
        pair.B.Append("w2");
        pair.Settle();
        pair.B.Core.BecomeStandby("handover");
        pair.A.Core.BecomeOwner(4);
        pair.A.Append("w3");
        pair.Settle();

        Assert.That(pair.A.Core.OwnerEarlierEpochs, Is.EqualTo(new[] { 2L }), "a wrote entries in epoch 2, still in its log");
        Assert.That(Texts(pair.B.Core), Is.EqualTo(new[] { "w1", "w2", "w3" }));
        Assert.That(pair.A.Diverged.Concat(pair.B.Diverged), Is.Empty);
        Assert.That(pair.B.AppliedEntries.Select(CoreNode.Text), Is.EqualTo(new[] { "w1", "w2", "w3" }));
    }

    [Test]
    public void A_restarted_loser_still_knows_an_earlier_epoch_it_wrote_in()
    {
        // a owned epoch 3 alongside b, then owned epoch 4 without following b (so epoch 3 is an earlier owned epoch), and restarts.
        var pair = SplitInEpoch3(ReplicationMode.Durable);
        pair.A.Core.BecomeStandby("restart");
        Assert.That(pair.A.Core.BecomeOwner(4), Is.True);
        pair.A.Append("a5");
        pair.A.Step();
        Assert.That(pair.A.PersistedOwned, Is.EqualTo((4L, 4L)));
        Assert.That(pair.A.PersistedEarlierOwned, Is.EqualTo(new[] { (2L, 0L), (3L, 2L) }), "epochs 2 and 3 are kept with the index its own entries of each follow");

        var restarted = new CoreNode("a", ReplicationMode.Durable, 4, 1 << 20, 1 << 16, pair.A.Core.Log.Range(1, pair.A.Core.Log.Last.Index).ToArray(),
            new OwnedEpochs(pair.A.PersistedOwned.Epoch, pair.A.PersistedOwned.From, pair.A.PersistedEarlierOwned));
        restarted.Core.PeerUp();
        // b, owner of epoch 6 with epoch 3 among its earlier epochs, probes after its entry b4 at (3, 4).
        restarted.Core.Receive(new AppendMessage(6, new LogPosition(3, 4), RecordBatch.Empty, 0, false, [3]));
        restarted.Drain();

        Assert.That(restarted.Diverged.SelectMany(d => d.Entries).Select(CoreNode.Text), Is.EqualTo(new[] { "a3", "a4", "a5" }),
            "its own entries of epoch 3 and everything after them are cut before positions are compared");
        Assert.That(restarted.Core.Log.Last, Is.EqualTo(new LogPosition(2, 2)));
        Assert.That(restarted.PersistedEarlierOwned, Is.EqualTo(new[] { (2L, 0L) }), "epoch 3's claim went with its entries; epoch 2's entries are still its own");
        Assert.That(restarted.PersistedOwned, Is.EqualTo((0L, 0L)), "so did epoch 4's, below the epoch seen");
    }

    [Test]
    public void The_owned_epoch_file_keeps_earlier_epochs_and_reads_the_single_pair_file_of_earlier_releases()
    {
        var directory = Directory.CreateTempSubdirectory("hakit-owned-").FullName;
        try
        {
            OwnedEpochFile.Write(directory, 7, 40);
            var old = OwnedEpochFile.Read(directory);
            Assert.That(File.ReadAllBytes(Path.Combine(directory, "owned")), Has.Length.EqualTo(20), "one pair: the earlier releases' format");
            Assert.That((old.Epoch, old.From, old.Earlier), Is.EqualTo((7L, 40L, Array.Empty<(long, long)>())));

            OwnedEpochFile.Write(directory, 9, 70, [(3, 10), (7, 40)]);
            var read = OwnedEpochFile.Read(directory);
            Assert.That((read.Epoch, read.From), Is.EqualTo((9L, 70L)));
            Assert.That(read.Earlier, Is.EqualTo(new[] { (3L, 10L), (7L, 40L) }));

            var bytes = File.ReadAllBytes(Path.Combine(directory, "owned"));
            bytes[20] ^= 1;
            File.WriteAllBytes(Path.Combine(directory, "owned"), bytes);
            Assert.That(() => OwnedEpochFile.Read(directory), Throws.TypeOf<ReplicationLogCorruptException>());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
