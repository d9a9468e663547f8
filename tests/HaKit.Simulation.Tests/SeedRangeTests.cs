using System.Collections.Concurrent;
using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>
/// The CI seed range: seeds 0 to <see cref="SeedCount"/> - 1, across every arbiter set-up and fault mix
/// (seed mod 4 picks the set-up, (seed / 4) mod 6 the mix: <see cref="SimulationScenarios.Mixes"/>). Split into batches so a failure names its batch quickly.
/// </summary>
public sealed class SeedRangeTests
{
    /// <summary>How many seeds CI runs (about 2 minutes on the 2-core CI machine in Release).</summary>
    public const int SeedCount = 20_000;

    private const int BatchSize = 1_000;

    private static IEnumerable<int> Batches() => Enumerable.Range(0, SeedCount / BatchSize).Select(b => b * BatchSize);

    [TestCaseSource(nameof(Batches))]
    public void Every_seed_keeps_every_invariant(int from)
    {
        var failures = new ConcurrentBag<string>();
        Parallel.For(from, from + BatchSize, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
        {
            using var sim = new HaKit.Testing.Simulation(SimulationScenarios.ForSeed(seed));
            var result = sim.Run();
            if (!result.Passed)
            {
                failures.Add($"seed {seed} ({result.Scenario}): {result.Violations[0]} | replay: dotnet run --project tests/HaKit.Simulation -- --seed {seed} --trace");
            }
        });

        Assert.That(failures.OrderBy(f => f, StringComparer.Ordinal), Is.Empty);
    }
}
