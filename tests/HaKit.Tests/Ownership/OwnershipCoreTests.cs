using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;

namespace HaKit.Tests.Ownership;

[TestFixture]
public partial class OwnershipCoreTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    private static CoreCluster TwoNodes(Action<CoreCluster>? configure = null)
    {
        var c = new CoreCluster("a", "b");
        configure?.Invoke(c);
        c.Start();
        return c;
    }

    private static GroupActionOutcome Failed(ResourceFailureKind kind) => new(GroupOutcome.Failed, kind, "app", "boom", 3);

    private static GroupActionOutcome Blocked() => new(GroupOutcome.Blocked, ResourceFailureKind.Transient, "app", "stop timed out", 0);

    [Test]
    public void Initial_start_the_preferred_node_becomes_active_with_epoch_1()
    {
        var c = TwoNodes();
        c.Run(2 * Second);

        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby));
        Assert.That(c.Epoch("a"), Is.EqualTo(1UL));
        Assert.That(c.Overlaps, Is.Empty);
        var takeover = c.EventsOf<RoleChanged>("a").Single(r => r.To == GroupRole.Active);
        Assert.That(takeover.Takeover, Is.EqualTo(TakeoverReason.Initial));
        Assert.That(takeover.TakeoverDuration, Is.Not.Null);
    }

    [TestCase(false, GroupRole.Standby)]
    [TestCase(true, GroupRole.Acquiring)]
    public void An_announcement_older_than_the_last_one_acted_on_is_ignored(bool newer, GroupRole expectedOnB)
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));

        // "a released web to b" with a's current epochs: only its announcement number tells whether it is a's current state or
        // a packet that was held back on a slow link since before a took the group.
        var sequence = newer ? ulong.MaxValue : 1UL;
        var release = new HeartbeatMessage(100, false, [new GroupAnnouncement("web", GroupRole.Standby, 0, c.Epoch("a"), true, "b", 0, 0)], sequence);
        c.Nodes["b"].Core.Receive(c.Now, "a", "lan0", c.Nodes["a"].Incarnation, release);

        Assert.That(c.Role("b"), Is.EqualTo(expectedOnB));
    }

    [Test]
    public void Without_a_preferred_node_the_highest_priority_wins_the_initial_start()
    {
        var c = TwoNodes(c =>
        {
            c.Groups[0] = c.Groups[0] with { PreferredNode = null };
            c.Priorities["b"] = 200;
        });
        c.Run(2 * Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public void Both_nodes_up_and_heard_each_other_start_before_initial_dead_time()
    {
        var c = TwoNodes();
        var took = c.RunUntil(() => c.Role("a") == GroupRole.Active, Second);

        Assert.That(took, Is.Not.Null.And.LessThan(TimeSpan.FromMilliseconds(300)), "a node that hears every peer need not wait for initdead");
    }

    [Test]
    public void A_node_alone_waits_for_the_initial_dead_time_before_starting()
    {
        var c = new CoreCluster("a", "b");
        c.StartNode("a"); // b never starts
        c.RunMs(900);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Standby), "initdead (1 s) has not passed");
        Assert.That(c.Commands.Any(x => x.Command is StartGroup), Is.False);

        c.RunMs(300);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));
        var acquire = c.EventsOf<RoleChanged>("a").First(r => r.To == GroupRole.Acquiring);
        Assert.That(acquire.Takeover, Is.EqualTo(TakeoverReason.Failover));
        Assert.That(acquire.Why.Reason, Does.Contain("never heard"));
    }

    [Test]
    public void Failover_after_the_owner_dies_raises_the_epoch_and_explains_itself()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Crash("a");
        var took = c.RunUntil(() => c.Role("b") == GroupRole.Active, 3 * Second);

        Assert.That(took, Is.Not.Null);
        Assert.That(took!.Value, Is.GreaterThanOrEqualTo(c.Timing.DeadTime - c.Timing.Interval), "no takeover before the dead time");
        Assert.That(took.Value, Is.LessThan(c.Timing.DeadTime + TimeSpan.FromMilliseconds(150)), "takeover within dead time + a tick + action time");
        Assert.That(c.Epoch("b"), Is.EqualTo(2UL));

        var dead = c.EventsOf<PeerHealthChanged>("b").Last();
        Assert.That(dead.To, Is.EqualTo(PeerHealth.Dead));
        Assert.That(dead.Silence, Is.GreaterThanOrEqualTo(c.Timing.DeadTime));
        Assert.That(dead.Observation.Links.Select(l => l.Health), Is.All.EqualTo(PeerHealth.Dead));

        var active = c.EventsOf<RoleChanged>("b").Last();
        Assert.That(active.To, Is.EqualTo(GroupRole.Active));
        Assert.That(active.Takeover, Is.EqualTo(TakeoverReason.Failover));
        Assert.That(active.Why.Arbiter, Is.Not.Null, "the arbiter answer is part of the explanation");
        Assert.That(active.Why.Peers.Single().Links, Has.Count.EqualTo(2));
        var acquiring = c.EventsOf<RoleChanged>("b").Single(r => r.To == GroupRole.Acquiring);
        Assert.That(acquiring.Why.Reason, Does.Match(@"node a is dead \(no heartbeat for \d\.\d\d s on 2 links\)"));
    }

    [Test]
    public void The_epoch_is_persisted_before_the_group_starts()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Crash("a");
        c.Run(2 * Second);

        var b = c.Commands.Where(x => x.Node == "b").Select(x => x.Command).ToList();
        var start = b.FindIndex(x => x is StartGroup { Epoch: 2 });
        var persist = b.FindIndex(x => x is PersistEpoch { Epoch: 2 });
        Assert.That(start, Is.GreaterThan(0));
        Assert.That(persist, Is.GreaterThanOrEqualTo(0).And.LessThan(start));
        Assert.That(c["b"].Persisted["web"], Is.EqualTo(2UL));
    }

    [Test]
    public void A_failed_persist_abandons_the_takeover_and_retries()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.FailNextPersist.Add("b");
        c.Crash("a");
        c.Run(TimeSpan.FromMilliseconds(550));

        Assert.That(c.EventsOf<PersistFailed>("b"), Is.Not.Empty);
        Assert.That(c.Commands.Any(x => x.Node == "b" && x.Command is StartGroup), Is.False, "no start with an unpersisted epoch");
        c.Run(2 * Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active), "the next attempt persists and starts");
    }

    [Test]
    public void A_restarted_node_never_reuses_an_epoch()
    {
        var c = TwoNodes();
        c.Run(2 * Second);              // a: epoch 1
        c.Crash("a");
        c.Run(2 * Second);              // b: epoch 2
        c.Restart("a");                 // a rejoins as standby and learns epoch 2 from b's heartbeats
        c.Run(Second);
        Assert.That(c["a"].Persisted["web"], Is.EqualTo(2UL), "an epoch learned from a peer is persisted");
        c.Crash("b");
        c.Run(2 * Second);              // a: epoch 3
        Assert.That(c.Epoch("a"), Is.EqualTo(3UL));

        c.Crash("a");                   // both down; a comes back alone and only has its disk
        c.Restart("a");
        c.Run(3 * Second);

        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));
        Assert.That(c.Epoch("a"), Is.EqualTo(4UL));
        Assert.That(c["a"].StartedEpochs.Select(s => s.Epoch), Is.EqualTo(new[] { 1UL, 3UL, 4UL }));
    }

    [Test]
    public void One_link_down_is_reported_but_the_peer_stays_alive_and_nothing_fails_over()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.CutBoth("a", "b", "lan0");
        c.Run(3 * Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a" }));
        var down = c.EventsOf<LinkHealthChanged>("b").Single(l => l.To == PeerHealth.Dead);
        Assert.That(down.Link, Is.EqualTo("lan0"));
        Assert.That(c["b"].Core.GetPeerHealth("a"), Is.EqualTo(PeerHealth.Alive));
        Assert.That(c.EventsOf<PeerHealthChanged>("b").Any(p => p.To == PeerHealth.Dead), Is.False);
    }

    [Test]
    public void Switchover_stops_before_the_peer_starts_and_never_overlaps()
    {
        var c = TwoNodes(c =>
        {
            c.StartDuration = TimeSpan.FromMilliseconds(40);
            c.StopDuration = TimeSpan.FromMilliseconds(60);
        });
        c.Run(2 * Second);
        var sent = c.Now;
        var result = c.Admin("a", new SwitchoverCommand("web", "b"));
        Assert.That(result.Accepted, Is.True, result.Message);
        var took = c.RunUntil(() => c.Role("b") == GroupRole.Active, 2 * Second);

        Assert.That(took, Is.Not.Null);
        Assert.That(c.Overlaps, Is.Empty, "never both");
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Standby));
        Assert.That(c.Epoch("b"), Is.EqualTo(2UL));
        // Gap bound: stop (60) + one-way delivery (1) + arbiter (2) + start (40) + scheduling slack.
        Assert.That(took!.Value, Is.LessThan(TimeSpan.FromMilliseconds(60 + 40 + 20)));
        var bStart = c.Commands.First(x => x.Node == "b" && x.Command is StartGroup).At;
        var aStopDone = c.EventsOf<RoleChanged>("a").First(r => r.From == GroupRole.Stopping).At;
        Assert.That(bStart, Is.GreaterThan(aStopDone));
        Assert.That(sent, Is.LessThan(aStopDone));
    }

    [Test]
    public void Switchover_is_refused_on_a_node_that_does_not_own_the_group()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        var result = c.Admin("b", new SwitchoverCommand("web", "b"));

        Assert.That(result.Accepted, Is.False);
        Assert.That(result.Message, Does.Contain("active on a"));
    }

    [Test]
    public void Failback_on_returns_the_group_to_the_preferred_node_after_the_delay()
    {
        var c = TwoNodes(c => c.Groups[0] = c.Groups[0] with { AutoFailback = true, FailbackDelay = Second });
        c.Run(2 * Second);
        c.Crash("a");
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));

        c.Restart("a");
        c.RunMs(800);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }), "not before the failback delay");
        var moved = c.RunUntil(() => c.Role("a") == GroupRole.Active, 3 * Second);

        Assert.That(moved, Is.Not.Null, "a took the group back within 3 s");
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a" }), "a alone owns it after the failback");
        Assert.That(c.Epoch("a"), Is.EqualTo(3UL));
        Assert.That(c.Overlaps, Is.Empty);
        Assert.That(c.EventsOf<RoleChanged>("b").Any(r => r.To == GroupRole.Stopping && r.Why.Reason.Contains("auto-failback")), Is.True);
    }

    [Test]
    public void Failback_off_keeps_the_group_where_it_runs()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Crash("a");
        c.Run(2 * Second);
        c.Restart("a");
        c.Run(5 * Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Standby));
    }

    [Test]
    public void Split_brain_after_a_full_partition_higher_epoch_wins_and_the_loser_stops()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.CutBoth("a", "b");
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a", "b" }), "TwoNode mode: dual active while every link is cut");
        Assert.That(c.Epoch("b"), Is.EqualTo(2UL));

        c.HealAll();
        c.Run(Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }), "b has the higher epoch");
        var events = c.EventsOf<SplitBrainDetected>().ToList();
        Assert.That(events, Is.Not.Empty);
        Assert.That(events.Select(e => e.Winner), Is.All.EqualTo("b"));
        var onA = c.EventsOf<SplitBrainDetected>("a").First();
        Assert.That((onA.LocalNode, onA.LocalEpoch, onA.PeerNode, onA.PeerEpoch), Is.EqualTo(("a", 1UL, "b", 2UL)));
        Assert.That(c.EventsOf<RoleChanged>("a").First(r => r.To == GroupRole.Stopping).Why.Reason, Does.Contain("split brain with b"));
    }

    [Test]
    public void Split_brain_with_equal_epochs_is_won_by_the_higher_priority()
    {
        // Links cut from the very start: both nodes start the group with epoch 1.
        var c = new CoreCluster("a", "b");
        c.Priorities["b"] = 200;
        c.CutBoth("a", "b");
        c.Start();
        c.Run(2 * Second);
        Assert.That(c.Epoch("a"), Is.EqualTo(1UL));
        Assert.That(c.Epoch("b"), Is.EqualTo(1UL));

        c.HealAll();
        c.Run(Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));
        Assert.That(c.EventsOf<SplitBrainDetected>("a").First().Winner, Is.EqualTo("b"));
    }

    [Test]
    public void A_local_stall_is_not_counted_against_the_peer()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        // b stalls for 1.5 s (longer than the dead time): its first late tick must not declare a dead.
        c["b"].StallUntil = c.Now + TimeSpan.FromMilliseconds(1500);
        c.Run(3 * Second);

        Assert.That(c.EventsOf<LocalPauseDetected>("b"), Is.Not.Empty);
        Assert.That(c.EventsOf<PeerHealthChanged>("b").Any(p => p.To == PeerHealth.Dead), Is.False);
        Assert.That(c.Commands.Any(x => x.Node == "b" && x.Command is StartGroup), Is.False);
    }

    [Test]
    public void Without_pause_compensation_the_same_stall_would_fail_over()
    {
        // Guards the previous test: proves the stall is long enough to matter.
        var c = TwoNodes(c => c.Timing.LocalPauseThreshold = TimeSpan.FromHours(1));
        c.Run(2 * Second);
        c["b"].StallUntil = c.Now + TimeSpan.FromMilliseconds(1500);
        c.Run(3 * Second);

        Assert.That(c.EventsOf<PeerHealthChanged>("b").Any(p => p.To == PeerHealth.Dead), Is.True);
    }

    [Test]
    public void A_freeze_before_the_first_tick_is_not_counted_against_the_initial_dead_time()
    {
        // b is frozen from its creation until well past its initial dead time (a machine stalled while it started, or slow
        // start-up probes): its first tick must not declare a, which was sending all along, dead before b read a single packet.
        var c = TwoNodes();
        var freeze = c.Timing.InitialDeadTime + 2 * Second;
        c["b"].StallUntil = c.Now + freeze;
        c.Run(freeze + 3 * Second);

        var pause = c.EventsOf<LocalPauseDetected>("b").Single();
        Assert.That(pause.BeforeFirstTick, Is.True);
        Assert.That(pause.Duration, Is.GreaterThanOrEqualTo(freeze - c.Timing.EffectiveTickInterval));
        Assert.That(c.EventsOf<PeerHealthChanged>("b").Any(p => p.To == PeerHealth.Dead), Is.False);
        Assert.That(c.Commands.Any(x => x.Node == "b" && x.Command is StartGroup), Is.False);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public void Without_pause_compensation_a_freeze_before_the_first_tick_would_declare_the_peer_dead()
    {
        // Guards the previous test: the same freeze, counted, expires b's initial dead time at its first tick.
        var c = TwoNodes(c => c.Timing.LocalPauseThreshold = TimeSpan.FromHours(1));
        var freeze = c.Timing.InitialDeadTime + 2 * Second;
        c["b"].StallUntil = c.Now + freeze;
        c.Run(freeze + 3 * Second);

        Assert.That(c.EventsOf<PeerHealthChanged>("b").Any(p => p.To == PeerHealth.Dead), Is.True);
    }

    [Test]
    public void After_a_late_first_tick_a_silent_peer_is_dead_one_initial_dead_time_later()
    {
        // The discount only moves the start of initdead to the first tick: a peer that never speaks is still declared dead.
        var c = TwoNodes();
        c.Crash("a");
        var freeze = 2 * Second;
        c["b"].StallUntil = c.Now + freeze;
        var start = c.Now;
        c.RunUntil(() => c.EventsOf<PeerHealthChanged>("b").Any(p => p.To == PeerHealth.Dead), freeze + c.Timing.InitialDeadTime + Second);

        var dead = c.EventsOf<PeerHealthChanged>("b").First(p => p.To == PeerHealth.Dead);
        Assert.That(dead.At - start, Is.GreaterThanOrEqualTo(freeze + c.Timing.InitialDeadTime - c.Timing.EffectiveTickInterval));
        Assert.That(dead.At - start, Is.LessThanOrEqualTo(freeze + c.Timing.InitialDeadTime + 2 * c.Timing.EffectiveTickInterval));
    }

    [Test]
    public void Node_standby_releases_every_group_to_the_peer()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Admin("a", new SetStandbyCommand(true));
        c.Run(Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));
        Assert.That(c.Overlaps, Is.Empty);

        c.Admin("a", new SetStandbyCommand(false));
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }), "failback off: it stays on b");
    }

    [Test]
    public void Maintenance_stops_monitoring_and_failover()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Admin("a", new SetMaintenanceCommand("web", true));
        var monitorsBefore = c.Commands.Count(x => x.Command is MonitorGroup);
        c.MonitorOutcome = (_, _, _) => Failed(ResourceFailureKind.Transient);
        c.Run(3 * Second);

        Assert.That(c.Commands.Count(x => x.Command is MonitorGroup), Is.EqualTo(monitorsBefore));
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));
    }

    [Test]
    public void Graceful_shutdown_hands_the_group_over_and_reports_ready()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Admin("a", new ShutdownCommand());
        c.Run(Second);

        Assert.That(c.EventsOf<ShutdownReady>("a"), Has.Exactly(1).Items);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));
        Assert.That(c.EventsOf<RoleChanged>("b").Last().Takeover, Is.EqualTo(TakeoverReason.Handoff));
        Assert.That(c.Overlaps, Is.Empty);
        var lastHeartbeat = c.Commands.Where(x => x.Node == "a").Select(x => x.Command).OfType<SendHeartbeat>().Last();
        Assert.That(lastHeartbeat.Message.Leaving, Is.True);
    }

    [Test]
    public void Shutdown_is_ready_only_once_the_peer_has_taken_the_group()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Admin("a", new ShutdownCommand());
        c.Run(Second);

        var ready = c.EventsOf<ShutdownReady>("a").Single().At;
        var bStarting = c.EventsOf<RoleChanged>("b").First(r => r.To == GroupRole.Starting).At;
        Assert.That(ready, Is.GreaterThan(bStarting), "a keeps its links up until b announced the group");
        Assert.That(c.EventsOf<GroupHandedOver>("a").Single(), Has.Property("Group").EqualTo("web").And.Property("To").EqualTo("b"));
        var release = c.Releases.Single();
        Assert.That((release.Node, release.Group), Is.EqualTo(("a", "web")), "a gives its arbiter claim back once web is stopped");
        Assert.That(release.At, Is.LessThanOrEqualTo(bStarting), "released before b starts web");
    }

    [Test]
    public void A_lost_release_announcement_is_repeated_until_the_peer_takes_over()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Cut("a", "b");                       // the release announcement will be lost
        c.Admin("a", new ShutdownCommand());
        c.RunMs(150);                           // shorter than the dead time (400 ms)
        Assert.That(c.EventsOf<ShutdownReady>("a"), Is.Empty, "not ready while b has not taken the group");
        c.HealAll();
        var took = c.RunUntil(() => c.Role("b") == GroupRole.Active, Second);

        Assert.That(took, Is.Not.Null.And.LessThan(TimeSpan.FromMilliseconds(150)), "the next heartbeat repeats the release");
        Assert.That(c.EventsOf<RoleChanged>("b").Last().Takeover, Is.EqualTo(TakeoverReason.Handoff), "a handoff, not a failover after the dead time");
        c.RunMs(100);
        Assert.That(c.EventsOf<ShutdownReady>("a"), Has.Exactly(1).Items);
    }

    [Test]
    public void Shutdown_reports_ready_after_the_confirm_timeout_when_the_target_never_takes_the_group()
    {
        var c = TwoNodes(c => c.StartOutcome = (node, _, _) => node == "b" ? Failed(ResourceFailureKind.Transient) : CoreCluster.Ok);
        c.Run(2 * Second);
        c.Admin("a", new ShutdownCommand());
        var ready = c.RunUntil(() => c.EventsOf<ShutdownReady>("a").Any(), 5 * Second);

        Assert.That(ready, Is.Not.Null.And.LessThan(TimeSpan.FromSeconds(2.5)), "bounded by the handoff confirm timeout (2 s here)");
    }

    [Test]
    public void A_peer_restart_is_reported_and_its_stale_announcements_are_forgotten()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.Restart("b");
        c.Run(2 * Second);

        var restarted = c.EventsOf<PeerRestarted>("a").Single();
        Assert.That(restarted.Incarnation, Is.EqualTo(restarted.PreviousIncarnation + 1));
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public void A_lease_is_renewed_and_a_refused_renewal_stops_the_group()
    {
        var renewals = 0;
        var refuse = false;
        var c = TwoNodes(c => c.Arbiter = (_, r) =>
        {
            if (r.Reason == AcquireReason.Renew)
            {
                renewals++;
            }

            return refuse && r.Reason == AcquireReason.Renew
                ? ArbiterDecision.Deny("lease held by b")
                : new ArbiterDecision(true, "lease", TimeSpan.FromMilliseconds(900));
        });
        c.Run(3 * Second);
        Assert.That(renewals, Is.GreaterThan(3), "renewed about every lease/3");
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));

        refuse = true;
        c.RunMs(400);
        var stop = c.EventsOf<RoleChanged>("a").First(r => r.To == GroupRole.Stopping);
        Assert.That(stop.Why.Reason, Does.Contain("lease renewal refused"));
    }

    [Test]
    public void A_lease_that_is_not_renewed_in_time_stops_the_group_before_it_expires()
    {
        var c = TwoNodes(c => c.Arbiter = (_, _) => new ArbiterDecision(true, "lease", TimeSpan.FromMilliseconds(900)));
        c.Run(2 * Second);
        // The arbiter stops answering renewals (unreachable): the holder must stop at lease - margin after its last grant.
        c.ArbiterDelay = TimeSpan.FromHours(1);
        var stoppedIn = c.RunUntil(() => c.Role("a") == GroupRole.Stopping, 2 * Second);

        Assert.That(stoppedIn, Is.Not.Null.And.LessThanOrEqualTo(TimeSpan.FromMilliseconds(900)));
        Assert.That(c.EventsOf<RoleChanged>("a").Last().Why.Reason, Does.Contain("lease expired"));
    }

    [Test]
    public void Concurrent_acquirers_yield_to_the_higher_ranked_node()
    {
        // Nobody preferred, equal priorities; both are told the group is unowned at the same instant.
        var c = TwoNodes(c =>
        {
            c.Groups[0] = c.Groups[0] with { PreferredNode = null };
            c.ArbiterDelay = TimeSpan.FromMilliseconds(50);
        });
        c.Run(3 * Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a" }), "equal priority: the ordinally smaller name wins");
        Assert.That(c.Overlaps, Is.Empty);
        Assert.That(c.EventsOf<SplitBrainDetected>(), Is.Empty);
    }

    [Test]
    public void Groups_move_independently_mutual_standby()
    {
        var c = TwoNodes(c => c.Groups.Add(new GroupConfig("db", "b", false, TimeSpan.Zero, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(60))));
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes("web"), Is.EqualTo(new[] { "a" }));
        Assert.That(c.ActiveNodes("db"), Is.EqualTo(new[] { "b" }));

        c.Crash("b");
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes("web"), Is.EqualTo(new[] { "a" }));
        Assert.That(c.ActiveNodes("db"), Is.EqualTo(new[] { "a" }));
        Assert.That(c.Epoch("a", "db"), Is.EqualTo(2UL));
        Assert.That(c.Epoch("a", "web"), Is.EqualTo(1UL), "epochs are per group");
    }

    [Test]
    public void A_start_failure_moves_the_group_to_the_peer()
    {
        var c = TwoNodes(c => c.StartOutcome = (node, _, _) => node == "a" ? Failed(ResourceFailureKind.Transient) : CoreCluster.Ok);
        c.Run(3 * Second);

        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));
        Assert.That(c.Epoch("b"), Is.EqualTo(2UL), "the failed start burned epoch 1");
        Assert.That(c.Overlaps, Is.Empty);
    }
}
