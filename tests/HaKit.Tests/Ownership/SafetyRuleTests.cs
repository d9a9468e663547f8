using HaKit.Arbitration;
using HaKit.Ownership;

namespace HaKit.Tests.Ownership;

/// <summary>
/// Scenario tests that pin one safety rule each, chosen so that the tempting wrong version of the rule fails them (each was a
/// planted bug the other unit tests missed; see docs/testing.md, "Planted bugs").
/// </summary>
[TestFixture]
public class SafetyRuleTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The split-brain rule compares epochs first: the owner with the higher epoch keeps the group even when the other has the
    /// higher priority. (Comparing priority first would keep the stale copy: the one with the older fencing token.)
    /// </summary>
    [Test]
    public void Split_brain_is_won_by_the_higher_epoch_even_against_a_higher_priority()
    {
        var c = new CoreCluster("a", "b");
        c.Priorities["a"] = 200;
        c.Priorities["b"] = 100;
        c.Start();
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a" }));
        Assert.That(c.Epoch("a"), Is.EqualTo(1UL));

        c.CutBoth("a", "b");
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a", "b" }), "TwoNode mode: dual active while every link is cut");
        Assert.That(c.Epoch("b"), Is.EqualTo(2UL), "b (priority 100) took over with the higher epoch");

        c.HealAll();
        c.Run(Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }), "epoch 2 beats epoch 1 whatever the priorities");
        Assert.That(c.EventsOf<SplitBrainDetected>().Select(e => e.Winner), Is.Not.Empty.And.All.EqualTo("b"));
        Assert.That(c.EventsOf<RoleChanged>("a").First(r => r.To == GroupRole.Stopping).Why.Reason, Does.Contain("split brain with b"));
        Assert.That(c.EventsOf<RoleChanged>("b").Where(r => r.To == GroupRole.Stopping), Is.Empty, "the winner never stops");
    }

    /// <summary>
    /// When the loser hears the winner first and stops at once, the winner never sees two Active copies: it learns the split brain
    /// from the loser's Stopping announcement in the older epoch, and reports it (the node re-announces its addresses on it).
    /// </summary>
    [Test]
    public void The_winner_learns_a_split_brain_the_loser_saw_first_from_its_stopping_copy()
    {
        var c = new CoreCluster("a", "b") { StopDuration = Second }; // a slow stop: a announces Stopping for a while
        c.Start();
        c.Run(2 * Second);
        c.CutBoth("a", "b");
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a", "b" }), "TwoNode mode: dual active while every link is cut");

        c.HealAll();
        c.Cut("a", "b"); // b hears a only once a is stopping: a sees b's higher epoch first
        c.RunUntil(() => c.Role("a") == GroupRole.Stopping, Second);
        Assert.That(c.EventsOf<SplitBrainDetected>("b"), Is.Empty, "b has not heard a's Active copy");
        c.HealAll();
        c.Run(Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));
        var seen = c.EventsOf<SplitBrainDetected>("b").Single();
        Assert.That((seen.Winner, seen.PeerNode, seen.LocalEpoch, seen.PeerEpoch), Is.EqualTo(("b", "a", 2UL, 1UL)));
    }

    /// <summary>
    /// A renewal that cannot reach the arbiter (an unknown answer) keeps the lease deadline: the owner keeps serving until the
    /// lease it has runs out (lease − drift margin after the last granted renewal was sent) and stops then, not before and not later.
    /// </summary>
    [Test]
    public void An_unreachable_renewal_keeps_the_lease_deadline_and_the_owner_stops_exactly_at_it()
    {
        var lease = TimeSpan.FromMilliseconds(900);
        var unreachable = false;
        var lastGrantSent = TimeSpan.Zero;
        var unknownAnswers = 0;
        CoreCluster c = null!;
        c = new CoreCluster("a", "b")
        {
            Arbiter = (_, _) =>
            {
                if (unreachable)
                {
                    unknownAnswers++;
                    return ArbiterDecision.Unreachable("store unreachable");
                }

                lastGrantSent = c.Now - c.ArbiterDelay; // the answer arrives ArbiterDelay after the request was sent
                return new ArbiterDecision(true, "lease", lease);
            },
        };
        c.Start();
        c.Run(2 * Second);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));

        unreachable = true;
        var deadline = lastGrantSent + lease - TimeSpan.FromMilliseconds(100); // the harness's LeaseDriftMargin
        var stoppedIn = c.RunUntil(() => c.Role("a") != GroupRole.Active, 3 * Second);

        Assert.That(stoppedIn, Is.Not.Null, "an owner whose renewals go unanswered must stop when its lease runs out");
        var stop = c.EventsOf<RoleChanged>("a").Last(r => r.To == GroupRole.Stopping);
        Assert.That(unknownAnswers, Is.GreaterThan(0), "the renewals got unknown answers before the deadline");
        Assert.That(stop.At, Is.GreaterThanOrEqualTo(deadline), "an unknown answer is not a refusal: keep serving on the lease held");
        Assert.That(stop.At, Is.LessThanOrEqualTo(deadline + c.Timing.EffectiveTickInterval), "stop at the lease end (within a tick), not later");
        Assert.That(stop.Why.Reason, Does.Contain("lease expired"));
    }

    /// <summary>
    /// An owner whose key the arbiter's watch reports deleted (an operator deleted it or revoked the lease) renews at once and stops
    /// on the refusal, instead of serving on until its next renewal, a third of the lease later (found by the simulator, seed 1189 of
    /// EtcdThreeNodes/tamper/edges with monitors moved onto heartbeat ticks: the owner stalled before its next renewal, and the
    /// standby took the free key while it still counted as Active).
    /// </summary>
    [Test]
    public void An_owner_told_that_its_key_was_deleted_renews_at_once_and_stops_on_the_refusal()
    {
        var lease = TimeSpan.FromSeconds(9);
        var keyDeleted = false;
        var renewalsAfterDeletion = 0;
        var c = new CoreCluster("a", "b")
        {
            Arbiter = (node, request) =>
            {
                if (node == "a" && keyDeleted)
                {
                    renewalsAfterDeletion++;
                    return ArbiterDecision.Deny("key /hakit/web is not held by a's lease (deleted)");
                }

                return new ArbiterDecision(true, "lease", lease);
            },
        };
        c.Start();
        c.Run(2 * Second);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));
        c.Run(2 * Second); // a renewed at 3 s (a third of the lease after its grant); the next is due at 6 s

        keyDeleted = true;
        var deletedAt = c.Now;
        c.ArbiterFreed("a");
        var stoppedIn = c.RunUntil(() => c.Role("a") != GroupRole.Active, Second);

        Assert.That(stoppedIn, Is.LessThanOrEqualTo(c.ArbiterDelay + c.Timing.EffectiveTickInterval), "the owner must stop once the arbiter refuses the renewal, within one answer");
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Stopping).Or.EqualTo(GroupRole.Standby));
        Assert.That(renewalsAfterDeletion, Is.EqualTo(1), "one renewal, asked at once");
        var stop = c.EventsOf<RoleChanged>("a").Last(r => r.To == GroupRole.Stopping);
        Assert.That(stop.At - deletedAt, Is.LessThanOrEqualTo(c.ArbiterDelay + c.Timing.EffectiveTickInterval), "stopped within one answer of the arbiter");
    }

    /// <summary>
    /// An epoch learned from a peer is persisted so that a restart never reuses it; when that persist fails it is tried again
    /// (found by the simulator's epochs-unique-per-start: a node restarted without the learned epoch and reused the peer's token).
    /// </summary>
    [Test]
    public void A_learned_epoch_whose_persist_failed_is_persisted_again_and_a_restart_does_not_reuse_it()
    {
        var c = new CoreCluster("a", "b");
        c.FailNextPersist.Add("b"); // b's first persist is the epoch it learns from a's start
        c.Start();
        c.Run(2 * Second);
        Assert.That(c.Epoch("a"), Is.EqualTo(1UL));
        Assert.That(c.EventsOf<PersistFailed>("b").Select(f => f.Epoch), Is.EqualTo(new[] { 1UL }));
        Assert.That(c["b"].Persisted.GetValueOrDefault("web"), Is.EqualTo(1UL), "the learned epoch was persisted on a retry");

        // b restarts cut off from a: its takeover must use an epoch above a's.
        c.CutBoth("a", "b");
        c.Restart("b");
        c.Run(3 * Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active));
        Assert.That(c.Epoch("b"), Is.EqualTo(2UL), "never a's epoch 1");
    }
}
