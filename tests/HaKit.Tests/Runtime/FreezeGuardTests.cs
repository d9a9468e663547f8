using HaKit.Resources;
using HaKit.Runtime;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Tests.Runtime;

/// <summary>
/// The clock-true ownership check (issue 13, part 1) on virtual time: <see cref="ResourceContext.IsOwned"/> follows the clock, not
/// the last loop step, in lease modes and in TwoNode mode.
/// </summary>
public class FreezeGuardTests
{
    private static readonly TimeSpan DeadTime = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(200);
    private FakeTimeProvider _time = null!;
    private long _start;
    private OwnershipGuard _guard = null!;
    private FreezeGuard _freeze = null!;
    private CancellationTokenSource _ownership = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        _start = _time.GetTimestamp();
        _guard = new OwnershipGuard(_time);
        _freeze = new FreezeGuard(_time, _start, [_guard], DeadTime, Interval, Tick, Pause, hasPeers: true);
        _ownership = new CancellationTokenSource();
    }

    [TearDown]
    public void TearDown() => _ownership.Dispose();

    private TimeSpan Now => _time.GetElapsedTime(_start);

    private ResourceContext Context(ulong epoch) => new("web", "node1", epoch, _ownership.Token) { Guard = _guard };

    /// <summary>One loop step every tick for <paramref name="span"/>, with the given view of the group.</summary>
    private void RunSteps(TimeSpan span, ulong epoch, Func<TimeSpan?> leaseEnd, Func<TimeSpan> lastHeard)
    {
        var until = Now + span;
        while (Now < until)
        {
            _time.Advance(Tick);
            _freeze.BeginStep();
            _freeze.Publish(0, owned: true, epoch, leaseEnd(), lastHeard());
        }
    }

    [Test]
    public void Lease_owner_that_keeps_renewing_stays_owned()
    {
        var ctx = Context(3);
        // The lease is renewed every step: its safe end stays 1.5 s ahead.
        RunSteps(TimeSpan.FromSeconds(10), 3, () => Now + TimeSpan.FromMilliseconds(1500), () => Now);
        Assert.That(ctx.IsOwned, Is.True);
        Assert.DoesNotThrow(ctx.EnsureOwned);
        _time.Advance(TimeSpan.FromMilliseconds(1400)); // frozen, but still inside the lease
        Assert.That(ctx.IsOwned, Is.True);
    }

    [Test]
    public void Lease_owner_frozen_past_the_safe_end_is_not_owned_before_any_step_ran()
    {
        var ctx = Context(3);
        RunSteps(TimeSpan.FromSeconds(1), 3, () => TimeSpan.FromSeconds(2), () => Now);
        Assert.That(ctx.IsOwned, Is.True);

        // SIGSTOP for 5 s: no loop step runs; the clock moved on.
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.That(ctx.IsOwned, Is.False, "the lease's safe end passed during the freeze");
        var ex = Assert.Throws<OwnershipLostException>(ctx.EnsureOwned)!;
        Assert.Multiple(() =>
        {
            Assert.That(ex.Group, Is.EqualTo("web"));
            Assert.That(ex.Epoch, Is.EqualTo(3UL));
            Assert.That(ex.Message, Does.Contain("epoch 3").And.Contain("lease"));
        });

        // The first step after the wake asks for a tick before the queued work.
        Assert.That(_freeze.BeginStep(), Is.True);
    }

    [Test]
    public void Lease_end_is_exact_to_the_tick_of_the_clock()
    {
        var ctx = Context(3);
        RunSteps(TimeSpan.FromMilliseconds(100), 3, () => TimeSpan.FromSeconds(2), () => Now);
        _time.Advance(TimeSpan.FromSeconds(2) - Now - TimeSpan.FromTicks(1));
        Assert.That(ctx.IsOwned, Is.True);
        _time.Advance(TimeSpan.FromTicks(1));
        Assert.That(ctx.IsOwned, Is.False);
    }

    [Test]
    public void Cancelled_token_or_another_epoch_is_not_owned()
    {
        var old = Context(3);
        RunSteps(TimeSpan.FromMilliseconds(100), 4, () => Now + TimeSpan.FromSeconds(2), () => Now);
        Assert.That(old.IsOwned, Is.False, "epoch 4 is owned now, not 3");
        Assert.That(Assert.Throws<OwnershipLostException>(old.EnsureOwned)!.Reason, Does.Contain("epoch 3").And.Contain("epoch 4"));
        var current = Context(4);
        Assert.That(current.IsOwned, Is.True);
        _ownership.Cancel();
        Assert.That(current.IsOwned, Is.False);
        Assert.That(Assert.Throws<OwnershipLostException>(current.EnsureOwned)!.Reason, Does.Contain("token"));
    }

    [Test]
    public void Not_owned_by_the_core_is_not_owned()
    {
        var ctx = Context(3);
        RunSteps(TimeSpan.FromMilliseconds(100), 3, () => null, () => Now);
        Assert.That(ctx.IsOwned, Is.True);
        _time.Advance(Tick);
        _freeze.BeginStep();
        _freeze.Publish(0, owned: false, 3, null, Now);
        Assert.That(ctx.IsOwned, Is.False);
    }

    [Test]
    public void A_context_without_a_guard_follows_the_token()
    {
        using var cts = new CancellationTokenSource();
        var ctx = new ResourceContext("web", "node1", 1, cts.Token);
        Assert.That(ctx.IsOwned, Is.True);
        cts.Cancel();
        Assert.That(ctx.IsOwned, Is.False);
    }

    [Test]
    public void TwoNode_owner_whose_loop_runs_stays_owned()
    {
        var ctx = Context(2);
        RunSteps(TimeSpan.FromSeconds(30), 2, () => null, () => Now);
        Assert.That(ctx.IsOwned, Is.True);
        // A short stall (under the budget) keeps it.
        _time.Advance(_freeze.Budget - TimeSpan.FromMilliseconds(1));
        Assert.That(ctx.IsOwned, Is.True);
        Assert.That(_freeze.Budget, Is.EqualTo(DeadTime - Interval - Tick));
    }

    [Test]
    public void TwoNode_stall_longer_than_the_dead_time_makes_it_false_until_the_peer_is_heard_again()
    {
        var ctx = Context(2);
        var heard = TimeSpan.Zero;
        RunSteps(TimeSpan.FromSeconds(2), 2, () => null, () => heard = Now);
        Assert.That(ctx.IsOwned, Is.True);

        // Frozen for 5 s (the peer's dead time is 1 s): false at once, before any step.
        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.That(ctx.IsOwned, Is.False);
        Assert.That(Assert.Throws<OwnershipLostException>(ctx.EnsureOwned)!.Reason, Does.Contain("dead time"));

        // The loop wakes: the stall suspends the guard; heartbeats queued during the stall (taken in right at the wake) do not count.
        Assert.That(_freeze.BeginStep(), Is.True, "a tick runs first");
        Assert.That(_freeze.Suspended, Is.True);
        var wake = Now;
        _freeze.Publish(0, owned: true, 2, null, wake);
        Assert.That(ctx.IsOwned, Is.False);
        Assert.That(Assert.Throws<OwnershipLostException>(ctx.EnsureOwned)!.Reason, Does.Contain("heard again"));
        RunSteps(Interval - Tick, 2, () => null, () => wake);
        Assert.That(ctx.IsOwned, Is.False, "no fresh heartbeat yet");

        // A heartbeat taken in an interval after the wake, and the core still owns the group: owned again.
        RunSteps(Tick, 2, () => null, () => Now);
        Assert.That(_freeze.Suspended, Is.False);
        Assert.That(ctx.IsOwned, Is.True);
    }

    [Test]
    public void TwoNode_stall_then_the_core_gives_the_group_up_stays_false()
    {
        var ctx = Context(2);
        RunSteps(TimeSpan.FromSeconds(2), 2, () => null, () => Now);
        _time.Advance(TimeSpan.FromSeconds(5));
        _freeze.BeginStep();
        // The peer's heartbeat shows it took over with epoch 3: the split-brain rule stops ours.
        RunSteps(TimeSpan.FromSeconds(1), 2, () => null, () => Now);
        _freeze.BeginStep();
        _freeze.Publish(0, owned: false, 2, null, Now);
        Assert.That(ctx.IsOwned, Is.False);
    }

    [Test]
    public void TwoNode_stall_with_a_silent_peer_counts_again_after_a_dead_time()
    {
        var ctx = Context(2);
        RunSteps(TimeSpan.FromSeconds(2), 2, () => null, () => Now);
        var lastHeard = Now;
        _time.Advance(TimeSpan.FromSeconds(5));
        _freeze.BeginStep();
        _freeze.Publish(0, owned: true, 2, null, lastHeard);
        RunSteps(DeadTime, 2, () => null, () => lastHeard);
        Assert.That(ctx.IsOwned, Is.False, "the peer may still be taking over");
        RunSteps(Interval + Tick, 2, () => null, () => lastHeard);
        Assert.That(ctx.IsOwned, Is.True, "silent for a dead time after the wake: the peer is dead by the detector's rule");
    }

    [Test]
    public void TwoNode_without_a_peer_is_never_suspended()
    {
        var freeze = new FreezeGuard(_time, _start, [_guard], DeadTime, Interval, Tick, Pause, hasPeers: false);
        _time.Advance(TimeSpan.FromSeconds(5));
        freeze.BeginStep();
        freeze.Publish(0, owned: true, 2, null, TimeSpan.MinValue);
        Assert.That(Context(2).IsOwned, Is.True);
    }

    [Test]
    public void Budget_is_at_least_two_ticks()
    {
        var freeze = new FreezeGuard(_time, _start, [_guard], TimeSpan.FromMilliseconds(400), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(200), Pause, hasPeers: true);
        Assert.That(freeze.Budget, Is.EqualTo(TimeSpan.FromMilliseconds(400)));
    }
}
