using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HaKit.Hosting.Tests;

/// <summary>The health check's verdicts, description and data for each state (the live path is covered in <see cref="HostTests"/>).</summary>
[TestFixture]
public class HealthCheckTests
{
    private static GroupStatusView Group(GroupRole role = GroupRole.Active, ulong epoch = 3, string? owner = "a", string? banned = null, bool fatal = false) =>
        new("web", role, role is GroupRole.Standby ? 0 : epoch, epoch, owner, banned is null, banned, fatal, false);

    private static PeerStatusView Peer(PeerHealth health = PeerHealth.Alive, PeerHealth lan1 = PeerHealth.Alive, bool twoLinks = false) =>
        new("b", health, twoLinks
            ? [new LinkObservation("lan0", health, ""), new LinkObservation("lan1", lan1, "")]
            : [new LinkObservation("lan0", health, "")], 42, false, false);

    private static HealthCheckResult Check(GroupStatusView group, PeerStatusView peer) =>
        HaKitHealthCheck.Evaluate("a", HostedNodeState.Running, new ClusterStatus("a", false, false, [group], [peer]));

    [Test]
    public void Owner_with_a_live_peer_is_healthy_and_says_so_in_one_line()
    {
        var r = Check(Group(), Peer());
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Healthy));
        Assert.That(r.Description, Is.EqualTo("a: web Active epoch 3; peer b Alive (lan0 up)"));
        Assert.That(r.Data["node"], Is.EqualTo("a"));
        Assert.That(r.Data["group.web.role"], Is.EqualTo("Active"));
        Assert.That(r.Data["group.web.epoch"], Is.EqualTo(3UL));
        Assert.That(r.Data["group.web.owner"], Is.EqualTo("a"));
        Assert.That(r.Data["peer.b.health"], Is.EqualTo("Alive"));
        Assert.That(r.Data["peer.b.links"], Is.EqualTo("lan0 up"));
    }

    [Test]
    public void An_owner_whose_arbiter_cannot_answer_is_degraded_and_says_why()
    {
        var status = new ClusterStatus("a", false, false, [Group()], [Peer()]) { ArbiterUnavailable = "no majority for group web (epoch 3): b did not answer; witness did not answer" };
        var r = HaKitHealthCheck.Evaluate("a", HostedNodeState.Running, status);
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(r.Description, Does.Contain("arbiter unavailable: no majority for group web"));
        Assert.That(r.Data["arbiter"], Does.Contain("witness did not answer"));
    }

    [Test]
    public void Standby_names_the_owner_and_its_epoch()
    {
        var r = Check(Group(GroupRole.Standby, owner: "b"), Peer());
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Healthy));
        Assert.That(r.Description, Is.EqualTo("a: web Standby owner b epoch 3; peer b Alive (lan0 up)"));
        Assert.That(r.Data["group.web.owner"], Is.EqualTo("b"));
    }

    [TestCase("NotStarted", "a: not running (not started yet)")]
    [TestCase("Starting", "a: not running (starting)")]
    [TestCase("Stopping", "a: not running (stopping: handing groups over)")]
    [TestCase("Stopped", "a: not running (stopped)")]
    [TestCase("Failed", "a: not running (start-up failed)")]
    public void A_node_that_is_not_running_is_unhealthy(string state, string description)
    {
        var r = HaKitHealthCheck.Evaluate("a", Enum.Parse<HostedNodeState>(state), null);
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(r.Description, Is.EqualTo(description));
    }

    [Test]
    public void A_blocked_group_is_unhealthy()
    {
        var r = Check(Group(GroupRole.Blocked), Peer());
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(r.Description, Does.StartWith("a: web Blocked epoch 3 (stop failed"));
    }

    [Test]
    public void A_fatally_stopped_group_is_unhealthy()
    {
        var r = Check(Group(GroupRole.Standby, owner: null, fatal: true), Peer());
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Unhealthy));
        Assert.That(r.Data["group.web.fatal"], Is.EqualTo(true));
        Assert.That(r.Data["group.web.owner"], Is.EqualTo("none"));
    }

    [TestCase(PeerHealth.Suspect, "a: web Active epoch 3; peer b Suspect (lan0 late)")]
    [TestCase(PeerHealth.Dead, "a: web Active epoch 3; peer b Dead (lan0 down)")]
    public void A_late_or_dead_peer_degrades(PeerHealth health, string description)
    {
        var r = Check(Group(), Peer(health));
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(r.Description, Is.EqualTo(description));
        Assert.That(r.Data["peer.b.health"], Is.EqualTo(health.ToString()));
    }

    [Test]
    public void A_down_link_to_a_live_peer_degrades()
    {
        var r = Check(Group(), Peer(PeerHealth.Alive, PeerHealth.Dead, twoLinks: true));
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(r.Data["peer.b.links"], Is.EqualTo("lan0 up, lan1 down"));
    }

    [Test]
    public void Two_healthy_links_are_healthy()
    {
        Assert.That(Check(Group(), Peer(PeerHealth.Alive, PeerHealth.Alive, twoLinks: true)).Status, Is.EqualTo(HealthStatus.Healthy));
    }

    [Test]
    public void A_ban_from_a_group_degrades()
    {
        var r = Check(Group(GroupRole.Standby, owner: "b", banned: "start failed: PermanentOnNode"), Peer());
        Assert.That(r.Status, Is.EqualTo(HealthStatus.Degraded));
        Assert.That(r.Data["group.web.banned"], Is.EqualTo("start failed: PermanentOnNode"));
        Assert.That(r.Description, Does.Contain("(banned here: start failed: PermanentOnNode)"));
    }

    [Test]
    public void Unhealthy_wins_over_degraded()
    {
        Assert.That(Check(Group(GroupRole.Blocked), Peer(PeerHealth.Dead)).Status, Is.EqualTo(HealthStatus.Unhealthy));
    }
}
