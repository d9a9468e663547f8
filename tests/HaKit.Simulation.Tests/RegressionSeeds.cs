using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>
/// Every seed that ever found a bug, replayed in the exact scenario that found it (<see cref="SimulationScenarios.Create"/>: the
/// seed → mix mapping changes when a mix is appended, so each test pins its arbiter set-up and mix). Each test also checks that the
/// seed still reaches the situation that exposed the bug.
/// </summary>
public sealed class RegressionSeeds
{
    // ------------------------------------------------------------------ core bugs

    /// <summary>
    /// Seed 518 (TwoNodeFencing/everything): b began a failover with proposed epoch 2; while it waited for the arbiter, the former
    /// owner a restarted and announced highest epoch 2 (its persisted epoch). b persisted and started with epoch 2 anyway: a reused
    /// fencing token. Fixed in OwnershipCore.CheckAcquireStillValid: a stale proposal is abandoned and the takeover retried.
    /// </summary>
    [Test]
    public void Seed518_takeover_retries_when_a_restarted_owner_announces_the_proposed_epoch() =>
        AssertScenarioPasses(518, ArbiterSetup.TwoNodeFencing, "everything", "is no longer above the highest epoch seen");

    /// <summary>Seed 159 (TwoNodePingFencing/everything): the same bug, found when faults ended and a crashed node restarted.</summary>
    [Test]
    public void Seed159_takeover_retries_when_a_restarted_owner_announces_the_proposed_epoch() =>
        AssertScenarioPasses(159, ArbiterSetup.TwoNodePingFencing, "everything", "is no longer above the highest epoch seen");

    /// <summary>
    /// Seed 3 (TwoNodePingFencing/operator): an operator moved group web while it was in maintenance on its owner; the core stopped
    /// it there and the peer started it, although maintenance means hands off. Fixed in OwnershipCore.Switchover: refused in maintenance.
    /// </summary>
    [Test]
    public void Seed3_switchover_is_refused_while_the_group_is_in_maintenance() =>
        AssertScenarioPasses(3, ArbiterSetup.TwoNodePingFencing, "operator", "is in maintenance on");

    /// <summary>
    /// Seed 72 (TwoNodePlain/operator): an operator moved group web from a to b; b announced it Starting with epoch 4, then a
    /// reordered heartbeat b had sent before the handoff (Standby, highest epoch 3) reached a, which took it for b's current state
    /// and started the group itself (epoch 5): a needless dual start and a switchover that did not complete. Fixed in
    /// OwnershipCore.Receive: an announcement whose highest epoch is below the one already heard from that incarnation is stale.
    /// </summary>
    [Test]
    public void Seed72_a_reordered_heartbeat_from_before_a_handoff_is_ignored()
    {
        var probe = new StaleStandbyProbe();
        AssertScenarioPasses(72, ArbiterSetup.TwoNodePlain, "operator", _ => probe.Seen, "a Standby announcement arrives after a newer Starting/Active one", probe);
    }

    /// <summary>
    /// Seed 1151 (TwoNodePingFencing/operator): an operator put group web in maintenance on b while b was taking it over (fencing
    /// a, then asking the arbiter); maintenance skipped the check that aborts a takeover, so the pipeline went on and b started the
    /// group in maintenance. Fixed in OwnershipCore.Reconcile: maintenance abandons a takeover in progress.
    /// </summary>
    [Test]
    public void Seed1151_maintenance_abandons_a_takeover_in_progress() =>
        AssertScenarioPasses(1151, ArbiterSetup.TwoNodePingFencing, "operator", "the group went into maintenance here");

    /// <summary>
    /// Seed 16173 (TwoNodePing/operator): b moved group db to a (just out of maintenance). Right after b's stop, a heartbeat a had
    /// sent while still in maintenance (ineligible) arrived late at b; b no longer saw a as a candidate and took the group back at
    /// once: the switchover the operator was told would happen silently did not. Fixed in OwnershipCore.ConsiderAcquire: a node
    /// that released a group to a live peer does not take it back until the handoff settles (taken, target dead, or timed out).
    /// </summary>
    [Test]
    public void Seed16173_a_released_group_is_not_taken_back_on_a_stale_ineligible_heartbeat()
    {
        var probe = new HandoffTargetSeemsIneligibleProbe();
        var result = AssertScenarioPasses(16173, ArbiterSetup.TwoNodePing, "operator", _ => probe.Seen, "the releaser hears its handoff target announce itself ineligible before it took the group", probe);
        Assert.That(result.Trace.Any(t => t.Node == "a" && t.Text.Contains("role db: Standby -> Acquiring", StringComparison.Ordinal) && t.Text.Contains("(Handoff)", StringComparison.Ordinal)), Is.True, "a takes db over by handoff");
    }

    /// <summary>
    /// Seed 22161 (TwoNodePing/operator): a moved group web to b while the link b→a lan1 was cut; b started it and at once released it
    /// back to a (auto-failback), but a never heard b Starting/Active, so a kept announcing "handing over to b" while b announced
    /// "handing over to a": each honoured its own handoff and neither took the group, forever. Fixed in OwnershipCore.Receive: a
    /// release's handoff target is settled once it announces a newer epoch than the released one, or hands the group back.
    /// </summary>
    [Test]
    public void Seed22161_two_nodes_handing_a_group_to_each_other_do_not_deadlock()
    {
        var probe = new MutualHandoffProbe();
        AssertScenarioPasses(22161, ArbiterSetup.TwoNodePing, "operator", _ => probe.Seen, "a node releases a group to the node whose latest heartbeat hands it to the releaser", probe);
    }

    /// <summary>
    /// Seed 16531 (TwoNodePingFencing/everything), found by epochs-unique-per-start: a heard b start group web with epoch 2 (a
    /// handoff), but persisting that learned epoch failed (disk full) and was never tried again; a crashed, restarted knowing only
    /// epoch 1, fenced b and started web with epoch 2: b's fencing token, reused. Twenty more seeds of 0–19 999 did the same (for
    /// example 7720, TwoNodePlain/everything: b restarted behind a partition and started epoch 1 beside a's epoch 1). Fixed in
    /// OwnershipCore: a failed persist while a learned epoch is above the durable one is retried every ArbiterRetryInterval.
    /// </summary>
    [Test]
    public void Seed16531_a_learned_epoch_whose_persist_failed_is_persisted_again()
    {
        var result = AssertScenarioPasses(16531, ArbiterSetup.TwoNodePingFencing, "everything", LearnedEpochPersistRetried, "a learned epoch's failed persist is retried");
        Assert.That(result.Trace.Any(t => t.Node == "a" && t.Text.StartsWith("process starts, incarnation 2", StringComparison.Ordinal) && t.Text.Contains("web=2", StringComparison.Ordinal)), Is.True, "a restarts knowing b's epoch 2");
    }

    /// <summary>Seed 7720 (TwoNodePlain/everything): the same core bug, in TwoNode mode without fencing.</summary>
    [Test]
    public void Seed7720_a_learned_epoch_whose_persist_failed_is_persisted_again() =>
        AssertScenarioPasses(7720, ArbiterSetup.TwoNodePlain, "everything", LearnedEpochPersistRetried, "a learned epoch's failed persist is retried");

    // ------------------------------------------------------------------ runtime (the node's executor, run by the simulator since 2026-12-06)

    /// <summary>Seed 128 (TwoNodePlain/everything) caught a planted executor bug that reported a failed persist as done (the
    /// node used an epoch that was not on disk and reused it after a restart: <c>epochs-grow</c>); the run must still reach a
    /// failed persist.</summary>
    [Test]
    public void Seed128_a_persist_that_failed_on_disk_is_reported_to_the_core_as_failed() =>
        AssertScenarioPasses(128, ArbiterSetup.TwoNodePlain, "everything",
            trace => trace.Any(t => t.Category == "cmd" && t.Text.StartsWith("persist ", StringComparison.Ordinal) && t.Text.EndsWith(": simulated: No space left on device", StringComparison.Ordinal)),
            "a failed persist");

    /// <summary>Seed 410 (TwoNodeFencing/everything) caught a planted executor bug that took a failed fence as done (a takeover
    /// beside a running peer: <c>resources-never-overlap</c>); the run must still reach a failed fence.</summary>
    [Test]
    public void Seed410_a_failed_fence_is_reported_to_the_core_as_failed() =>
        AssertScenarioPasses(410, ArbiterSetup.TwoNodeFencing, "everything",
            trace => trace.Any(t => t.Category == "cmd" && t.Text.StartsWith("fence ", StringComparison.Ordinal) && t.Text.Contains(": will fail after", StringComparison.Ordinal)),
            "a failed fence");

    // ------------------------------------------------------------------ simulator bugs

    /// <summary>
    /// Seed 7177 (TwoNodePing/everything): during a dual-active, the split-brain rule's loser received a heartbeat the winner had
    /// sent before its current takeover (Active with an older epoch); the invariant started the loser's deadline from it, although
    /// that news does not tell the loser it lost. Fixed in TwoNodeDualActiveInvariant: the deadline starts at the winner's current ownership.
    /// </summary>
    [Test]
    public void Seed7177_a_dual_active_deadline_starts_at_the_winners_current_ownership()
    {
        var probe = new StaleWinnerNewsProbe();
        AssertScenarioPasses(7177, ArbiterSetup.TwoNodePing, "everything", _ => probe.Seen, "the loser of a dual-active hears the winner announce an older ownership", probe);
    }

    /// <summary>Seed 12429 (TwoNodePing/crashes): the same simulator bug, with a crash and restart during the dual-active.</summary>
    [Test]
    public void Seed12429_a_dual_active_deadline_starts_at_the_winners_current_ownership()
    {
        var probe = new StaleWinnerNewsProbe();
        AssertScenarioPasses(12429, ArbiterSetup.TwoNodePing, "crashes", _ => probe.Seen, "the loser of a dual-active hears the winner announce an older ownership", probe);
    }

    /// <summary>
    /// Seed 1601 (TwoNodePing/everything), also 852 and 1332 before the learned-epoch persist fix changed their runs: when faults
    /// ended the operator's cleanup retried the stop of a group blocked on b (a stop had failed, but none of its resources ran)
    /// while a ran it; the first resources-never-overlap counted b's Stopping as a run beside a's. Fixed in the invariant: Stopping
    /// counts only as the tail of a run (or while a resource still runs), so that cleanup begins no run.
    /// </summary>
    [Test]
    public void Seed1601_a_cleanup_of_a_blocked_group_with_nothing_running_is_no_overlap()
    {
        var probe = new CleanupBesideOwnerProbe();
        AssertScenarioPasses(1601, ArbiterSetup.TwoNodePing, "everything", _ => probe.Seen, "an operator cleanup stops a blocked group with nothing running while another node runs it", probe);
    }

    /// <summary>
    /// Seed 2312 (TwoNodePlain/resources): a stop drawn while faults were on timed out after they ended, so a group became Blocked
    /// after the operator's cleanup, and the convergence check failed. Fixed in the simulator: the operator cleans up once more
    /// when every action begun during faults has finished (SimulationBounds.InFlight).
    /// </summary>
    [Test]
    public void Seed2312_the_operator_cleans_up_again_after_actions_begun_during_faults() =>
        AssertScenarioPasses(2312, ArbiterSetup.TwoNodePlain, "resources", SecondCleanupRetriedABlockedStop, "the second cleanup after the faults retries a blocked stop");

    /// <summary>Seed 4197 (TwoNodePing/everything): the same simulator bug (a stop failing just after the faults ended).</summary>
    [Test]
    public void Seed4197_the_operator_cleans_up_again_after_actions_begun_during_faults() =>
        AssertScenarioPasses(4197, ArbiterSetup.TwoNodePing, "everything", SecondCleanupRetriedABlockedStop, "the second cleanup after the faults retries a blocked stop");

    /// <summary>
    /// Seeds 16055 (TwoNodePingFencing/operator), 18094 (TwoNodeFencing/operator) and 18815 (TwoNodePingFencing/operator): the
    /// switchover-completes invariant demanded that a switchover's target become Active even when the source had accepted the
    /// target from a reordered heartbeat that showed it eligible while it no longer was; the core then, correctly, kept or took
    /// back the group. Fixed in the simulator: the invariant binds only switchovers to a target that was healthy when they began.
    /// </summary>
    /// <param name="seed">The seed.</param>
    /// <param name="setup">Its arbiter set-up.</param>
    [TestCase(16055, ArbiterSetup.TwoNodePingFencing)]
    [TestCase(18094, ArbiterSetup.TwoNodeFencing)]
    [TestCase(18815, ArbiterSetup.TwoNodePingFencing)]
    public void The_switchover_invariant_binds_only_healthy_targets(int seed, ArbiterSetup setup) =>
        AssertScenarioPasses(seed, setup, "operator", trace => trace.Any(t => t.Category == "admin" && t.Text.StartsWith("SwitchoverCommand", StringComparison.Ordinal) && t.Text.Contains("stopping here, then starting on", StringComparison.Ordinal)), "an accepted switchover");

    /// <summary>A node's persist of an epoch failed and a later persist of the same epoch succeeded without starting the group with
    /// it (so it was a learned epoch, not a takeover's own).</summary>
    private static bool LearnedEpochPersistRetried(IReadOnlyList<TraceEntry> trace)
    {
        const string Failed = ": simulated: No space left on device";
        foreach (var f in trace.Where(t => t.Category == "cmd" && t.Text.StartsWith("persist ", StringComparison.Ordinal) && t.Text.EndsWith(Failed, StringComparison.Ordinal)))
        {
            var what = f.Text[..^Failed.Length]; // "persist web epoch 2"
            var parts = what.Split(' ');
            var started = $"role {parts[1]}: Acquiring -> Starting epoch {parts[3]}";
            foreach (var ok in trace.Where(t => t.At > f.At && t.Node == f.Node && t.Text == what + ": ok"))
            {
                if (!trace.Any(t => t.At == ok.At && t.Node == f.Node && t.Text.StartsWith(started, StringComparison.Ordinal)))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool SecondCleanupRetriedABlockedStop(IReadOnlyList<TraceEntry> trace)
    {
        var end = trace.First(t => t.Text.StartsWith("faults end", StringComparison.Ordinal)).At;
        return trace.Any(t => t.At > end && t.Category == "admin" && t.Text.Contains("retrying the stop of the blocked group", StringComparison.Ordinal));
    }

    internal static SimulationResult AssertScenarioPasses(int seed, ArbiterSetup setup, string mix, string mustHappen) =>
        AssertScenarioPasses(seed, setup, mix, trace => trace.Any(t => t.Text.Contains(mustHappen, StringComparison.Ordinal)), $"'{mustHappen}' in the trace");

    internal static SimulationResult AssertScenarioPasses(int seed, ArbiterSetup setup, string mix, Func<IReadOnlyList<TraceEntry>, bool> situation, string what, params IInvariant[] probes)
    {
        var options = SimulationScenarios.Create(seed, setup, mix);
        options.RecordTrace = true;
        if (probes.Length > 0)
        {
            options.Invariants = [.. Invariants.Default(options), .. probes];
        }

        using var sim = new HaKit.Testing.Simulation(options);
        var result = sim.Run();
        Assert.That(result.Scenario, Is.EqualTo($"{setup}/{mix}"));
        Assert.That(result.Violations, Is.Empty, () => $"seed {seed} ({setup}/{mix}): {string.Join("; ", result.Violations)}");
        Assert.That(situation(result.Trace), Is.True,
            $"seed {seed} ({setup}/{mix}) no longer reaches the situation that found the bug ({what}); pick the new seed that does");
        return result;
    }

    /// <summary>Observes (never fails) an operator cleanup that leaves a node Stopping a group none of whose resources runs there
    /// while another node has the group Active.</summary>
    private sealed class CleanupBesideOwnerProbe : IInvariant
    {
        public bool Seen { get; private set; }

        public string Name => "probe-cleanup-beside-owner";

        public string? Check(HaKit.Testing.Simulation simulation)
        {
            foreach (var e in simulation.StepEvents)
            {
                if (e is AdminObserved { Command: ClearFailuresCommand, Result.Accepted: true })
                {
                    var n = simulation[e.Node];
                    Seen |= simulation.GroupNames.Any(g => n.Role(g) == GroupRole.Stopping && !n.IsRunning(g)
                        && simulation.Nodes.Any(o => o != n && o.Role(g) == GroupRole.Active));
                }
            }

            return null;
        }
    }

    /// <summary>Observes (never fails) a heartbeat that announces a group Standby with a lower epoch than the sender's earlier Starting/Active announcement.</summary>
    private sealed class StaleStandbyProbe : IInvariant
    {
        private readonly Dictionary<(string To, string From, string Group), ulong> _running = [];

        public bool Seen { get; private set; }

        public string Name => "probe-stale-standby";

        public string? Check(HaKit.Testing.Simulation simulation)
        {
            foreach (var e in simulation.StepEvents)
            {
                if (e is NodeStarted s)
                {
                    foreach (var k in _running.Keys.Where(k => k.To == s.Node || k.From == s.Node).ToArray())
                    {
                        _running.Remove(k);
                    }
                }
                else if (e is HeartbeatDelivered h)
                {
                    foreach (var a in h.Message.Groups)
                    {
                        var key = (h.Node, h.From, a.Group);
                        if (a.Role is GroupRole.Starting or GroupRole.Active)
                        {
                            _running[key] = Math.Max(a.Epoch, a.HighestEpoch);
                        }
                        else if (a.Role == GroupRole.Standby && _running.TryGetValue(key, out var epoch) && Math.Max(a.Epoch, a.HighestEpoch) < epoch)
                        {
                            Seen = true;
                        }
                    }
                }
            }

            return null;
        }
    }

    /// <summary>Observes (never fails) a dual-active whose rule loser hears the winner announce an ownership older than its current one.</summary>
    private sealed class StaleWinnerNewsProbe : IInvariant
    {
        public bool Seen { get; private set; }

        public string Name => "probe-stale-winner-news";

        public string? Check(HaKit.Testing.Simulation simulation)
        {
            foreach (var e in simulation.StepEvents)
            {
                if (e is not HeartbeatDelivered h)
                {
                    continue;
                }

                var (loser, winner) = (simulation[h.Node], simulation[h.From]);
                foreach (var a in h.Message.Groups)
                {
                    var g = a.Group;
                    if (a.Role is not (GroupRole.Starting or GroupRole.Active) || !Runs(loser, g) || !Runs(winner, g))
                    {
                        continue;
                    }

                    var (we, le) = (winner.Epoch(g), loser.Epoch(g));
                    var winnerWins = we != le ? we > le : Outranks(simulation, winner.Name, loser.Name);
                    if (winnerWins && a.Epoch != we)
                    {
                        Seen = true;
                    }
                }
            }

            return null;
        }

        private static bool Runs(SimulatedNode n, string g) => n.IsUp && n.Role(g) is GroupRole.Starting or GroupRole.Active;

        private static bool Outranks(HaKit.Testing.Simulation sim, string a, string b)
        {
            int Priority(string n) => sim[n].Options.Nodes.First(x => x.Name == n).Priority;
            return Priority(a) != Priority(b) ? Priority(a) > Priority(b) : string.CompareOrdinal(a, b) < 0;
        }
    }

    /// <summary>Observes (never fails) a node that releases a group to a target while the latest heartbeat it got from the target says the target is ineligible for it.</summary>
    private sealed class HandoffTargetSeemsIneligibleProbe : IInvariant
    {
        public bool Seen { get; private set; }

        public string Name => "probe-handoff-target-ineligible";

        public string? Check(HaKit.Testing.Simulation simulation)
        {
            foreach (var e in simulation.StepEvents)
            {
                if (e is HeartbeatDelivered h)
                {
                    foreach (var a in h.Message.Groups)
                    {
                        if (a is { Role: GroupRole.Standby, HandoffTo: { } to } && simulation.LastHeartbeat(h.From, to) is { } heard
                            && heard.Message.Groups.Any(x => x.Group == a.Group && !x.Eligible))
                        {
                            Seen = true;
                        }
                    }
                }
            }

            return null;
        }
    }

    /// <summary>Observes (never fails) two nodes whose latest announcements hand the same group to each other.</summary>
    private sealed class MutualHandoffProbe : IInvariant
    {
        public bool Seen { get; private set; }

        public string Name => "probe-mutual-handoff";

        public string? Check(HaKit.Testing.Simulation simulation)
        {
            foreach (var e in simulation.StepEvents)
            {
                if (e is HeartbeatDelivered h)
                {
                    foreach (var a in h.Message.Groups)
                    {
                        if (a is { Role: GroupRole.Standby, HandoffTo: { } to } && to == h.Node && simulation.LastHeartbeat(h.From, h.Node) is { } back
                            && back.Message.Groups.Any(x => x.Group == a.Group && x.HandoffTo == h.From))
                        {
                            Seen = true;
                        }
                    }
                }
            }

            return null;
        }
    }
}
