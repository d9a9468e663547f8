using HaKit.Arbitration;

namespace HaKit.Simulation.Tests;

/// <summary>
/// Rules that a planted bug got past every seed of the CI ranges (docs/testing.md, "Planted bugs"): each test here fails with
/// its plant.
/// </summary>
public sealed class PlantedBugTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    /// <summary>The voter is quiet for one maximum lease time after it starts (at 0).</summary>
    private static readonly TimeSpan Ready = Ttl;

    [Test]
    public void A_witness_voter_refuses_a_renewal_from_a_node_that_does_not_hold_the_lease_even_with_the_holders_epoch()
    {
        // Plant: LeaseGrantor.Vote skips the holder check for a renewal. In a simulated run the epoch check masks it (a
        // non-holder's renewal carries an epoch below the holder's), so only this rule test catches it.
        var voter = new LeaseGrantor("w", TimeSpan.Zero, Ttl);
        Assert.That(voter.Vote(Ready, "c", "web", "a", 3, Ttl, renew: false).Granted, Is.True);

        var renewal = voter.Vote(Ready + TimeSpan.FromMilliseconds(500), "c", "web", "b", 3, Ttl, renew: true);

        Assert.That(renewal.Granted, Is.False, "b renews a lease that a holds");
        Assert.That(renewal.Holder, Is.EqualTo("a"));
        Assert.That(voter.HolderOf(Ready + TimeSpan.FromMilliseconds(500), "c", "web")!.Value.Holder, Is.EqualTo("a"));
    }
}
