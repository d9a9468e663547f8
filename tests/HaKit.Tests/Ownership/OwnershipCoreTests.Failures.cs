using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;

namespace HaKit.Tests.Ownership;

/// <summary>The core's rules for failed resources, fencing and the arbiter (the rest of <see cref="OwnershipCoreTests"/>).</summary>
public partial class OwnershipCoreTests
{
    [Test]
    public void Restarts_exhausted_moves_the_group_and_bans_this_node_for_the_failure_window()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.MonitorOutcome = (node, _, _) => node == "a" ? Failed(ResourceFailureKind.Transient) : CoreCluster.Ok;
        var moved = c.RunUntil(() => c.Role("b") == GroupRole.Active, 3 * Second);

        Assert.That(moved, Is.Not.Null, "b took the group within 3 s");
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }), "b alone owns it after the move");
        Assert.That(c.Overlaps, Is.Empty);
        Assert.That(c.EventsOf<GroupFailed>("a").Single().Kind, Is.EqualTo(ResourceFailureKind.Transient));
        var status = c["a"].Core.GetStatus().Groups.Single();
        Assert.That(status.Eligible, Is.False);
        Assert.That(status.Banned, Does.Contain("restarts exhausted"));

        // After the failure window (60 s) a is eligible again (b keeps the group: failback is off).
        c.Run(TimeSpan.FromSeconds(61));
        Assert.That(c["a"].Core.GetStatus().Groups.Single().Eligible, Is.True);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public void A_permanent_failure_bans_the_node_until_an_operator_clears_it()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.MonitorOutcome = (node, _, _) => node == "a" ? Failed(ResourceFailureKind.PermanentOnNode) : CoreCluster.Ok;
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }));

        c.MonitorOutcome = (node, _, _) => node == "b" ? Failed(ResourceFailureKind.Transient) : CoreCluster.Ok;
        c.Run(TimeSpan.FromSeconds(90));
        Assert.That(c.ActiveNodes(), Is.Empty, "a is banned, b moved the group away: nowhere to run");

        c.MonitorOutcome = (_, _, _) => CoreCluster.Ok;
        Assert.That(c.Admin("a", new ClearFailuresCommand("web")).Accepted, Is.True);
        c.Run(Second);
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public void A_fatal_failure_stops_the_group_everywhere_until_cleared()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.MonitorOutcome = (node, _, _) => node == "a" ? Failed(ResourceFailureKind.Fatal) : CoreCluster.Ok;
        c.Run(3 * Second);

        Assert.That(c.ActiveNodes(), Is.Empty);
        Assert.That(c.Running(), Is.Empty);
        Assert.That(c.Commands.Count(x => x.Node == "b" && x.Command is StartGroup), Is.Zero, "b must not start a fatally failed group");
        Assert.That(c["b"].Core.GetStatus().Groups.Single().FatalStopped, Is.True);

        c.MonitorOutcome = (_, _, _) => CoreCluster.Ok;
        c.Admin("b", new ClearFailuresCommand("web"));
        c.Run(2 * Second);
        Assert.That(c.ActiveNodes(), Has.Length.EqualTo(1), "cleared on one node, cleared everywhere");
    }

    [Test]
    public void A_failed_stop_blocks_the_group_and_the_peer_never_starts_it_without_fencing()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.StopOutcome = (node, _, _) => node == "a" ? Blocked() : CoreCluster.Ok;
        c.Admin("a", new SwitchoverCommand("web", "b"));
        c.Run(2 * Second);

        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Blocked));
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby));
        Assert.That(c.EventsOf<TakeoverDelayed>("b").Single().Reason, Does.Contain("blocked on node a"));

        // a dies while blocked: still no start on b (no fence agent configured).
        c.Crash("a");
        c.Run(3 * Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby));
        Assert.That(c.Commands.Any(x => x.Node == "b" && x.Command is StartGroup), Is.False);
        Assert.That(c.EventsOf<TakeoverDelayed>("b").Last().Reason, Does.Contain("fencing is required"));

        // An operator confirms a is down: b takes over.
        c.Admin("b", new ConfirmNodeDownCommand("a"));
        c.Run(Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active));
    }

    [Test]
    public void A_blocked_owner_is_fenced_when_fencing_is_configured_and_then_the_peer_takes_over()
    {
        var c = TwoNodes(c => c.FencingConfigured = true);
        c.Run(2 * Second);
        c.StopOutcome = (node, _, _) => node == "a" ? Blocked() : CoreCluster.Ok;
        c.Admin("a", new SwitchoverCommand("web", "b"));
        c.Run(2 * Second);

        var fences = c.Commands.Where(x => x.Node == "b").Select(x => x.Command).OfType<FenceNode>().ToList();
        Assert.That(fences.Select(f => f.Node), Is.EqualTo(new[] { "a" }));
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active));
        Assert.That(c.EventsOf<RoleChanged>("b").Last().Why.Fence!.Succeeded, Is.True);
        Assert.That(c.Overlaps, Is.Empty);
    }

    [Test]
    public void Cleanup_on_the_blocked_node_retries_the_stop_and_releases_the_group()
    {
        var c = TwoNodes();
        c.Run(2 * Second);
        c.StopOutcome = (node, _, _) => node == "a" ? Blocked() : CoreCluster.Ok;
        c.Admin("a", new SwitchoverCommand("web", "b"));
        c.Run(Second);
        c.StopOutcome = (_, _, _) => CoreCluster.Ok;
        c.Admin("a", new ClearFailuresCommand("web"));
        c.Run(2 * Second);

        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Standby));
        Assert.That(c.ActiveNodes(), Is.EqualTo(new[] { "b" }), "the cleanup completes the switchover that failed");
        Assert.That(c.Overlaps, Is.Empty);
    }

    [Test]
    public void With_fencing_configured_a_dead_owner_is_fenced_before_takeover_and_a_failed_fence_keeps_the_group_down()
    {
        var fenceOk = false;
        var c = TwoNodes(c =>
        {
            c.FencingConfigured = true;
            c.Fence = (_, target) => new FenceResult(fenceOk, fenceOk ? $"fenced {target}" : "ipmi timeout");
        });
        c.Run(2 * Second);
        c.Crash("a");
        c.Run(2 * Second);

        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby), "no start while fencing fails");
        Assert.That(c.Commands.Count(x => x.Node == "b" && x.Command is FenceNode), Is.GreaterThan(1), "fencing is retried");
        Assert.That(c.EventsOf<TakeoverDelayed>("b").Single().Reason, Does.Contain("ipmi timeout"));
        Assert.That(c.EventsOf<FenceCompleted>("b").First().Result.Succeeded, Is.False);

        fenceOk = true;
        c.Run(2 * Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active));
    }

    [Test]
    public void An_arbiter_refusal_delays_the_takeover_until_it_grants()
    {
        var reachable = false;
        var c = TwoNodes(c => c.Arbiter = (_, r) => r.Reason != AcquireReason.PeerDead || reachable
            ? ArbiterDecision.Grant("ping 10.0.0.1:80 reachable")
            : ArbiterDecision.Deny("ping 10.0.0.1:80 unreachable"));
        c.Run(2 * Second);
        c.Crash("a");
        c.Run(3 * Second);

        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby));
        Assert.That(c.EventsOf<TakeoverDelayed>("b").Single().Reason, Does.Contain("unreachable"));
        var ask = c.Commands.Select(x => x.Command).OfType<AskArbiter>().Last();
        Assert.That(ask.Request.DeadPeers, Is.EqualTo(new[] { "a" }));
        Assert.That(ask.Request.ProposedEpoch, Is.EqualTo(2UL));

        reachable = true;
        c.Run(2 * Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active));
        Assert.That(c.EventsOf<RoleChanged>("b").Last().Why.Arbiter!.Explanation, Does.Contain("reachable"));
    }

    [Test]
    public void A_group_the_arbiter_reports_free_is_asked_for_at_once_instead_of_after_the_retry_interval()
    {
        var held = true;
        var c = TwoNodes(c =>
        {
            c.ArbiterRetryInterval = TimeSpan.FromSeconds(5);
            c.Arbiter = (_, r) => r.Reason == AcquireReason.PeerDead && held ? ArbiterDecision.Deny("key held by a") : ArbiterDecision.Grant("key created");
        });
        c.Run(2 * Second);
        c.Crash("a");
        c.Run(2 * Second);
        Assert.That(c.EventsOf<TakeoverDelayed>("b"), Is.Not.Empty);
        var asks = c.Commands.Count(x => x.Node == "b" && x.Command is AskArbiter);

        held = false;
        c.Run(Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby), "without a hint b waits out its retry interval");
        Assert.That(c.Commands.Count(x => x.Node == "b" && x.Command is AskArbiter), Is.EqualTo(asks));

        c.ArbiterFreed("b", "db"); // not a group of this cluster: ignored
        c.ArbiterFreed("b");
        c.Run(Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active), "the hint brings the next attempt forward");
    }

    [Test]
    public void An_unavailable_arbiter_shows_in_the_status_until_it_answers_again()
    {
        var reachable = false;
        var c = TwoNodes(c => c.Arbiter = (_, r) => r.Reason != AcquireReason.PeerDead || reachable
            ? ArbiterDecision.Grant("granted")
            : ArbiterDecision.Unreachable("etcd http://10.0.0.5:2379 unreachable"));
        c.Run(2 * Second);
        Assert.That(c["b"].Core.GetStatus().ArbiterUnavailable, Is.Null);
        c.Crash("a");
        c.Run(2 * Second);
        Assert.That(c["b"].Core.GetStatus().ArbiterUnavailable, Is.EqualTo("etcd http://10.0.0.5:2379 unreachable"));

        reachable = true;
        c.Run(3 * Second);
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active));
        Assert.That(c["b"].Core.GetStatus().ArbiterUnavailable, Is.Null, "a real answer clears it");
    }
}
