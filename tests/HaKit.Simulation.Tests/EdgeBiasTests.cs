using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>
/// Edge-biased seeds (<see cref="SimulationScenarios.IsEdgeBiased"/>): continuous random time almost never lands on a boundary,
/// so a share of the draws is aimed at the scenario's margins, exactly and 1 ms either side, and clocks drift by their bound.
/// </summary>
public sealed class EdgeBiasTests
{
    [Test]
    public void One_seed_in_five_is_edge_biased_and_names_it()
    {
        Assert.That(Enumerable.Range(0, 100).Count(SimulationScenarios.IsEdgeBiased), Is.EqualTo(20));
        var biased = SimulationScenarios.ForSeed(4);
        var plain = SimulationScenarios.ForSeed(3);
        Assert.That(biased.Faults.EdgeBias, Is.GreaterThan(0));
        Assert.That(biased.Faults.Name, Does.EndWith("/edges"));
        Assert.That(biased.Faults.Edges, Does.Contain(biased.Cluster.Timing.DeadTime).And.Contain(biased.Cluster.Timing.Interval));
        Assert.That(plain.Faults.EdgeBias, Is.Zero);
        Assert.That(plain.Faults.Edges, Is.Empty);
        Assert.That(SimulationScenarios.Create(4, ArbiterSetup.TwoNodePlain, "crashes").Faults.EdgeBias, Is.Zero, "a pinned scenario is biased only when asked");
    }

    [Test]
    public void In_lease_modes_stalls_reach_the_longest_one_the_drift_margin_covers_at_the_drift_bound()
    {
        var options = SimulationScenarios.Create(4, ArbiterSetup.Etcd, "crashes", edgeBiased: true);
        var a = options.Cluster.Arbiter;
        var covered = a.LeaseDriftMargin - TimeSpan.FromTicks((long)(a.LeaseTtl.Ticks * options.Faults.MaxClockDrift * 2));
        Assert.That(options.Faults.StallDuration.Max, Is.EqualTo(covered));
        Assert.That(options.Faults.Edges, Does.Contain(a.LeaseDriftMargin).And.Contain(covered).And.Contain(a.LeaseTtl / 3));
    }

    [Test]
    public void An_edge_biased_draw_lands_on_a_range_end_or_a_margin_exactly_or_one_millisecond_either_side()
    {
        var options = SimulationScenarios.Create(1, ArbiterSetup.TwoNodePlain, "crashes");
        options.Faults.EdgeBias = 1;
        options.Faults.Edges.Add(TimeSpan.FromMilliseconds(100));
        options.Faults.Edges.Add(TimeSpan.FromMilliseconds(900)); // outside the range: never drawn
        using var sim = new HaKit.Testing.Simulation(options);
        var drawn = Enumerable.Range(0, 400).Select(_ => sim.Draw(DurationRange.Ms(50, 200)).TotalMilliseconds).ToHashSet();
        Assert.That(drawn, Is.EquivalentTo(new[] { 50.0, 99, 100, 101, 200 }));
    }

    [Test]
    public void Edge_biased_clocks_drift_by_exactly_their_bound()
    {
        var options = SimulationScenarios.Create(1, ArbiterSetup.TwoNodePlain, "crashes");
        options.Faults.EdgeBias = 1;
        var rates = Enumerable.Range(0, 20).Select(seed =>
        {
            options.Seed = seed;
            using var sim = new HaKit.Testing.Simulation(options);
            return sim.Nodes.Select(n => n.Rate);
        }).SelectMany(r => r).ToHashSet();
        Assert.That(rates, Is.EquivalentTo(new[] { 1 - options.Faults.MaxClockDrift, 1 + options.Faults.MaxClockDrift }));
    }
}
