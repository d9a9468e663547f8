using System.Collections.Concurrent;
using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>ipfail in the simulator: a node that alone loses its ping targets hands its groups to the peer that still reaches them,
/// after the hysteresis and never before; a short loss, a loss on both nodes or on the standby moves nothing.</summary>
public sealed class IpfailTests
{
    // Rounds every 300 ms, 3 rounds, probe time-out 150 ms (SimulationScenarios.UseIpfail).
    private static readonly TimeSpan Hysteresis = TimeSpan.FromMilliseconds(3 * 300);

    private static (HaKit.Testing.Simulation Sim, EventRecorder Events) Start(int seed = 1)
    {
        var options = new SimulationOptions { Seed = seed, FaultDuration = TimeSpan.Zero, QuietDuration = TimeSpan.FromSeconds(3) };
        SimulationScenarios.UseIpfail(options.Cluster);
        var events = new EventRecorder();
        options.Invariants = [.. Invariants.Default(options), new SingleActiveOwnerInvariant(), events];
        var sim = new HaKit.Testing.Simulation(options);
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null, "a starts the group (its preferred node)");
        sim.RunFor(TimeSpan.FromSeconds(2)); // both windows fill: each node announces its score
        Assert.That(sim.Violations, Is.Empty);
        return (sim, events);
    }

    [Test]
    public void The_owner_losing_its_targets_hands_the_group_to_the_peer_after_the_hysteresis_and_not_before()
    {
        var (sim, events) = Start();
        using var _ = sim;
        var lostAt = sim.Now;
        sim.LoseTargets("a", TimeSpan.FromSeconds(30));

        // Not before the hysteresis: the window still holds rounds in which a reached its targets.
        sim.RunFor(Hysteresis - TimeSpan.FromMilliseconds(350));
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Active), "fewer rounds than the window: nothing moves yet");
        Assert.That(events.Moves, Is.Empty);

        Assert.That(sim.RunUntil(s => s["b"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null, "the group moves to b");
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Standby));
        var move = events.Moves.Single();
        Assert.That(move.At - lostAt, Is.GreaterThanOrEqualTo(Hysteresis - TimeSpan.FromMilliseconds(300)), "the move waits for a full window of lost rounds");
        Assert.That((move.Group, move.From, move.To, move.Score, move.PeerScore, move.Targets), Is.EqualTo(("web", "a", "b", 0, 2, 2)));
        Assert.That(move.Lost, Is.EqualTo(new[] { "icmp 192.0.2.1", "icmp 192.0.2.2" }));
        var stop = events.RoleChanges.Single(r => r.Node == "a" && r.To == GroupRole.Stopping);
        Assert.That(stop.Why.Reason, Does.Contain("ipfail").And.Contain("icmp 192.0.2.1").And.Contain("node b reaches 2"));
        Assert.That(events.Stops.Single(s => s.Node == "a").Reason, Is.EqualTo(StopReason.ReachabilityLost));
        Assert.That(events.Fences, Is.Empty, "ipfail hands over gracefully: nobody is fenced");
        Assert.That(sim["b"].Epoch("web"), Is.GreaterThan(stop.Epoch), "b owns the group with a new epoch");

        // No ping-pong: a regains its targets; b reaches as many, so the group stays on b.
        sim.LoseTargets("a", TimeSpan.Zero);
        sim.StopFaults();
        sim.RunFor(TimeSpan.FromSeconds(5));
        Assert.That(sim["b"].Role("web"), Is.EqualTo(GroupRole.Active));
        Assert.That(events.Moves, Has.Count.EqualTo(1));
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void One_lost_round_moves_nothing()
    {
        var (sim, events) = Start();
        using var _ = sim;
        sim.LoseTargets("a", TimeSpan.FromMilliseconds(320)); // at most two rounds see the loss
        sim.RunFor(TimeSpan.FromSeconds(5));
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Active));
        Assert.That(events.Moves, Is.Empty);
        Assert.That(events.RoleChanges.Where(r => r.At > TimeSpan.FromSeconds(3)), Is.Empty);
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void Both_nodes_losing_their_targets_moves_nothing()
    {
        var (sim, events) = Start();
        using var _ = sim;
        var since = sim.Now;
        sim.LoseTargets("a", TimeSpan.FromSeconds(6));
        sim.LoseTargets("b", TimeSpan.FromSeconds(6));
        sim.RunFor(TimeSpan.FromSeconds(8));
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Active), "a node that reaches nothing keeps its group when no peer does better");
        Assert.That(events.Moves, Is.Empty);
        Assert.That(events.RoleChanges.Where(r => r.At > since), Is.Empty);
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void The_standby_losing_its_targets_moves_nothing()
    {
        var (sim, events) = Start();
        using var _ = sim;
        var since = sim.Now;
        sim.LoseTargets("b", TimeSpan.FromSeconds(6));
        sim.RunFor(TimeSpan.FromSeconds(8));
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Active));
        Assert.That(events.Moves, Is.Empty);
        Assert.That(events.RoleChanges.Where(r => r.At > since), Is.Empty);
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void Auto_failback_waits_until_the_preferred_node_reaches_its_targets_again()
    {
        var options = new SimulationOptions { Seed = 3, FaultDuration = TimeSpan.Zero, QuietDuration = TimeSpan.FromSeconds(3) };
        SimulationScenarios.UseIpfail(options.Cluster);
        options.Cluster.Groups[0].AutoFailback = true;
        options.Cluster.Groups[0].FailbackDelay = TimeSpan.FromMilliseconds(200);
        var events = new EventRecorder();
        options.Invariants = [.. Invariants.Default(options), events];
        using var sim = new HaKit.Testing.Simulation(options);
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null, "a owns web within 3 s of the start");
        sim.RunFor(TimeSpan.FromSeconds(2));
        sim.LoseTargets("a", TimeSpan.FromSeconds(6));
        Assert.That(sim.RunUntil(s => s["b"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(3)), Is.Not.Null, "b took web within 3 s (RunUntil returns null when the bound passed first)");
        var movedAt = sim.Now;

        // While a (the preferred node) still reaches nothing, failback must not bring the group back to it.
        sim.RunFor(TimeSpan.FromSeconds(3));
        Assert.That(sim["b"].Role("web"), Is.EqualTo(GroupRole.Active), "no failback to a node that reaches fewer targets");

        // a reaches its targets again: after its window refills, failback returns the group to a.
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(6)), Is.Not.Null, "web failed back to a within 6 s");
        Assert.That(events.Stops.Where(s => s.At > movedAt).Select(s => s.Reason), Is.EqualTo(new[] { StopReason.Failback }));
        Assert.That(sim.Violations, Is.Empty);
    }

    /// <summary>How many ipfail seeds CI runs (TwoNodeIpfail across every fault mix; target losses in three of them).</summary>
    public const int SeedCount = 2_000;

    private const int BatchSize = 1_000;

    private static IEnumerable<int> Batches() => Enumerable.Range(0, SeedCount / BatchSize).Select(b => b * BatchSize);

    [TestCaseSource(nameof(Batches))]
    public void Every_ipfail_seed_keeps_every_invariant(int from)
    {
        var failures = new ConcurrentBag<string>();
        Parallel.For(from, from + BatchSize, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
        {
            using var sim = new HaKit.Testing.Simulation(SimulationScenarios.ForIpfailSeed(seed));
            var result = sim.Run();
            if (!result.Passed)
            {
                failures.Add($"seed {seed} ({result.Scenario}): {result.Violations[0]} | replay: dotnet run --project tests/HaKit.Simulation -- --arbiter ipfail --seed {seed} --trace");
            }
        });

        Assert.That(failures.OrderBy(f => f, StringComparer.Ordinal), Is.Empty);
    }

    [Test]
    public void Ipfail_scenarios_are_deterministic_and_keep_every_invariant()
    {
        var options = SimulationScenarios.Create(41, ArbiterSetup.TwoNodeIpfail, "partitions");
        options.Faults.TargetLossRate = 0.5;
        options.RecordTrace = true;
        string[] Run()
        {
            using var sim = new HaKit.Testing.Simulation(options);
            var result = sim.Run();
            Assert.That(result.Violations, Is.Empty, string.Join("\n", result.Violations));
            return result.Trace.Select(t => t.ToString()).ToArray();
        }

        var first = Run();
        Assert.That(first, Has.Some.Contains("ping targets lost until"), "the target-loss fault is drawn");
        Assert.That(Run(), Is.EqualTo(first));
    }

    /// <summary>Records core events and stops (an "invariant" that never fails).</summary>
    private sealed class EventRecorder : IInvariant
    {
        public List<ReachabilityMove> Moves { get; } = [];

        public List<RoleChanged> RoleChanges { get; } = [];

        public List<GroupStopIssued> Stops { get; } = [];

        public List<FenceObserved> Fences { get; } = [];

        public string Name => "ipfail-recorder";

        public string? Check(HaKit.Testing.Simulation simulation)
        {
            foreach (var e in simulation.StepEvents)
            {
                switch (e)
                {
                    case CoreEventObserved { Event: ReachabilityMove m }:
                        Moves.Add(m);
                        break;
                    case CoreEventObserved { Event: RoleChanged r }:
                        RoleChanges.Add(r);
                        break;
                    case GroupStopIssued s:
                        Stops.Add(s);
                        break;
                    case FenceObserved f:
                        Fences.Add(f);
                        break;
                }
            }

            return null;
        }
    }
}
