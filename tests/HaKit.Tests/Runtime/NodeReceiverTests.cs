using HaKit.Ownership;
using HaKit.Runtime;
using HaKit.Tests.Wire;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Tests.Runtime;

/// <summary>
/// Issue 13, cheap idle: which received heartbeats may wait for the loop's next planned wake-up (<see cref="NodeReceiver.OnlyProvesLife"/>)
/// instead of waking it. Only a steady repeat of the sender's last announcement does; anything the core could act on wakes the loop.
/// </summary>
[TestFixture]
public sealed class NodeReceiverTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static HeartbeatMessage Beat(ulong sequence, GroupRole role = GroupRole.Active, ulong epoch = 3) =>
        new(100, false, [new GroupAnnouncement("web", role, epoch, epoch, true, null, 0, 0)], sequence);

    private static NodeReceiver NewReceiver(WireKit kit, TimeSpan deferWithin) =>
        new(new InboundRouter(kit.Codec("alpha", kit.Ring())), new NodeLoop(TimeProvider.System, NullLogger.Instance), NullLogger.Instance, TimeProvider.System)
        {
            DeferWithin = deferWithin,
        };

    [Test]
    public void A_steady_repeat_of_the_last_announcement_only_proves_life()
    {
        using var kit = new WireKit();
        using var receiver = NewReceiver(kit, Interval);
        Assert.Multiple(() =>
        {
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(1), Ms(1000)), Is.False, "the first heartbeat of a sender is news");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(2), Ms(1200)), Is.True, "the same announcement one interval later");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(3), Ms(1500)), Is.True, "up to 1.5 intervals after the last on that link");
            Assert.That(receiver.OnlyProvesLife("beta", "lan1", 7, Beat(3), Ms(1501)), Is.False, "the first heartbeat on another link (the link may come up)");
            Assert.That(receiver.OnlyProvesLife("beta", "lan1", 7, Beat(4), Ms(1700)), Is.True);
        });
    }

    [Test]
    public void Anything_the_core_could_act_on_wakes_the_loop()
    {
        using var kit = new WireKit();
        using var receiver = NewReceiver(kit, Interval);
        _ = receiver.OnlyProvesLife("beta", "lan0", 7, Beat(1), Ms(1000));
        Assert.Multiple(() =>
        {
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(2, GroupRole.Stopping), Ms(1200)), Is.False, "a new role");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(3, GroupRole.Stopping), Ms(1400)), Is.True, "which, repeated, is steady again");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(4, GroupRole.Stopping, epoch: 4), Ms(1600)), Is.False, "a new epoch");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(5, GroupRole.Stopping, epoch: 4) with { Probe = true }, Ms(1800)), Is.False, "a probe must be answered at once");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(6, GroupRole.Stopping, epoch: 4), Ms(1900)), Is.False, "nor the first after it");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(6, GroupRole.Stopping, epoch: 4), Ms(2000)), Is.True);
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(7, GroupRole.Stopping, epoch: 4) with { Leaving = true }, Ms(2200)), Is.False, "a goodbye");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(8, GroupRole.Stopping, epoch: 4) with { Leaving = true }, Ms(2400)), Is.False, "a goodbye, every time");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(9, GroupRole.Stopping, epoch: 4) with { Reachability = new ReachabilityScore(1, 2) }, Ms(2600)), Is.False, "a new reachability score");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(10, GroupRole.Stopping, epoch: 4) with { Reachability = new ReachabilityScore(1, 2) }, Ms(2800)), Is.True);
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(11, GroupRole.Stopping, epoch: 4) with { Reachability = new ReachabilityScore(1, 2) }, Ms(3101)), Is.False,
                "after more than 1.5 intervals of silence on the link (the detector may have marked it late)");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 8, Beat(1, GroupRole.Stopping, epoch: 4) with { Reachability = new ReachabilityScore(1, 2) }, Ms(3200)), Is.False, "a restarted sender");
            Assert.That(receiver.OnlyProvesLife("beta", "lan0", 8, Beat(2, GroupRole.Stopping, epoch: 4) with { Reachability = new ReachabilityScore(1, 2) }, Ms(3400)), Is.True);
            Assert.That(receiver.OnlyProvesLife("gamma", "lan0", 8, Beat(2, GroupRole.Stopping, epoch: 4) with { Reachability = new ReachabilityScore(1, 2) }, Ms(3401)), Is.False, "another sender's first");
        });
    }

    [Test]
    public void Without_a_bound_every_heartbeat_wakes_the_loop()
    {
        using var kit = new WireKit();
        using var receiver = NewReceiver(kit, TimeSpan.Zero);
        _ = receiver.OnlyProvesLife("beta", "lan0", 7, Beat(1), Ms(1000));
        Assert.That(receiver.OnlyProvesLife("beta", "lan0", 7, Beat(2), Ms(1200)), Is.False);
    }
}
