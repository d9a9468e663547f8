using HaKit.Election;
using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>Every seed that ever found a bug, replayed. Each test also checks that the seed still reaches the situation that exposed the bug.</summary>
public sealed class RegressionSeeds
{
    /// <summary>
    /// Seed 518 (TwoNodeFencing/everything): b began a failover with proposed epoch 2; while it waited for the arbiter, the former
    /// owner a restarted and announced highest epoch 2 (its persisted epoch). b persisted and started with epoch 2 anyway: a reused
    /// fencing token. Fixed in OwnershipCore.CheckAcquireStillValid: a stale proposal is abandoned and the takeover retried.
    /// </summary>
    [Test]
    public void Seed518_TakeoverRetriesWhenARestartedOwnerAnnouncesTheProposedEpoch() =>
        AssertSeedPasses(518, "is no longer above the highest epoch seen");

    /// <summary>Seed 159 (TwoNodePingFencing/everything): the same bug, found when faults ended and a crashed node restarted.</summary>
    [Test]
    public void Seed159_TakeoverRetriesWhenARestartedOwnerAnnouncesTheProposedEpoch() =>
        AssertSeedPasses(159, "is no longer above the highest epoch seen");

    internal static SimulationResult AssertSeedPasses(int seed, string mustHappen)
    {
        var options = SimulationScenarios.ForSeed(seed);
        options.RecordTrace = true;
        using var sim = new HaKit.Testing.Simulation(options);
        var result = sim.Run();
        Assert.That(result.Violations, Is.Empty, () => $"seed {seed}: {string.Join("; ", result.Violations)}");
        Assert.That(result.Trace.Any(t => t.Text.Contains(mustHappen, StringComparison.Ordinal)), Is.True,
            $"seed {seed} no longer reaches the situation that found the bug ('{mustHappen}'); pick the new seed that does");
        return result;
    }
}
