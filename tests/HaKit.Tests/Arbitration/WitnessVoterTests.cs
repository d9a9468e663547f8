using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Wire.Proto;

namespace HaKit.Tests.Arbitration;

/// <summary>A node's side of Witness mode without I/O: majority rounds, retries, releases, answers to the peer.</summary>
[TestFixture]
public class WitnessVoterTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Ready = Ttl;

    /// <summary>Two voters and a witness grantor wired by hand: messages wait in queues until delivered.</summary>
    private sealed class Pair
    {
        public readonly List<(string From, VoteTarget To, ClusterMessage Message)> Sent = [];
        public readonly List<(string Voter, ulong Round)> Timeouts = [];
        public readonly LeaseGrantor Witness = new("witness", TimeSpan.Zero, Ttl);
        public readonly WitnessVoter A;
        public readonly WitnessVoter B;

        public readonly List<(string Voter, string Group, TimeSpan After)> Freed = [];

        public Pair(ulong incarnationA = 1)
        {
            A = new WitnessVoter("c", "a", "b", "witness", Ttl, TimeSpan.FromMilliseconds(250), TimeSpan.Zero, (t, m) => Sent.Add(("a", t, m)), (id, _) => Timeouts.Add(("a", id)), incarnationA, (g, d) => Freed.Add(("a", g, d)));
            B = new WitnessVoter("c", "b", "a", "witness", Ttl, TimeSpan.FromMilliseconds(250), TimeSpan.Zero, (t, m) => Sent.Add(("b", t, m)), (id, _) => Timeouts.Add(("b", id)), 1, (g, d) => Freed.Add(("b", g, d)));
        }

        /// <summary>Delivers every queued message (and the answers they cause) whose path is up.</summary>
        public void Deliver(TimeSpan now, bool peerLink = true, bool witnessUp = true)
        {
            while (Sent.Count > 0)
            {
                var (from, to, message) = Sent[0];
                Sent.RemoveAt(0);
                var sender = from == "a" ? A : B;
                if (to == VoteTarget.Peer)
                {
                    if (peerLink)
                    {
                        (from == "a" ? B : A).OnMessage(now, from, message);
                    }
                }
                else if (witnessUp)
                {
                    if (message.BodyCase == ClusterMessage.BodyOneofCase.VoteRequest)
                    {
                        var q = message.VoteRequest;
                        var vote = Witness.Vote(now, "c", q.Group, from, q.Epoch, TimeSpan.FromMilliseconds(q.TtlMs), q.Renew, q.RequestId);
                        sender.OnMessage(now, "witness", new ClusterMessage { VoteReply = WitnessVoter.ToReply(q.RequestId, q.Group, from, vote) });
                    }
                    else if (message.BodyCase == ClusterMessage.BodyOneofCase.VoteRelease)
                    {
                        Witness.Release("c", message.VoteRelease.Group, from, message.VoteRelease.Epoch, message.VoteRelease.RequestId);
                    }
                }
            }
        }
    }

    private static ArbiterRequest Ask(string node, ulong epoch, AcquireReason reason = AcquireReason.Initial) => new("web", node, epoch, reason, []);

    [Test]
    public void The_pair_alone_is_a_majority_without_the_witness()
    {
        var p = new Pair();
        ArbiterDecision? d = null;
        p.A.Ask(Ready, Ask("a", 1), x => d = x);
        Assert.That(d, Is.Null, "one vote of three is not a majority");
        p.Deliver(Ready, witnessUp: false);
        Assert.That(d!.Granted, Is.True);
        Assert.That(d.Epoch, Is.EqualTo(1UL));
        Assert.That(d.LeaseDuration, Is.EqualTo(Ttl));
        Assert.That(d.Explanation, Does.Contain("granted by a and b"));
        Assert.That(p.B.Grantor.HolderOf(Ready, "c", "web")!.Value.Holder, Is.EqualTo("a"), "b's voter holds a's lease");
        Assert.That(p.A.PendingRounds, Is.Zero);
    }

    [Test]
    public void Without_answers_the_round_ends_unavailable_and_gives_its_own_vote_back()
    {
        var p = new Pair();
        ArbiterDecision? d = null;
        p.A.Ask(Ready, Ask("a", 1, AcquireReason.PeerDead), x => d = x);
        p.Deliver(Ready, peerLink: false, witnessUp: false);
        Assert.That(d, Is.Null);
        var round = p.Timeouts.Single().Round;
        p.A.Expire(Ready + TimeSpan.FromMilliseconds(125), round);
        Assert.That(d, Is.Null, "halfway through the wait the round asks again");
        Assert.That(p.Sent.Select(x => (x.To, x.Message.BodyCase)), Is.EquivalentTo(new[] { (VoteTarget.Peer, ClusterMessage.BodyOneofCase.VoteRequest), (VoteTarget.Witness, ClusterMessage.BodyOneofCase.VoteRequest) }));
        Assert.That(p.Timeouts, Has.Count.EqualTo(2));
        p.Deliver(Ready + TimeSpan.FromMilliseconds(125), peerLink: false, witnessUp: false);
        p.A.Expire(Ready + TimeSpan.FromMilliseconds(250), round);
        Assert.That(d!.Unavailable, Is.True);
        Assert.That(d.Explanation, Does.Contain("b did not answer").And.Contain("witness did not answer"));
        Assert.That(p.A.Grantor.HolderOf(Ready, "c", "web"), Is.Null, "a's own vote is given back");
        Assert.That(p.Sent.Count(s => s.Message.BodyCase == ClusterMessage.BodyOneofCase.VoteRelease && s.Message.VoteRelease.RequestId != 0), Is.EqualTo(2),
            "the voters that did not answer get a release naming the request");
    }

    [Test]
    public void A_request_lost_once_is_asked_again_halfway_and_the_round_succeeds()
    {
        var p = new Pair();
        ArbiterDecision? d = null;
        p.A.Ask(Ready, Ask("a", 1), x => d = x);
        p.Deliver(Ready, peerLink: false, witnessUp: false); // both requests lost
        p.A.Expire(Ready + TimeSpan.FromMilliseconds(125), p.Timeouts.Single().Round);
        p.Deliver(Ready + TimeSpan.FromMilliseconds(125), witnessUp: false);
        Assert.That(d!.Granted, Is.True, d.Explanation);
        Assert.That(d.Explanation, Does.Contain("granted by a and b"));
        Assert.That(p.A.PendingRounds, Is.Zero);
    }

    [Test]
    public void A_peer_that_knows_a_higher_epoch_makes_the_round_retry_above_it()
    {
        var p = new Pair();
        p.B.Grantor.Observe("c", "web", 9);
        p.Witness.Observe("c", "web", 9);
        ArbiterDecision? d = null;
        p.A.Ask(Ready, Ask("a", 1), x => d = x);
        p.Deliver(Ready);
        Assert.That(d!.Granted, Is.True, d.Explanation);
        Assert.That(d.Epoch, Is.EqualTo(10UL));
    }

    [Test]
    public void The_witness_refuses_a_second_holder_while_the_first_holds_its_lease()
    {
        var p = new Pair();
        ArbiterDecision? first = null;
        p.A.Ask(Ready, Ask("a", 1), x => first = x);
        p.Deliver(Ready, peerLink: false);
        Assert.That(first!.Granted, Is.True);
        Assert.That(first.Explanation, Does.Contain("granted by a and witness"));

        ArbiterDecision? second = null;
        p.B.Ask(Ready + TimeSpan.FromMilliseconds(100), Ask("b", 2, AcquireReason.PeerDead), x => second = x);
        p.Deliver(Ready + TimeSpan.FromMilliseconds(100), peerLink: false);
        Assert.That(second, Is.Null, "b has its own vote and the witness's refusal; a's answer could still make a majority");
        p.B.Expire(Ready + TimeSpan.FromMilliseconds(225), p.Timeouts.Last().Round);
        p.Deliver(Ready + TimeSpan.FromMilliseconds(225), peerLink: false);
        Assert.That(second, Is.Null, "the repeated request is refused again; a's answer is still missing");
        p.B.Expire(Ready + TimeSpan.FromMilliseconds(350), p.Timeouts.Last().Round);
        Assert.That(second!.Granted, Is.False);
        Assert.That(second.Explanation, Does.Contain("witness refused: voter witness granted group web to a"));
        // The witness said a's lease runs 1900 ms more (granted at Ready, refused at Ready + 100 ms): b is told to ask again then.
        Assert.That(p.Freed, Is.EqualTo(new[] { ("b", "web", TimeSpan.FromMilliseconds(1900 + 10)) }));
    }

    [Test]
    public void A_renewal_keeps_the_epoch_it_holds_and_a_release_frees_every_voter()
    {
        var p = new Pair();
        ArbiterDecision? d = null;
        p.A.Ask(Ready, Ask("a", 4), x => d = x);
        p.Deliver(Ready);
        p.A.Ask(Ready + TimeSpan.FromMilliseconds(600), Ask("a", 99, AcquireReason.Renew), x => d = x);
        p.Deliver(Ready + TimeSpan.FromMilliseconds(600));
        Assert.That(d!.Granted, Is.True);
        Assert.That(d.Epoch, Is.EqualTo(4UL), "a renewal asks for the held epoch");

        p.A.Release("web");
        p.Deliver(Ready + TimeSpan.FromMilliseconds(700));
        var at = Ready + TimeSpan.FromMilliseconds(700);
        Assert.That(p.A.Grantor.HolderOf(at, "c", "web"), Is.Null);
        Assert.That(p.B.Grantor.HolderOf(at, "c", "web"), Is.Null);
        Assert.That(p.Witness.HolderOf(at, "c", "web"), Is.Null);
    }

    [Test]
    public void A_handover_target_ends_the_old_owners_lease_at_its_own_voter()
    {
        var p = new Pair();
        p.A.Ask(Ready, Ask("a", 1), _ => { });
        p.Deliver(Ready);
        Assert.That(p.B.Grantor.HolderOf(Ready, "c", "web"), Is.Not.Null);

        ArbiterDecision? d = null;
        p.B.Ask(Ready + TimeSpan.FromMilliseconds(50), Ask("b", 2, AcquireReason.Handoff), x => d = x);
        // a's release is still on its way: only a's vote (it stopped and released its own) and b's count.
        p.A.Release("web");
        p.Deliver(Ready + TimeSpan.FromMilliseconds(50), witnessUp: false);
        Assert.That(d!.Granted, Is.True, d.Explanation);
        Assert.That(d.Epoch, Is.EqualTo(2UL));
    }

    [Test]
    public void Only_the_peer_may_ask_or_release_and_replies_from_an_earlier_process_do_not_count()
    {
        var p = new Pair(incarnationA: 2);
        var fromWitness = new ClusterMessage { VoteRequest = new VoteRequest { RequestId = 1, Group = "web", Epoch = 1, TtlMs = 2000 } };
        Assert.That(p.B.OnMessage(Ready, "witness", fromWitness), Is.False);
        Assert.That(p.Sent, Is.Empty);

        ArbiterDecision? d = null;
        p.A.Ask(Ready, Ask("a", 1), x => d = x);
        var stale = new VoteReply { RequestId = (1UL << 20) + 1, Group = "web", Granted = true, HighestEpoch = 1, To = "a" }; // incarnation 1's first round
        p.A.OnMessage(Ready, "b", new ClusterMessage { VoteReply = stale });
        Assert.That(d, Is.Null, "a grant for an earlier process's request must not count");
    }
}
