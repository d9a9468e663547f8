using HaKit.Arbitration;
using HaKit.Ownership;

namespace HaKit.Tests.Arbitration;

/// <summary>One Witness-mode voter: at most one unexpired lease per group, never below its highest epoch, quiet after it starts.</summary>
[TestFixture]
public class LeaseGrantorTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Ready = Ttl; // the quiet time after start is over

    private static LeaseGrantor Voter() => new("w", TimeSpan.Zero, Ttl);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Test]
    public void It_grants_nothing_for_one_lease_time_after_it_starts()
    {
        var v = Voter();
        var early = v.Vote(Ready - Ms(1), "c", "web", "a", 1, Ttl, renew: false);
        Assert.That(early.Granted, Is.False);
        Assert.That(early.Reason, Does.Contain("grants nothing for one lease time"));
        Assert.That(v.Vote(Ready, "c", "web", "a", 1, Ttl, renew: false).Granted, Is.True);
    }

    [Test]
    public void One_unexpired_lease_per_group_and_the_refusal_names_the_holder()
    {
        var v = Voter();
        Assert.That(v.Vote(Ready, "c", "web", "a", 1, Ttl, renew: false).Granted, Is.True);
        var refused = v.Vote(Ready + Ms(500), "c", "web", "b", 2, Ttl, renew: false);
        Assert.That(refused.Granted, Is.False);
        Assert.That(refused.Holder, Is.EqualTo("a"));
        Assert.That(refused.Remaining, Is.EqualTo(Ms(1500)));
        Assert.That(refused.StaleEpoch, Is.False);
        Assert.That(v.Vote(Ready + Ms(500), "c", "db", "b", 1, Ttl, renew: false).Granted, Is.True, "another group is free");
        Assert.That(v.Vote(Ready + Ms(500), "other", "web", "b", 1, Ttl, renew: false).Granted, Is.True, "another cluster's group of the same name is free");
        Assert.That(v.Vote(Ready + Ttl, "c", "web", "b", 2, Ttl, renew: false).Granted, Is.True, "free once the lease ran out");
        Assert.That(v.HolderOf(Ready + Ttl, "c", "web")!.Value.Holder, Is.EqualTo("b"));
    }

    [Test]
    public void A_new_holder_needs_a_higher_epoch_and_learns_the_highest_from_the_refusal()
    {
        var v = Voter();
        v.Observe("c", "web", 7);
        var stale = v.Vote(Ready, "c", "web", "a", 7, Ttl, renew: false);
        Assert.That(stale.Granted, Is.False);
        Assert.That(stale.StaleEpoch, Is.True);
        Assert.That(stale.HighestEpoch, Is.EqualTo(7UL));
        var raised = new List<ulong>();
        v.EpochRaised += (_, _, e) => raised.Add(e);
        Assert.That(v.Vote(Ready, "c", "web", "a", 8, Ttl, renew: false).Granted, Is.True);
        Assert.That(raised, Is.EqualTo(new[] { 8UL }));
        Assert.That(v.HighestEpoch("c", "web"), Is.EqualTo(8UL));
    }

    [Test]
    public void Renewals_extend_the_holders_lease_but_not_below_a_higher_epoch()
    {
        var v = Voter();
        Assert.That(v.Vote(Ready, "c", "web", "a", 3, Ttl, renew: false).Granted, Is.True);
        var renewed = v.Vote(Ready + Ms(1900), "c", "web", "a", 3, Ttl, renew: true);
        Assert.That(renewed.Granted, Is.True);
        Assert.That(v.HolderOf(Ready + Ms(3800), "c", "web"), Is.Not.Null, "the renewal counts from when it arrived");
        Assert.That(v.Vote(Ready + Ms(5000), "c", "web", "b", 4, Ttl, renew: false).Granted, Is.True);
        var late = v.Vote(Ready + Ms(7500), "c", "web", "a", 3, Ttl, renew: true);
        Assert.That(late.Granted, Is.False, "a renewal below an epoch granted since is refused");
    }

    [Test]
    public void A_lease_longer_than_the_maximum_is_refused_not_shortened()
    {
        var v = Voter();
        var vote = v.Vote(Ready, "c", "web", "a", 1, Ttl + Ms(1), renew: false);
        Assert.That(vote.Granted, Is.False);
        Assert.That(vote.Reason, Does.Contain("grants leases of up to 2000 ms"));
    }

    [Test]
    public void A_release_naming_a_request_ends_only_the_grant_made_for_it()
    {
        var v = Voter();
        Assert.That(v.Vote(Ready, "c", "web", "a", 1, Ttl, renew: false, requestId: 10).Granted, Is.True);
        Assert.That(v.Vote(Ready + Ms(10), "c", "web", "a", 1, Ttl, renew: false, requestId: 11).Granted, Is.True, "the same holder asking again");
        Assert.That(v.Release("c", "web", "a", 1, requestId: 10), Is.False, "a late release of the earlier request must not end the later grant");
        Assert.That(v.Release("c", "web", "b", 1), Is.False, "only the holder releases");
        Assert.That(v.Release("c", "web", "a", 1, requestId: 11), Is.True);
        Assert.That(v.HolderOf(Ready + Ms(20), "c", "web"), Is.Null);
        Assert.That(v.Vote(Ready + Ms(20), "c", "web", "b", 2, Ttl, renew: false).Granted, Is.True, "free at once after the release");
    }

    [Test]
    public void Forget_ends_a_holders_lease_whatever_its_epoch()
    {
        var v = Voter();
        Assert.That(v.Vote(Ready, "c", "web", "a", 5, Ttl, renew: false).Granted, Is.True);
        Assert.That(v.Forget("c", "web", "b"), Is.False);
        Assert.That(v.Forget("c", "web", "a"), Is.True);
        Assert.That(v.Vote(Ready, "c", "web", "b", 6, Ttl, renew: false).Granted, Is.True);
    }
}
