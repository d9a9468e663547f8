using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;
using HaKit.Testing;
using HaKit.Wire;

namespace HaKit.Simulation.Tests;

/// <summary>The simulator itself: determinism, the real wire layer, scripted faults, and invariants that bite.</summary>
public sealed class SimulatorTests
{
    private static SimulationOptions Quiet(int seed = 1) => new() { Seed = seed, FaultDuration = TimeSpan.Zero, QuietDuration = TimeSpan.FromSeconds(3) };

    [Test]
    public void The_same_seed_replays_the_same_trace()
    {
        string[] Run(int seed)
        {
            var options = SimulationScenarios.ForSeed(seed);
            options.RecordTrace = true;
            using var sim = new HaKit.Testing.Simulation(options);
            return sim.Run().Trace.Select(t => t.ToString()).ToArray();
        }

        var first = Run(24);
        Assert.That(first, Has.Length.GreaterThan(1000));
        Assert.That(Run(24), Is.EqualTo(first));
        Assert.That(Run(25), Is.Not.EqualTo(first));
    }

    [TestCase(WireDelivery.Full)]
    [TestCase(WireDelivery.Typed)]
    public void Heartbeats_go_through_the_real_replay_window(WireDelivery wire)
    {
        var options = SimulationScenarios.ForSeed(0); // TwoNodePlain/network: duplicates and replays
        options.Wire = wire;
        using var sim = new HaKit.Testing.Simulation(options);
        sim.RunFor(TimeSpan.FromSeconds(10));
        var replayed = sim.Nodes.Sum(n => n.WireStats.GetDropped(DropReason.Replayed));
        var accepted = sim.Nodes.Sum(n => n.WireStats.Accepted);
        Assert.That(accepted, Is.GreaterThan(100));
        Assert.That(replayed, Is.GreaterThan(0), "duplicated and replayed packets must be dropped by EnvelopeCodec's replay window");
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void A_full_partition_in_TwoNode_mode_gives_a_dual_active_that_ends_with_the_higher_epoch_when_it_heals()
    {
        var options = Quiet();
        options.Invariants = [.. Invariants.Default(options), new SingleActiveOwnerInvariant()];
        options.StopAtFirstViolation = false;
        using var sim = new HaKit.Testing.Simulation(options);
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null);
        sim.CutBoth("a", "b");
        Assert.That(sim.RunUntil(s => s["b"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null);
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Active));
        Assert.That(sim.Violations.Select(v => v.Invariant).Distinct(), Is.EqualTo(new[] { "single-active-owner" }), "lease-mode invariant sees the dual-active; the TwoNode rules allow it while every link is cut");
        var winnerEpoch = sim["b"].Epoch("web");
        Assert.That(winnerEpoch, Is.GreaterThan(sim["a"].Epoch("web")));

        sim.HealAll();
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Standby, TimeSpan.FromSeconds(2)), Is.Not.Null);
        Assert.That(sim["b"].Role("web"), Is.EqualTo(GroupRole.Active));
        Assert.That(sim["b"].Epoch("web"), Is.EqualTo(winnerEpoch));
        Assert.That(sim.Violations.Select(v => v.Invariant).Distinct(), Is.EqualTo(new[] { "single-active-owner" }));
    }

    [Test]
    public void A_blocked_group_is_not_started_elsewhere_without_fencing()
    {
        var options = Quiet();
        options.ResourceFactory = (node, group) => [new StuckStop("vip", node == "a"), new StuckStop("app", false)];
        using var sim = new HaKit.Testing.Simulation(options);
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null);
        Assert.That(sim.Admin("a", new SwitchoverCommand("web", "b")).Accepted, Is.True);
        sim.RunFor(TimeSpan.FromSeconds(5));
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Blocked));
        Assert.That(sim["b"].Role("web"), Is.EqualTo(GroupRole.Standby));
        Assert.That(sim["a"].IsRunning("web"), Is.True, "the stop failed: vip still runs on a");
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void A_crashed_owner_restarts_with_a_new_incarnation_and_its_durable_epoch()
    {
        using var sim = new HaKit.Testing.Simulation(Quiet());
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null);
        var epoch = sim["a"].Epoch("web");
        sim.Crash("a");
        Assert.That(sim["a"].IsRunning("web"), Is.False);
        Assert.That(sim.RunUntil(s => s["b"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(2)), Is.Not.Null);
        Assert.That(sim["b"].Epoch("web"), Is.GreaterThan(epoch));
        sim.Restart("a");
        Assert.That(sim["a"].Incarnation, Is.EqualTo(2UL));
        Assert.That(sim["a"].PersistedEpochs["web"], Is.GreaterThanOrEqualTo(epoch));
        sim.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(sim["b"].Role("web"), Is.EqualTo(GroupRole.Active), "no auto-failback: b keeps the group");
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void Node_clocks_drift_within_the_profile()
    {
        var options = SimulationScenarios.ForSeed(8); // crashes mix: 5 % drift
        using var sim = new HaKit.Testing.Simulation(options);
        Assert.That(sim.Nodes.Select(n => n.Rate), Has.All.InRange(0.95, 1.05));
        Assert.That(sim.Nodes[0].Rate, Is.Not.EqualTo(sim.Nodes[1].Rate));
        sim.RunFor(TimeSpan.FromSeconds(2));
        var a = sim.Nodes[0];
        Assert.That(a.Clock.LocalNow.TotalSeconds, Is.EqualTo((sim.Now.TotalSeconds - 0) * a.Rate).Within(0.5));
    }

    [Test]
    public void A_hanging_start_times_out_and_the_group_moves_or_restarts()
    {
        var options = Quiet();
        options.FaultDuration = TimeSpan.FromSeconds(5);
        options.Faults = new FaultProfile { Name = "hangs", Resources = new ResourceFaults { Hang = 0.3 } };
        options.RecordTrace = true;
        using var sim = new HaKit.Testing.Simulation(options);
        var result = sim.Run();
        Assert.That(result.Trace.Any(t => t.Category == "resource" && t.Text.Contains("timed out", StringComparison.Ordinal)), Is.True);
        Assert.That(result.Violations, Is.Empty);
        Assert.That(sim.Nodes.Count(n => n.Role("web") == GroupRole.Active), Is.EqualTo(1));
    }

    [Test]
    public void A_violated_invariant_stops_the_run_and_names_itself()
    {
        var options = Quiet();
        options.Invariants = [new NeverActive()];
        using var sim = new HaKit.Testing.Simulation(options);
        var result = sim.Run();
        Assert.That(result.Passed, Is.False);
        Assert.That(result.Violations, Has.Count.EqualTo(1));
        Assert.That(result.Violations[0].Invariant, Is.EqualTo("never-active"));
        Assert.That(result.Violations[0].Message, Does.Contain("group web is Active on a"));
        Assert.That(result.EndTime, Is.LessThan(TimeSpan.FromSeconds(1)), "the run stops at the first violation");
    }

    [Test]
    public void An_invalid_cluster_is_refused_with_the_key_and_the_fix()
    {
        var options = Quiet();
        options.Cluster.Timing.DeadTime = TimeSpan.FromMilliseconds(50);
        var ex = Assert.Throws<HaKitConfigurationException>(() => new HaKit.Testing.Simulation(options));
        Assert.That(ex!.Message, Does.Contain("DeadTime"));
    }

    [Test]
    public void A_graceful_shutdown_hands_the_group_over_before_the_process_exits_and_a_new_incarnation_starts()
    {
        var options = Quiet();
        options.RecordTrace = true;
        using var sim = new HaKit.Testing.Simulation(options);
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null);
        Assert.That(sim.Shutdown("a").Accepted, Is.True);
        Assert.That(sim["a"].IsShuttingDown, Is.True);
        Assert.That(sim.Shutdown("a").Accepted, Is.False, "a second shutdown while one is in progress is refused");

        var bActiveAt = TimeSpan.Zero;
        Assert.That(sim.RunUntil(s => s["b"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(2)), Is.Not.Null);
        bActiveAt = sim.Now;
        var exit = sim.RunUntil(s => s["a"].Incarnation == 2, TimeSpan.FromSeconds(2));
        Assert.That(exit, Is.Not.Null, "after the handoff is confirmed the process exits and (faults being over) starts again at once");

        var exitedAt = sim.Trace.Single(t => t.Node == "a" && t.Text.StartsWith("graceful shutdown complete", StringComparison.Ordinal)).At;
        Assert.That(exitedAt, Is.GreaterThanOrEqualTo(sim.Trace.First(t => t.Node == "b" && t.Text.Contains("-> Starting", StringComparison.Ordinal)).At),
            "the leaving node keeps running until the target announced it took the group");
        Assert.That(exitedAt, Is.LessThanOrEqualTo(bActiveAt + TimeSpan.FromSeconds(1)));
        Assert.That(sim["a"].IsShuttingDown, Is.False);
        sim.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(sim["b"].Role("web"), Is.EqualTo(GroupRole.Active), "no auto-failback: b keeps the group");
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Standby));
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void A_shutdown_that_cannot_finish_ends_at_the_host_timeout_and_is_reported()
    {
        var options = Quiet();
        options.ShutdownTimeout = TimeSpan.FromMilliseconds(300); // shorter than waiting for the handoff confirmation (2 x dead time)
        options.StopAtFirstViolation = false;
        using var sim = new HaKit.Testing.Simulation(options);
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null);
        sim.CutBoth("a", "b"); // b never hears the release, so a can never see its handoff confirmed
        Assert.That(sim.Admin("a", new ShutdownCommand()).Accepted, Is.True, "Admin routes a ShutdownCommand to Shutdown");

        sim.RunFor(TimeSpan.FromMilliseconds(250));
        Assert.That(sim["a"].IsUp, Is.True, "the handoff is not confirmed yet, so the core is not ready");
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Standby));
        sim.RunFor(TimeSpan.FromMilliseconds(100));
        Assert.That(sim["a"].Incarnation, Is.EqualTo(2UL), "the host's time-out ended the process, which started again");
        Assert.That(sim.Violations.Select(v => v.Invariant), Does.Contain("graceful-shutdown-completes"));
    }

    [Test]
    public void A_shutdown_leaves_a_group_in_maintenance_as_it_is_and_finishes_at_once()
    {
        var options = Quiet();
        options.RecordTrace = true;
        using var sim = new HaKit.Testing.Simulation(options);
        sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3));
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Active), "a owns the group before the shutdown");
        Assert.That(sim.Admin("a", new SetMaintenanceCommand("web", true)).Accepted, Is.True);
        var shutdown = sim.Admin("a", new ShutdownCommand());
        Assert.That(shutdown.Accepted, Is.True);
        Assert.That(shutdown.Message, Does.Contain("except web (in maintenance: left as it is)"));

        sim.RunUntil(s => !s["a"].IsUp || s["a"].Incarnation > 1, TimeSpan.FromMilliseconds(200));
        Assert.That(sim["a"].IsUp, Is.False, "ready at once (nothing to release): the process exited within 200 ms");
        Assert.That(sim.Trace.Any(t => t.Node == "a" && t.Category == "resource" && t.Text.Contains("start", StringComparison.Ordinal)), Is.True, "the trace records resource actions");
        Assert.That(sim.Trace.Any(t => t.Node == "a" && t.Category == "resource" && t.Text.Contains(" stop ", StringComparison.Ordinal)), Is.False, "the group in maintenance was not stopped");
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void When_faults_end_every_node_leaves_standby_and_every_group_leaves_maintenance()
    {
        var options = Quiet();
        options.FaultDuration = TimeSpan.FromSeconds(3);
        options.QuietDuration = null;
        using var sim = new HaKit.Testing.Simulation(options);
        sim.Schedule(TimeSpan.FromSeconds(1.5), s =>
        {
            s.Admin("a", new SetStandbyCommand(true));
            s.Admin("b", new SetMaintenanceCommand("web", true));
        });
        sim.RunFor(TimeSpan.FromSeconds(2.9));
        Assert.That(sim["a"].InStandby, Is.True);
        Assert.That(sim["b"].InMaintenance("web"), Is.True);
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Standby), "standby released the group; b, in maintenance, does not take it");
        Assert.That(sim["b"].Role("web"), Is.EqualTo(GroupRole.Standby));

        var result = sim.Run();
        Assert.That(result.Violations, Is.Empty);
        Assert.That(sim["a"].InStandby, Is.False);
        Assert.That(sim["b"].InMaintenance("web"), Is.False);
        Assert.That(sim.Nodes.Count(n => n.Role("web") == GroupRole.Active), Is.EqualTo(1));
    }

    [Test]
    public void Operator_rates_of_zero_draw_no_random_number_so_every_other_mix_replays_unchanged()
    {
        string[] Run(Action<FaultProfile> tweak)
        {
            var options = SimulationScenarios.Create(518, ArbiterSetup.TwoNodeFencing, "everything");
            tweak(options.Faults);
            options.RecordTrace = true;
            using var sim = new HaKit.Testing.Simulation(options);
            return sim.Run().Trace.Select(t => t.ToString()).ToArray();
        }

        var plain = Run(_ => { });
        var knobs = Run(f =>
        {
            f.SwitchoverTargetFraction = 0.9;
            f.StandbyDuration = DurationRange.Ms(10, 20);
            f.MaintenanceDuration = DurationRange.Ms(10, 20);
        });
        Assert.That(knobs, Is.EqualTo(plain));
        Assert.That(Run(f => f.SwitchoverRate = 0.5), Is.Not.EqualTo(plain));
    }

    [Test]
    public void The_operator_mix_exercises_every_operator_path()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var seed in Enumerable.Range(0, 8))
        {
            var options = SimulationScenarios.Create(seed, SimulationScenarios.SetupOf(seed), "operator");
            options.RecordTrace = true;
            using var sim = new HaKit.Testing.Simulation(options);
            var result = sim.Run();
            Assert.That(result.Violations, Is.Empty, () => $"seed {seed}: {string.Join("; ", result.Violations)}");
            foreach (var t in result.Trace)
            {
                var text = t.Text;
                if (text.StartsWith("SwitchoverCommand", StringComparison.Ordinal) && text.Contains("stopping here", StringComparison.Ordinal))
                {
                    seen.Add(text.Contains("Target =  }", StringComparison.Ordinal) ? "switchover" : "switchover to a target");
                }

                foreach (var marker in new[] { "Standby = True } -> node", "Standby = False } -> node", "Maintenance = True } ->", "Maintenance = False } ->", "ShutdownCommand { } -> node", "graceful shutdown complete", "(Handoff)" })
                {
                    if (text.Contains(marker, StringComparison.Ordinal))
                    {
                        seen.Add(marker);
                    }
                }
            }
        }

        Assert.That(seen, Is.EquivalentTo(new[] { "switchover", "switchover to a target", "Standby = True } -> node", "Standby = False } -> node", "Maintenance = True } ->", "Maintenance = False } ->", "ShutdownCommand { } -> node", "graceful shutdown complete", "(Handoff)" }));
    }

    private sealed class NeverActive : IInvariant
    {
        public string Name => "never-active";

        public string? Check(HaKit.Testing.Simulation simulation) =>
            simulation.Nodes.FirstOrDefault(n => n.Role("web") == GroupRole.Active) is { } n ? $"group web is Active on {n.Name}" : null;
    }

    private sealed class StuckStop(string name, bool stuck) : IResource
    {
        public string Name => name;

        public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(ResourceResult.Success);

        public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(stuck ? ResourceResult.Transient("device busy") : ResourceResult.Success);

        public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(MonitorResult.Running);
    }
}
