using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>
/// The scanning invariants skip a quiet step (<c>Simulation.QuietStep</c>) when their last scan found nothing: that is sound only
/// if a quiet step really changed none of the state they scan. These tests check the claim itself on whole runs of every family,
/// with an invariant that snapshots that state after every step.
/// </summary>
public sealed class QuietStepTests
{
    private static IEnumerable<TestCaseData> Families()
    {
        for (var seed = 0; seed < 24; seed++)
        {
            yield return new TestCaseData("twonode", seed).SetName($"TwoNode seed {seed}");
        }

        foreach (var seed in new[] { 0, 1, 2, 3, 12, 13 })
        {
            yield return new TestCaseData("etcd", seed).SetName($"Etcd seed {seed}");
            yield return new TestCaseData("witness", seed).SetName($"Witness seed {seed}");
            yield return new TestCaseData("ipfail", seed).SetName($"ipfail seed {seed}");
            yield return new TestCaseData("replication", seed).SetName($"Replication seed {seed}");
        }
    }

    [TestCaseSource(nameof(Families))]
    public void A_quiet_step_changed_no_role_epoch_process_resource_or_persisted_epoch(string family, int seed)
    {
        var options = family switch
        {
            "etcd" => SimulationScenarios.ForLeaseSeed(seed),
            "witness" => SimulationScenarios.ForWitnessSeed(seed),
            "ipfail" => SimulationScenarios.ForIpfailSeed(seed),
            "replication" => SimulationScenarios.ForReplicationSeed(seed),
            _ => SimulationScenarios.ForSeed(seed),
        };
        var probe = new QuietProbe();
        options.Invariants = [.. Invariants.Default(options), probe];
        using var sim = new HaKit.Testing.Simulation(options);

        var result = sim.Run();

        Assert.That(result.Violations, Is.Empty, "a quiet step changed scanned state (or the run broke another invariant)");
        Assert.Multiple(() =>
        {
            // The probe must have seen both kinds, and quiet steps that delivered or sent heartbeats: those are what a quiet
            // step's definition admits besides idle ticks, so they are what this test is for.
            Assert.That(probe.QuietSteps, Is.GreaterThan(0), "no quiet step at all: the test checked nothing");
            Assert.That(probe.BusySteps, Is.GreaterThan(0), "no step changed anything");
            Assert.That(probe.QuietDeliveries, Is.GreaterThan(0), "no quiet step delivered a heartbeat");
        });
    }

    /// <summary>Snapshots what the scanning invariants read after every step and fails a quiet step that changed it.</summary>
    private sealed class QuietProbe : IInvariant
    {
        private string? _last;

        public string Name => "quiet-probe";

        public int QuietSteps { get; private set; }

        public int BusySteps { get; private set; }

        public int QuietDeliveries { get; private set; }

        public string? Check(HaKit.Testing.Simulation simulation)
        {
            var snapshot = Snapshot(simulation);
            var delivered = simulation.StepEvents.Any(e => e is HeartbeatDelivered);
            string? message = null;
            if (simulation.QuietStep)
            {
                QuietSteps++;
                QuietDeliveries += delivered ? 1 : 0;
                if (_last is not null && snapshot != _last)
                {
                    message = $"a quiet step changed scanned state:{Environment.NewLine}before {_last}{Environment.NewLine}after  {snapshot}";
                }
            }
            else
            {
                BusySteps++;
            }

            _last = snapshot;
            return message;
        }

        private static string Snapshot(HaKit.Testing.Simulation sim) => string.Join(" | ", sim.Nodes.Select(n =>
            $"{n.Name} up={n.IsUp} inc={n.Incarnation} standby={n.InStandby} "
            + string.Join(" ", sim.GroupNames.Select(g =>
                $"{g}:{n.Role(g)}/e{n.Epoch(g)}/h{n.HighestEpoch(g)}/p{n.PersistedEpochs.GetValueOrDefault(g)}/run={n.IsRunning(g)}/m={n.InMaintenance(g)}"))));
    }
}
