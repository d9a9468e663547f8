using HaKit.Detection;
using HaKit.Ownership;
using HaKit.Resources;
using HaKit.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Tests.Runtime;

/// <summary>
/// The event-driven loop (issue 13, cheap idle) on virtual time: the core reports its next deadline, the loop sleeps until it or
/// until an input, and a sleep by choice is not a stall. (Every scenario of the core harness also audits the deadline: see
/// <c>CoreCluster</c>.)
/// </summary>
public class NextDeadlineTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan Warn = TimeSpan.FromMilliseconds(600);
    private static readonly TimeSpan Dead = TimeSpan.FromMilliseconds(1000);
    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static OwnershipCore NewCore(params GroupConfig[] groups) => NewCore(Interval, groups);

    /// <summary>A core whose timing is <paramref name="interval"/> and the fixed test values scaled with it (ticks, warn and dead times).</summary>
    private static OwnershipCore NewCore(TimeSpan interval, params GroupConfig[] groups) => new(
        new CoreConfig
        {
            LocalNode = "a",
            LocalPriority = 100,
            Peers = [new PeerConfig("b", 100)],
            Links = ["lan0"],
            Groups = groups,
            Interval = interval,
            TickInterval = Tick * (interval / Interval),
            LocalPauseThreshold = Pause,
            ArbiterRetryInterval = Ms(500),
            FenceRetryInterval = Ms(500),
            LeaseDriftMargin = Ms(100),
        },
        new FailureDetectorFactory(new TimingOptions { Interval = interval, WarnTime = Warn * (interval / Interval), DeadTime = Dead * (interval / Interval), InitialDeadTime = Ms(2000) * (interval / Interval), TickInterval = Tick * (interval / Interval) }, new DetectorOptions()),
        new Dictionary<string, ulong>(),
        TimeSpan.Zero);

    private static HeartbeatMessage FromB(ulong sequence) => new(100, false, [], sequence);

    private static List<CoreCommand> Take(OwnershipCore core) => [.. core.TakeReady()];

    [Test]
    public void Fixed_detector_next_change_is_exactly_where_its_verdict_changes()
    {
        var d = new FixedTimeoutDetector(Warn, Dead, Ms(2000), TimeSpan.Zero);
        Assert.That(d.NextChangeAt(Ms(10)), Is.EqualTo(Ms(2000)), "never heard: the initial dead time");
        d.RecordHeartbeat(Ms(100));
        foreach (var (now, expected) in new[] { (Ms(100), Ms(700)), (Ms(699), Ms(700)), (Ms(700), Ms(1100)), (Ms(1099), Ms(1100)) })
        {
            var at = d.NextChangeAt(now)!.Value;
            Assert.That(at, Is.EqualTo(expected), $"at {now}");
            Assert.That(d.Evaluate(at - TimeSpan.FromTicks(1)), Is.EqualTo(d.Evaluate(now)), $"no change before {at}");
            Assert.That(d.Evaluate(at), Is.Not.EqualTo(d.Evaluate(now)), $"a change at {at}");
        }

        Assert.That(d.NextChangeAt(Ms(1100)), Is.Null, "dead: only a heartbeat changes it");
    }

    [Test]
    public void Phi_detector_next_change_is_never_late_and_at_most_a_fraction_of_a_millisecond_early()
    {
        var d = new PhiAccrualDetector(8, 3, Ms(50), TimeSpan.Zero, 100, Interval, Ms(2000), TimeSpan.Zero);
        var t = TimeSpan.Zero;
        for (var i = 0; i < 20; i++)
        {
            t += Ms(190 + (i % 3 * 10));
            d.RecordHeartbeat(t);
        }

        var now = t;
        var seen = new List<PeerHealth> { d.Evaluate(now) };
        while (d.NextChangeAt(now) is { } at)
        {
            Assert.That(at, Is.GreaterThan(now));
            Assert.That(d.Evaluate(at), Is.Not.EqualTo(d.Evaluate(now)), $"the verdict changes by {at}");
            Assert.That(d.Evaluate(at - Ms(0.2)), Is.EqualTo(d.Evaluate(now)), $"and not much earlier than {at}");
            now = at;
            seen.Add(d.Evaluate(now));
        }

        Assert.That(seen, Is.EqualTo(new[] { PeerHealth.Alive, PeerHealth.Suspect, PeerHealth.Dead }));
    }

    [Test]
    public void A_quiet_core_sleeps_until_its_next_heartbeat_not_one_tick()
    {
        var core = NewCore();
        core.Tick(TimeSpan.Zero);
        Assert.That(Take(core).OfType<SendHeartbeat>().Count(), Is.EqualTo(1));
        core.Receive(Ms(20), "b", "lan0", 1, FromB(1));
        Take(core);

        Assert.That(core.NextDeadline(), Is.EqualTo(Interval), "the next heartbeat, four ticks away; b's warn time (620 ms) is later");
        core.Tick(Interval);
        var commands = Take(core);
        Assert.That(commands.OfType<SendHeartbeat>().Count(), Is.EqualTo(1), "the heartbeat goes out at the deadline");
        Assert.That(commands.OfType<EmitEvent>().Select(e => e.Event).OfType<LocalPauseDetected>(), Is.Empty, "a sleep by choice is not a stall");

        // b falls silent: the deadlines are the heartbeats, then b's warn time, then its dead time.
        var now = Interval;
        var ticks = 0;
        while (core.GetPeerHealth("b") != PeerHealth.Dead)
        {
            now = core.NextDeadline();
            core.Tick(now);
            Assert.That(Take(core).OfType<EmitEvent>().Select(e => e.Event).OfType<LocalPauseDetected>(), Is.Empty);
            ticks++;
        }

        Assert.That(now, Is.EqualTo(Ms(20) + Dead), "declared dead exactly at its dead time");
        Assert.That(ticks, Is.LessThanOrEqualTo(7), "four heartbeats, warn and dead (and the rounding of one): not 17 ticks");
    }

    [Test]
    public void A_tick_late_against_the_planned_deadline_is_a_stall_and_the_fixed_rate_rule_is_unchanged()
    {
        var core = NewCore();
        core.Tick(TimeSpan.Zero);
        core.Receive(Ms(20), "b", "lan0", 1, FromB(1));
        Take(core);
        var planned = core.NextDeadline();
        core.Tick(planned + Pause + Ms(1));
        var pause = Take(core).OfType<EmitEvent>().Select(e => e.Event).OfType<LocalPauseDetected>().Single();
        Assert.That(pause.Duration, Is.EqualTo(planned + Pause + Ms(1) - Ms(20)), "everything since the last step is discounted");

        // Without a planned deadline (fixed-rate ticks, the simulator): late against the last tick plus one tick interval.
        var last = planned + Pause + Ms(1);
        core.Tick(last + Tick + Pause);
        Assert.That(Take(core).OfType<EmitEvent>().Select(e => e.Event).OfType<LocalPauseDetected>(), Is.Empty, "exactly at the threshold");
        last += Tick + Pause;
        core.Tick(last + Tick + Pause + Ms(1));
        Assert.That(Take(core).OfType<EmitEvent>().Select(e => e.Event).OfType<LocalPauseDetected>().Single().Duration, Is.EqualTo(Pause + Ms(1)));
    }

    [Test]
    public void An_owner_wakes_for_its_monitors_and_a_core_in_motion_ticks_at_the_fixed_rate()
    {
        var core = NewCore(new GroupConfig("web", "a", false, TimeSpan.Zero, Ms(1000), TimeSpan.FromSeconds(60)));
        core.Tick(TimeSpan.Zero);
        Take(core);
        Assert.That(core.PeekNextDeadline(), Is.EqualTo(Tick), "Standby with nobody handling the group: the start-up is in motion");
        core.Receive(Ms(20), "b", "lan0", 1, FromB(1)); // b is heard and does not run web: a takes it
        var now = Ms(20);
        for (var i = 0; i < 100 && core.GetRole("web") != GroupRole.Active; i++)
        {
            foreach (var command in Take(core))
            {
                switch (command)
                {
                    case PersistEpoch p:
                        core.OnEpochPersisted(now, p.Group, p.Epoch, null);
                        break;
                    case AskArbiter ask:
                        core.OnArbiterAnswer(now, ask.RequestId, HaKit.Arbitration.ArbiterDecision.Grant("test"));
                        break;
                    case StartGroup start:
                        core.OnGroupStarted(now, start.Group, start.Epoch, new GroupActionOutcome(GroupOutcome.Succeeded, ResourceFailureKind.None, null, null, 0));
                        break;
                }
            }

            now += Tick;
            core.Tick(now);
        }

        Assert.That(core.GetRole("web"), Is.EqualTo(GroupRole.Active));
        Take(core);
        var deadline = core.PeekNextDeadline();
        Assert.That(deadline, Is.GreaterThan(now + Tick), "Active and quiet: no fixed-rate tick");
        Assert.That(deadline, Is.LessThanOrEqualTo(now + Interval), "never later than the next heartbeat");
    }

    [Test]
    public async Task The_loop_sleeps_until_the_core_deadline_an_input_wakes_it_early_and_no_stall_is_reported()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var loop = new NodeLoop(time, NullLogger.Instance);
        loop.StartClock();
        var core = NewCore();
        loop.Open(core);
        var freeze = new FreezeGuard(time, loop.StartTimestamp, [], Dead, Interval, Tick, Pause, hasPeers: true);
        loop.Freeze = freeze;
        var executor = new Recorder(loop);
        using var cancel = new CancellationTokenSource();
        loop.Run(executor, cancel.Token);
        loop.StartTicks();
        try
        {
            await IdleAsync(loop);
            Assert.That(executor.Heartbeats, Is.EqualTo(new[] { TimeSpan.Zero }), "the first tick sends at once");
            Assert.That(loop.ArmedFor, Is.EqualTo(Interval), "armed for the next heartbeat, not for one tick");
            Assert.That(loop.Wakeups, Is.EqualTo(1));

            // b's heartbeats every 200 ms at +20 ms; 5 s of virtual time in 1 ms steps.
            ulong sequence = 0;
            var received = 0;
            for (var t = Ms(1); t <= TimeSpan.FromSeconds(5); t += Ms(1))
            {
                time.Advance(Ms(1));
                if (t.TotalMilliseconds % 200 == 20)
                {
                    var at = loop.Now;
                    var s = ++sequence;
                    loop.Post(() =>
                    {
                        loop.Core.Receive(at, "b", "lan0", 1, FromB(s)); // an input: runs now, not at the deadline
                        received++;
                    });
                }

                await IdleAsync(loop);
            }

            // The timer is set 1-2 ms past the deadline (the runtime's timers may fire up to a millisecond early).
            Assert.That(executor.Heartbeats, Has.Count.InRange(24, 26), "one heartbeat every 200 ms (and 1-2)");
            Assert.That(executor.Heartbeats.Zip(executor.Heartbeats.Skip(1), (x, y) => y - x), Is.All.InRange(Interval, Interval + Ms(2)));
            Assert.That(loop.Wakeups, Is.EqualTo(executor.Heartbeats.Count), "the timer woke the loop once per heartbeat, not every 50 ms (100 times)");
            Assert.That(received, Is.EqualTo(25), "every input ran at once");
            Assert.That(executor.Pauses, Is.Empty, "sleeping until a deadline is not a stall");
            Assert.That(loop.Core.GetPeerHealth("b"), Is.EqualTo(PeerHealth.Alive));

        }
        finally
        {
            await cancel.CancelAsync();
            await loop.StopAsync().WaitAsync(Wait);
        }
    }

    [Test]
    public async Task With_the_system_clock_the_loop_waits_for_its_deadline_itself_and_never_wakes_early()
    {
        var loop = new NodeLoop(TimeProvider.System, NullLogger.Instance);
        Assert.That(loop.WaitsItself, Is.True, "no TimeProvider timer with the system clock");
        loop.StartClock();
        loop.Open(NewCore());
        var executor = new Recorder(loop);
        using var cancel = new CancellationTokenSource();
        loop.Run(executor, cancel.Token);
        loop.StartTicks();
        var inputs = 0;
        try
        {
            // 1.1 s with an input every 30 ms in between: inputs run at once and do not postpone or add ticks.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromMilliseconds(1100))
            {
                await IdleAsync(loop);
                inputs++;
                Thread.Sleep(30);
            }
        }
        finally
        {
            await cancel.CancelAsync();
            await loop.StopAsync().WaitAsync(Wait);
        }

        var beats = executor.Heartbeats;
        Assert.That(beats, Has.Count.InRange(5, 7), "one heartbeat every 200 ms over 1.1 s");
        Assert.That(beats.Zip(beats.Skip(1), (x, y) => y - x), Is.All.GreaterThanOrEqualTo(Interval), "a heartbeat never goes out before its deadline");
        Assert.That(loop.Wakeups, Is.InRange(beats.Count, beats.Count + 2),
            "the loop woke for its deadlines about once per heartbeat (peer b, never heard, may add a detector deadline), not early and again");
        Assert.That(inputs, Is.GreaterThan(10));
    }

    [Test]
    public async Task On_Linux_the_loop_sleeps_on_its_semaphore_an_input_wakes_it_and_the_semaphore_is_freed_when_it_ends()
    {
        var loop = new NodeLoop(TimeProvider.System, NullLogger.Instance);
        loop.StartClock();
        loop.Open(NewCore());
        using var cancel = new CancellationTokenSource();
        loop.Run(new Recorder(loop), cancel.Token);
        try
        {
            Assert.That(loop.SleepsOnWaker, Is.EqualTo(OperatingSystem.IsLinux()), "Linux: the semaphore (LoopWaker); elsewhere the monitor");
            await Task.Delay(20); // no ticks started: the loop sleeps without a deadline, and a post must wake it
            var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Assert.That(loop.Post(ran.SetResult), Is.True);
            await ran.Task.WaitAsync(Wait);
        }
        finally
        {
            await cancel.CancelAsync();
            await loop.StopAsync().WaitAsync(Wait);
        }

        Assert.That(loop.SleepsOnWaker, Is.False, "freed when the loop thread ended");
        Assert.That(loop.Post(() => { }), Is.False, "stopped");
    }

    [Test]
    public async Task A_deferred_input_waits_for_the_planned_wake_up_and_runs_before_its_tick_and_an_input_posted_after_it_wakes_the_loop_at_once()
    {
        // A 2 s interval: the loop sleeps about 2 s between heartbeats, so "at once" and "at the planned wake-up" are far apart.
        var interval = TimeSpan.FromSeconds(2);
        var loop = new NodeLoop(TimeProvider.System, NullLogger.Instance);
        loop.StartClock();
        loop.Open(NewCore(interval));
        var executor = new Recorder(loop);
        using var cancel = new CancellationTokenSource();
        loop.Run(executor, cancel.Token);
        Assert.That(loop.PostDeferred(() => { }, TimeSpan.FromSeconds(10)), Is.False, "not before the ticks started: nothing is planned");
        loop.StartTicks();
        try
        {
            await UntilAsync(() => executor.Heartbeats.Count >= 1);
            await IdleAsync(loop);
            Thread.Sleep(50); // the loop sleeps until its next heartbeat, about 2 s after the first
            var armed = loop.ArmedFor;
            Assert.That(loop.PostDeferred(() => { }, Ms(10)), Is.False, "the planned wake-up is further away than the input may wait");

            var posted = loop.Now;
            TimeSpan? deferredRan = null;
            var beatsWhenRan = -1;
            Assert.That(loop.PostDeferred(() => { deferredRan = loop.Now; beatsWhenRan = executor.Heartbeats.Count; }, interval * 2), Is.True);
            await UntilAsync(() => deferredRan is not null);
            Assert.Multiple(() =>
            {
                Assert.That(deferredRan, Is.GreaterThanOrEqualTo(armed), "it waited for the planned wake-up");
                Assert.That(deferredRan - posted, Is.GreaterThan(interval / 2), "it did not wake the loop");
                Assert.That(beatsWhenRan, Is.EqualTo(1), "it ran before that wake-up's tick sent the next heartbeat");
            });

            await UntilAsync(() => executor.Heartbeats.Count >= 2);
            await IdleAsync(loop);
            Thread.Sleep(50);
            var order = new List<string>();
            posted = loop.Now;
            TimeSpan? urgentRan = null;
            Assert.That(loop.PostDeferred(() => order.Add("deferred"), interval * 2), Is.True);
            Assert.That(loop.Post(() => { order.Add("urgent"); urgentRan = loop.Now; }), Is.True);
            await UntilAsync(() => urgentRan is not null);
            Assert.Multiple(() =>
            {
                Assert.That(urgentRan - posted, Is.LessThan(interval / 2), "an input posted behind a deferred one still wakes the sleeping loop");
                Assert.That(order, Is.EqualTo(new[] { "deferred", "urgent" }), "in the order they were queued");
                Assert.That(loop.DeferredPosts, Is.EqualTo(2));
            });
        }
        finally
        {
            await cancel.CancelAsync();
            await loop.StopAsync().WaitAsync(Wait);
        }
    }

    [Test]
    public void On_virtual_time_nothing_is_deferred()
    {
        var loop = new NodeLoop(new FakeTimeProvider(), NullLogger.Instance);
        loop.StartClock();
        loop.Open(NewCore());
        loop.StartTicks();
        Assert.That(loop.PostDeferred(() => { }, TimeSpan.FromHours(1)), Is.False, "the timer path queues its ticks: inputs are posted as they come");
    }

    [Test]
    public void The_freeze_guard_measures_a_stall_from_the_planned_wake_up()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var start = time.GetTimestamp();
        var freeze = new FreezeGuard(time, start, [], Dead, Interval, Tick, Pause, hasPeers: true);
        long At(TimeSpan t) => start + (long)(t.Ticks * (double)time.TimestampFrequency / TimeSpan.TicksPerSecond);

        Assert.That(freeze.BeginStep(), Is.False);
        freeze.PlanWake(At(Interval));
        time.Advance(Interval + Pause); // slept 200 ms by choice, woke 100 ms late: at the threshold
        Assert.That(freeze.BeginStep(), Is.False, "a sleep by choice is not a stall");
        freeze.PlanWake(At(Interval * 2 + Pause));
        time.Advance(Interval + Pause + Ms(1));
        Assert.That(freeze.BeginStep(), Is.True, "late by more than the threshold against the planned wake-up");
        time.Advance(Tick + Pause + Ms(1));
        Assert.That(freeze.BeginStep(), Is.True, "with no later plan: late against the last step plus a tick, as before");
    }

    /// <summary>Waits (bounded by <see cref="Wait"/>) until <paramref name="condition"/> holds.</summary>
    private static async Task UntilAsync(Func<bool> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.That(clock.Elapsed, Is.LessThan(Wait), "timed out waiting for the loop");
            await Task.Delay(5);
        }
    }

    /// <summary>Waits (bounded) until the loop has run everything queued so far, including the re-arm after it.</summary>
    private static async Task IdleAsync(NodeLoop loop)
    {
        for (var i = 0; i < 2; i++)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Assert.That(loop.Post(done.SetResult), Is.True);
            await done.Task.WaitAsync(Wait);
        }
    }

    private sealed class Recorder(NodeLoop loop) : ICoreCommandHandler
    {
        public List<TimeSpan> Heartbeats { get; } = [];

        public List<LocalPauseDetected> Pauses { get; } = [];

        public ValueTask SendHeartbeatAsync(SendHeartbeat command, CancellationToken cancellationToken)
        {
            // The time of the step that sent it (the core's), not of this call: the clock read here also counts how long the step
            // took before its commands ran, which on a busy machine made one interval look shorter than the deadline it kept.
            Heartbeats.Add(loop.Core.Now);
            return ValueTask.CompletedTask;
        }

        public ValueTask EmitEventAsync(EmitEvent command, CancellationToken cancellationToken)
        {
            if (command.Event is LocalPauseDetected p)
            {
                Pauses.Add(p);
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask PersistEpochAsync(PersistEpoch command, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask AskArbiterAsync(AskArbiter command, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask ReleaseArbiterAsync(ReleaseArbiter command, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask FenceNodeAsync(FenceNode command, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask StartGroupAsync(StartGroup command, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask StopGroupAsync(StopGroup command, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask MonitorGroupAsync(MonitorGroup command, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
