using HaKit.Testing;
using HaKit.Wire;

namespace HaKit.Simulation.Tests;

/// <summary>
/// Typed delivery (the message object handed to the receiver's router after the wire layer) against the full wire (bytes, HMAC,
/// parse): the same seed gives the same trace, line for line, and the same wire counters, in every family; so a sweep may run
/// most seeds typed and keep the full wire for a sample (<see cref="HaKit.Testing.Simulation.FullWireSeed"/>).
/// </summary>
public sealed class WireDeliveryTests
{
    /// <summary>Seeds of every family: TwoNode 0–27 (every set-up × every mix), Etcd 0–13 (two and three nodes × every mix),
    /// Witness and ipfail 0–6 (every mix), replication 0, 4, ..., 40 (every mode, several set-ups); 5 in 5 of them edge-biased.</summary>
    private static IEnumerable<TestCaseData> Seeds()
    {
        foreach (var s in Enumerable.Range(0, 28))
        {
            yield return new TestCaseData("twonode", s).SetArgDisplayNames("twonode", s.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        foreach (var s in Enumerable.Range(0, 14))
        {
            yield return new TestCaseData("etcd", s).SetArgDisplayNames("etcd", s.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        foreach (var s in Enumerable.Range(0, 7))
        {
            yield return new TestCaseData("witness", s).SetArgDisplayNames("witness", s.ToString(System.Globalization.CultureInfo.InvariantCulture));
            yield return new TestCaseData("ipfail", s).SetArgDisplayNames("ipfail", s.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        foreach (var s in Enumerable.Range(0, 11).Select(k => k * 4))
        {
            yield return new TestCaseData("replication", s).SetArgDisplayNames("replication", s.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static SimulationOptions Scenario(string family, int seed) => family switch
    {
        "etcd" => SimulationScenarios.ForLeaseSeed(seed),
        "witness" => SimulationScenarios.ForWitnessSeed(seed),
        "ipfail" => SimulationScenarios.ForIpfailSeed(seed),
        "replication" => SimulationScenarios.ForReplicationSeed(seed),
        _ => SimulationScenarios.ForSeed(seed),
    };

    private static (string[] Trace, long[] Counters, int Violations) Run(string family, int seed, WireDelivery wire)
    {
        var options = Scenario(family, seed);
        options.RecordTrace = true;
        options.Wire = wire;
        using var sim = new HaKit.Testing.Simulation(options);
        var result = sim.Run();
        var counters = sim.Nodes
            .SelectMany(n => Enum.GetValues<DropReason>().Select(r => n.WireStats.GetDropped(r)).Prepend(n.WireStats.Accepted))
            .ToArray();
        return (result.Trace.Select(t => t.ToString()).ToArray(), counters, result.Violations.Count);
    }

    [TestCaseSource(nameof(Seeds))]
    public void Typed_delivery_gives_the_full_wires_trace_line_by_line(string family, int seed)
    {
        var full = Run(family, seed, WireDelivery.Full);
        var typed = Run(family, seed, WireDelivery.Typed);
        Assert.That(full.Trace, Has.Length.GreaterThan(100), "the run must say something to compare");
        var first = Enumerable.Range(0, Math.Min(full.Trace.Length, typed.Trace.Length)).FirstOrDefault(i => full.Trace[i] != typed.Trace[i], -1);
        Assert.That(first, Is.EqualTo(-1), () => $"first difference at line {first}:\n full:  {full.Trace[first]}\n typed: {typed.Trace[first]}");
        Assert.That(typed.Trace, Has.Length.EqualTo(full.Trace.Length));
        Assert.That(typed.Counters, Is.EqualTo(full.Counters), "accepted and dropped-by-reason counters of every node");
        Assert.That(typed.Violations, Is.EqualTo(full.Violations));
    }

    [Test]
    public void Sampled_delivery_runs_the_full_wire_for_one_seed_in_eight_across_every_residue()
    {
        var full = Enumerable.Range(0, 6400).Where(HaKit.Testing.Simulation.FullWireSeed).ToArray();
        Assert.That(full, Has.Length.EqualTo(800));
        Assert.That(full.Select(s => s % 8).Distinct().Count(), Is.EqualTo(8), "every residue mod 8: every TwoNode set-up, Etcd node count");
        Assert.That(full.Select(s => s % 7).Distinct().Count(), Is.EqualTo(7), "every Witness and ipfail mix");
        Assert.That(full.Select(s => s / 4 % 7).Distinct().Count(), Is.EqualTo(7), "every TwoNode mix");
        Assert.That(full.Count(SimulationScenarios.IsEdgeBiased), Is.InRange(100, 220), "edge-biased ones too");
    }
}
