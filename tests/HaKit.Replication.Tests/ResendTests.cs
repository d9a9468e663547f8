using HaKit.Replication.Protocol;

namespace HaKit.Replication.Tests;

/// <summary>The owner's resend of entries a live stream never answered (issue 11: a stream that makes no progress while connected
/// is detected and recovered, whatever lost the message).</summary>
public sealed class ResendTests
{
    private static readonly TimeSpan ResendAfter = TimeSpan.FromSeconds(2);

    private static CorePair ReceivedPairInSync()
    {
        var pair = new CorePair(ReplicationMode.Received);
        pair.A.Core.ResendAfter = ResendAfter;
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.Settle();
        pair.A.Append("a");
        pair.Settle();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(1), "the pair replicates before the loss");
        return pair;
    }

    private static void Tick(CoreNode node, TimeSpan now)
    {
        node.Core.Tick(now);
        node.Drain();
        node.Step();
    }

    [Test]
    public void A_batch_lost_on_a_live_stream_is_sent_again_after_ResendAfter_and_acknowledged()
    {
        var pair = ReceivedPairInSync();
        pair.A.Append("b");
        pair.A.Append("c");
        pair.A.Step();
        Assert.That(pair.B.Inbox.OfType<AppendMessage>().Sum(m => m.Batch.Count), Is.EqualTo(2));
        pair.B.Inbox.Clear(); // lost, the stream stays up

        Tick(pair.A, TimeSpan.Zero);
        Tick(pair.A, ResendAfter - TimeSpan.FromMilliseconds(1));
        Assert.That(pair.B.Inbox, Is.Empty, "nothing resent before ResendAfter");
        Assert.That(pair.A.Core.Resends, Is.Zero);

        Tick(pair.A, ResendAfter);
        Assert.That(pair.A.Core.Resends, Is.EqualTo(1));
        Assert.That(pair.B.Inbox.OfType<AppendMessage>().Single().LastIndex, Is.EqualTo(3), "resent from the peer's last acknowledged position");
        pair.B.Step();
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(3));
        Assert.That(pair.B.Core.Last.Index, Is.EqualTo(3));

        Tick(pair.A, ResendAfter * 3);
        Assert.That(pair.A.Core.Resends, Is.EqualTo(1), "nothing waits: no further resend");
    }

    [Test]
    public void Entries_resent_after_a_lost_ack_are_answered_although_the_peer_holds_them()
    {
        var pair = ReceivedPairInSync();
        pair.A.Append("b");
        pair.A.Step();
        pair.B.Step();
        Assert.That(pair.A.Inbox.OfType<AckMessage>(), Is.Not.Empty);
        pair.A.Inbox.Clear(); // the ack is lost; the peer holds the entry

        Tick(pair.A, TimeSpan.Zero);
        Tick(pair.A, ResendAfter);
        Assert.That(pair.A.Core.Resends, Is.EqualTo(1));
        pair.B.Step();
        Assert.That(pair.A.Inbox.OfType<AckMessage>().Select(a => a.Received), Has.Member(2L), "a duplicate batch is answered");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(2));
    }

    [Test]
    public void An_owner_whose_peer_answers_keeps_streaming_without_resends()
    {
        var pair = ReceivedPairInSync();
        for (var i = 0; i < 20; i++)
        {
            pair.A.Append($"e{i}");
            pair.A.Step();
            Tick(pair.A, TimeSpan.FromSeconds(i));
            pair.B.Step();
            pair.A.Step();
        }

        Assert.That(pair.A.AckedUpTo, Is.EqualTo(21));
        Assert.That(pair.A.Core.Resends, Is.Zero);
    }
}
