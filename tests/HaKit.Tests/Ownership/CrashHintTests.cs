using HaKit.Arbitration;
using HaKit.Ownership;

namespace HaKit.Tests.Ownership;

/// <summary>
/// The crash hint in the core, on virtual time: a link reports that the peer's process is gone (connection ended without
/// goodbye, reconnect refused), a probe on the other links, and the window in which a live peer would have answered. Links lan0
/// (UDP-like) and grpc0 (the link that hints); interval 100 ms, dead time 400 ms.
/// </summary>
[TestFixture]
public class CrashHintTests
{
    private static readonly TimeSpan Second = TimeSpan.FromSeconds(1);

    /// <summary>The probe window of the unit harness (the core's default, 10 ms).</summary>
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(10);

    private static CoreCluster Pair(CrashHintPolicy policy, bool diesWithProcess)
    {
        var c = new CoreCluster("a", "b") { Links = ["lan0", "grpc0"], CrashHint = policy };
        c.Groups[0] = c.Groups[0] with { DiesWithProcess = diesWithProcess };
        c.Start();
        c.Run(2 * Second);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active), "a owns web before the test starts");
        return c;
    }

    [Test]
    public void TwoNode_hint_and_resources_that_die_with_the_process_take_over_before_the_dead_time()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);
        c.Crash("a");
        c.RunMs(2); // the reset reaches b, b's reconnect is refused
        c.HintCrash("b", "a", "grpc0");
        var took = c.RunUntil(() => c.Role("b") == GroupRole.Active, 3 * Second);

        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active), "b took web over within the bound");
        Assert.That(took!.Value, Is.LessThan(c.Timing.DeadTime - c.Timing.Interval), "well before the dead time");
        Assert.That(took.Value, Is.LessThanOrEqualTo(TimeSpan.FromMilliseconds(2) + Window + TimeSpan.FromMilliseconds(60)), "the probe window after the hint, then the takeover");
        Assert.That(c.Epoch("b"), Is.EqualTo(2UL));
        Assert.That(c.Overlaps, Is.Empty);
        var acquiring = c.EventsOf<RoleChanged>("b").Single(r => r.To == GroupRole.Acquiring);
        Assert.That(acquiring.Why.Reason, Does.Contain("peer a's process is gone (connection reset on link grpc0, reconnect refused)"));
        Assert.That(acquiring.Takeover, Is.EqualTo(TakeoverReason.Failover));
        var hint = c.EventsOf<PeerCrashHinted>("b").Single();
        Assert.That(hint.Shortened, Is.EqualTo(new[] { "web" }));
        Assert.That(c.EventsOf<PeerHealthChanged>("b").Where(h => h.To == PeerHealth.Dead), Is.Empty, "the failure detector had not declared a dead yet");
    }

    [Test]
    public void TwoNode_hint_probes_the_other_links_and_counts_after_the_window_when_nothing_answers()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);

        // Right after a heartbeat of a reached b on lan0: no silence is needed, only the probe window after the hint.
        var since = c.Now;
        c.RunUntil(() => c.Commands.Any(x => x.Node == "a" && x.At > since && x.Command is SendHeartbeat), Second);
        c.Run(c.NetworkDelay);
        c.Crash("a");
        var hintedAt = c.Now;
        c.HintCrash("b", "a", "grpc0");

        var probe = c.Commands.Where(x => x.Node == "b" && x.At == hintedAt && x.Command is SendHeartbeat).Select(x => ((SendHeartbeat)x.Command).Message).ToList();
        Assert.That(probe.Any(m => m.Probe), Is.True, "the hint sends a probe at once");
        var took = c.RunUntil(() => c.Role("b") != GroupRole.Standby, 3 * Second);

        Assert.That(c.Role("b"), Is.Not.EqualTo(GroupRole.Standby), "b started taking web over within the bound");
        Assert.That(c.Now, Is.GreaterThanOrEqualTo(hintedAt + Window), "no takeover before the probe window ended unanswered");
        Assert.That(c.Now, Is.LessThan(hintedAt + Window + c.Timing.Interval), "and right after it, far before the dead time");
    }

    [Test]
    public void A_port_unreachable_on_the_other_link_answers_the_probe_and_the_hint_counts_before_the_window()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);
        c.Crash("a");
        c.RunMs(2);
        var hintedAt = c.Now;
        c.HintCrash("b", "a", "grpc0");
        c.RunMs(1); // the probe on lan0 comes back as an ICMP port unreachable: nothing listens on a's heartbeat port
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby), "not before the evidence");
        c.PortClosed("b", "a", "lan0");

        Assert.That(c.Role("b"), Is.Not.EqualTo(GroupRole.Standby), "the closed port answered the probe: b starts the takeover at once");
        Assert.That(c.Now - hintedAt, Is.LessThan(Window), "without waiting out the probe window");
        var hint = c.EventsOf<PeerCrashHinted>("b").Single();
        Assert.That(hint.Shortened, Is.EqualTo(new[] { "web" }));
        c.RunUntil(() => c.Role("b") == GroupRole.Active, Second);
        Assert.That(c.Overlaps, Is.Empty);
    }

    [Test]
    public void An_unanswered_probe_is_sent_again_within_the_window_and_the_refusal_of_a_repeat_counts()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);
        c.Crash("a");
        c.RunMs(2);
        var hintedAt = c.Now;
        c.HintCrash("b", "a", "grpc0"); // its probe found a's heartbeat port still open: a dying process closes its sockets one by one
        var repeat = Window / 4;
        Assert.That(c["b"].Core.PeekNextDeadline(), Is.LessThanOrEqualTo(hintedAt + repeat), "b's loop wakes for the repeat, not at its next tick");

        c.RunMs(3);
        c.TickNow("b");
        var repeats = c.Commands.Where(x => x.Node == "b" && x.At > hintedAt && x.Command is SendHeartbeat { Message.Probe: true }).ToList();
        Assert.That(repeats, Is.Not.Empty, "the probe was sent again within the window");
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby), "not before the evidence");

        c.PortClosed("b", "a", "lan0"); // the repeat is refused by a's kernel
        var qualifiedAt = c.Now;
        Assert.That(c.Role("b"), Is.Not.EqualTo(GroupRole.Standby), "the refused repeat answered the probe");
        Assert.That(qualifiedAt - hintedAt, Is.LessThan(Window), "without waiting out the window");

        c.RunMs(50);
        Assert.That(c.Commands.Where(x => x.Node == "b" && x.At > qualifiedAt && x.Command is SendHeartbeat { Message.Probe: true }), Is.Empty, "no probe once the hint counted");
    }

    [Test]
    public void A_port_unreachable_from_before_the_hint_does_not_shorten_the_window()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);
        c.Crash("a");
        c.RunMs(2);
        c.PortClosed("b", "a", "lan0"); // an earlier datagram refused: says nothing about the probe the hint will send
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby), "a closed port alone proves nothing");
        c.RunMs(1);
        var hintedAt = c.Now;
        c.HintCrash("b", "a", "grpc0");
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby), "the stale refusal does not answer this hint's probe");

        c.RunUntil(() => c.Role("b") != GroupRole.Standby, Second);
        Assert.That(c.Now - hintedAt, Is.GreaterThanOrEqualTo(Window), "the hint counted only after its window");
    }

    [Test]
    public void A_live_peer_answers_the_probe_at_once_and_the_hint_is_void()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);

        // a runs; only its grpc0 stream was reset (a middlebox). b's probe reaches a on lan0 and a answers within the round trip.
        c.Cut("a", "b", "grpc0");
        var hintedAt = c.Now;
        c.HintCrash("b", "a", "grpc0");
        c.Run(2 * c.NetworkDelay);
        var answers = c.Commands.Where(x => x.Node == "a" && x.At > hintedAt && x.At <= hintedAt + (2 * c.NetworkDelay) && x.Command is SendHeartbeat).ToList();
        Assert.That(answers, Is.Not.Empty, "a answered the probe in the step that received it, not at its next interval");

        c.Run(2 * Second);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby));
        Assert.That(c.EventsOf<PeerCrashHinted>("b"), Is.Empty, "the answered probe voided the hint");
    }

    [Test]
    public void A_peer_reached_only_on_the_hinted_link_is_not_probed_and_its_hint_counts_at_once()
    {
        var c = new CoreCluster("a", "b") { Links = ["grpc0"], CrashHint = CrashHintPolicy.Takeover };
        c.Groups[0] = c.Groups[0] with { DiesWithProcess = true };
        c.Start();
        c.Run(2 * Second);
        c.Crash("a");
        c.RunMs(2);
        var hintedAt = c.Now;
        c.HintCrash("b", "a", "grpc0");
        var took = c.RunUntil(() => c.Role("b") != GroupRole.Standby, Second);

        Assert.That(c.Role("b"), Is.Not.EqualTo(GroupRole.Standby), "b started taking web over within the bound");
        Assert.That(c.Now - hintedAt, Is.LessThan(Window), "no other link to probe: nothing to wait for");
        Assert.That(c.Commands.Where(x => x.Node == "b" && x.Command is SendHeartbeat { Message.Probe: true }), Is.Empty);
    }

    [Test]
    public void TwoNode_hint_with_a_resource_that_may_outlive_the_process_only_corroborates()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: false);
        c.Crash("a");
        c.RunMs(2);
        c.HintCrash("b", "a", "grpc0");
        var took = c.RunUntil(() => c.Role("b") != GroupRole.Standby, 3 * Second);

        Assert.That(c.Role("b"), Is.Not.EqualTo(GroupRole.Standby), "b started taking web over within the bound");
        Assert.That(took!.Value, Is.GreaterThanOrEqualTo(c.Timing.DeadTime - c.Timing.Interval), "the takeover waits for the dead time");
        var hint = c.EventsOf<PeerCrashHinted>("b").Single();
        Assert.That(hint.Shortened, Is.Empty);
        Assert.That(hint.Why, Does.Contain("web").And.Contain("DiesWithProcess"));
        var acquiring = c.EventsOf<RoleChanged>("b").Single(r => r.To == GroupRole.Acquiring);
        Assert.That(acquiring.Why.Reason, Does.Contain("process is gone"), "the explanation still names the corroborating hint");
    }

    [Test]
    public void A_hint_while_heartbeats_keep_arriving_on_the_udp_link_takes_nothing_over()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);

        // a is alive: only its grpc0 stream broke (a reset injected by a middlebox, say); lan0 carries its heartbeats on.
        c.Cut("a", "b", "grpc0");
        for (var i = 0; i < 10; i++)
        {
            c.HintCrash("b", "a", "grpc0");
            c.RunMs(150);
        }

        c.Run(2 * Second);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Standby));
        Assert.That(c.EventsOf<PeerCrashHinted>("b"), Is.Empty, "a hint contradicted by heartbeats never qualifies");
        Assert.That(c.Overlaps, Is.Empty);
    }

    [Test]
    public void A_peer_that_announced_a_graceful_shutdown_is_not_hinted_when_its_connection_ends()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);
        Assert.That(c.Admin("a", new ShutdownCommand()).Accepted, Is.True);
        c.RunMs(50); // a's leaving heartbeats reach b; a stops web and hands it over

        // a's link server goes away with its process, and b's watcher reads the end before a's goodbye frame: no crash.
        c.Crash("a");
        c.HintCrash("b", "a", "grpc0");
        c.Run(Second);

        Assert.That(c.EventsOf<PeerCrashHinted>("b"), Is.Empty, "a peer that said it was leaving closed its connections on purpose");
        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active), "b owns web through the handover, not through a hint");
        Assert.That(c.EventsOf<RoleChanged>("b").Where(r => r.Why.Reason.Contains("process is gone")), Is.Empty);
    }

    [Test]
    public void A_hint_from_before_a_restart_is_forgotten()
    {
        var c = Pair(CrashHintPolicy.Takeover, diesWithProcess: true);
        c.Cut("a", "b"); // a silent on every link, but alive
        c.HintCrash("b", "a", "grpc0");
        c.HealAll();     // a heartbeat arrives after the hint: the hint is void
        c.RunMs(30);
        c.Cut("a", "b");
        var took = c.RunUntil(() => c.Role("b") != GroupRole.Standby, 3 * Second);

        Assert.That(c.Role("b"), Is.Not.EqualTo(GroupRole.Standby), "b started taking web over within the bound");
        Assert.That(took!.Value, Is.GreaterThanOrEqualTo(c.Timing.DeadTime - c.Timing.Interval), "the voided hint does not shorten the later failure");
    }

    [Test]
    public void Lease_mode_hint_asks_the_arbiter_at_once_but_the_lease_still_has_to_expire()
    {
        var leaseExpires = TimeSpan.MaxValue;
        var asked = new List<TimeSpan>();
        CoreCluster? cluster = null;
        var c = new CoreCluster("a", "b") { Links = ["lan0", "grpc0"], CrashHint = CrashHintPolicy.AskArbiter, ArbiterRetryInterval = TimeSpan.FromMilliseconds(100) };
        c.Groups[0] = c.Groups[0] with { DiesWithProcess = true };
        c.Arbiter = (node, request) =>
        {
            if (node == "b")
            {
                asked.Add(cluster!.Now);
                return cluster.Now < leaseExpires ? ArbiterDecision.Deny("the key is held by a's lease") : ArbiterDecision.Grant("lease expired; key acquired");
            }

            return ArbiterDecision.Grant("key acquired");
        };
        cluster = c;
        c.Start();
        c.Run(2 * Second);
        Assert.That(c.Role("a"), Is.EqualTo(GroupRole.Active));

        var crashedAt = c.Now;
        leaseExpires = crashedAt + TimeSpan.FromSeconds(2); // longer than the dead time: the lease is what decides
        c.Crash("a");
        c.RunMs(2);
        c.HintCrash("b", "a", "grpc0");
        var took = c.RunUntil(() => c.Role("b") == GroupRole.Active, 5 * Second);

        Assert.That(c.Role("b"), Is.EqualTo(GroupRole.Active), "b took web over within the bound");
        Assert.That(asked, Is.Not.Empty);
        Assert.That(asked[0] - crashedAt, Is.LessThan(c.Timing.DeadTime), "the hint started the acquisition before the dead time");
        Assert.That(c.Now, Is.GreaterThanOrEqualTo(leaseExpires), "no takeover before the lease expired");
        Assert.That(c.Overlaps, Is.Empty);
    }

    [Test]
    public void Without_a_policy_the_hint_only_corroborates()
    {
        var c = Pair(CrashHintPolicy.Corroborate, diesWithProcess: true);
        c.Crash("a");
        c.RunMs(2);
        c.HintCrash("b", "a", "grpc0");
        var took = c.RunUntil(() => c.Role("b") != GroupRole.Standby, 3 * Second);

        Assert.That(c.Role("b"), Is.Not.EqualTo(GroupRole.Standby), "b started taking web over within the bound");
        Assert.That(took!.Value, Is.GreaterThanOrEqualTo(c.Timing.DeadTime - c.Timing.Interval));
    }
}
