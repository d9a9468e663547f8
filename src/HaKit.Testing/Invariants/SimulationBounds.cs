using System.Globalization;
using HaKit.Arbitration;
using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// Time bounds derived from a scenario's configured timings; the invariants use them.
/// </summary>
/// <param name="Convergence">After faults end: the longest until every group is Active on exactly one node.</param>
/// <param name="SplitBrainResolution">In TwoNode mode: the longest a dual-active may last once the rule's loser hears the winner.</param>
/// <param name="DetectionWindow">Dead time in global time at the fastest clock: a peer heard within it is alive from the receiver's view.</param>
/// <param name="Derivation">How <paramref name="Convergence"/> was derived, term by term.</param>
/// <param name="InFlight">The longest a group action that began during faults may still run after they end (global time); the
/// simulated operator clears failures once more after it.</param>
public sealed record SimulationBounds(TimeSpan Convergence, TimeSpan SplitBrainResolution, TimeSpan DetectionWindow, string Derivation, TimeSpan InFlight)
{
    /// <summary>
    /// Derives the bounds. Convergence, after faults end (every node restarted, links healed, failures cleared at once and again
    /// when every action in flight has finished), is the sum of: a group action in flight finishing (every resource's start and stop time-out, times the restart budget plus one, plus the
    /// restart delays); a restarted node's initial dead time; detection (dead time plus two ticks); the old owner's stop (its
    /// resources' stop time-outs); a denied arbiter request being retried (retry interval plus the longest arbiter answer);
    /// fencing when configured (retry interval plus every level's longest duration); the new owner's start (start time-outs);
    /// auto-failback (failback delay, a monitor interval, one more stop and start) when on; three heartbeat intervals and two
    /// network delays for the news to travel; and the longest stall in progress. Local durations are divided by the slowest
    /// clock rate (1 - MaxClockDrift). Split-brain resolution is one heartbeat interval plus two ticks (the loser acts on the first
    /// heartbeat it hears from the winner, at its next step) at the slowest clock, plus the longest network delay.
    /// </summary>
    /// <param name="options">The scenario.</param>
    public static SimulationBounds From(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var c = options.Cluster;
        var t = c.Timing;
        var f = options.Faults;
        var tick = t.EffectiveTickInterval;
        var slowest = 1 - f.MaxClockDrift;
        var fastest = 1 + f.MaxClockDrift;
        TimeSpan Max(Func<GroupOptions, TimeSpan> pick) => c.Groups.Count == 0 ? TimeSpan.Zero : c.Groups.Max(pick);
        TimeSpan Local(TimeSpan d) => TimeSpan.FromTicks((long)(d.Ticks / slowest));
        var inFlight = Max(g => ((g.StartTimeout + g.StopTimeout) * g.Resources.Count * (g.MaxRestarts + 1)) + (g.RestartDelay * (g.MaxRestarts + 1)));
        var stop = Max(g => g.StopTimeout * g.Resources.Count);
        var start = Max(g => g.StartTimeout * g.Resources.Count);
        var arbiter = c.Arbiter.RetryInterval + options.ArbiterDuration.Max;
        var fencing = options.FenceLevels.Count == 0 ? TimeSpan.Zero : c.Fencing.RetryInterval + (options.FenceDuration.Max * options.FenceLevels.Count);
        var failback = c.Groups.Any(g => g.AutoFailback) ? Max(g => g.FailbackDelay + g.MonitorInterval + ((g.StopTimeout + g.StartTimeout) * g.Resources.Count)) : TimeSpan.Zero;
        var news = (t.Interval * 3) + (MaxDelay(f) * 2);
        var detection = t.DeadTime + (tick * 2);
        var shutdown = f.ShutdownRate > 0 ? stop + (2 * t.DeadTime) : TimeSpan.Zero;
        var local = inFlight + shutdown + t.InitialDeadTime + detection + stop + arbiter + fencing + start + failback + news;
        // Lease modes: a lease held by a process that is gone (crashed, or refreshed by the store's return) lingers for its time to
        // live on the store's clock, and the next owner finds it free at its next retry (two arbiter trips each way).
        // Witness mode: the same at a voter (a dead owner's lease runs out on the voter's clock), and a voter that started again is
        // quiet for one lease time; a round waits at most its request time-out.
        var lease = c.Arbiter.Mode switch
        {
            ArbiterMode.Etcd => c.Arbiter.LeaseTtl + c.Arbiter.RetryInterval + (options.ArbiterDuration.Max * 4),
            ArbiterMode.Witness => TimeSpan.FromTicks((long)(c.Arbiter.LeaseTtl.Ticks / slowest)) + c.Arbiter.RetryInterval + c.Arbiter.Witness.RequestTimeout + (options.ArbiterDuration.Max * 4),
            _ => TimeSpan.Zero,
        };
        var convergence = Local(local) + f.StallDuration.Max + lease;
        string Ms(TimeSpan d) => d.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);
        var derivation = $"in-flight group action {Ms(inFlight)} + graceful shutdown in progress {Ms(shutdown)} + initial dead time {Ms(t.InitialDeadTime)} + detection {Ms(detection)} + stop {Ms(stop)} + arbiter retry {Ms(arbiter)} + fencing {Ms(fencing)} + start {Ms(start)} + failback {Ms(failback)} + heartbeats {Ms(news)} = {Ms(local)} ms local, / {slowest.ToString("0.###", CultureInfo.InvariantCulture)} clock rate + stall {Ms(f.StallDuration.Max)} + lingering lease {Ms(lease)} = {Ms(convergence)} ms";
        var splitBrain = Local(t.Interval + (tick * 2)) + MaxDelay(f);
        var detectionWindow = TimeSpan.FromTicks((long)(t.DeadTime.Ticks / fastest));
        // Lease modes: the target's claim may reach the store before the release does and be refused once (one retry, two more trips).
        var claimRace = c.Arbiter.Mode switch
        {
            ArbiterMode.Etcd => c.Arbiter.RetryInterval + (options.ArbiterDuration.Max * 2),
            ArbiterMode.Witness => c.Arbiter.RetryInterval + c.Arbiter.Witness.RequestTimeout + (options.ArbiterDuration.Max * 2),
            _ => TimeSpan.Zero,
        };
        var handoff = Local(stop + (t.Interval * 3) + (tick * 3) + options.ArbiterDuration.Max + claimRace + start) + (MaxDelay(f) * 2);
        return new SimulationBounds(convergence, splitBrain, detectionWindow, derivation, Local(inFlight)) { Handoff = handoff };
    }

    /// <summary>
    /// After an operator's switchover, with both nodes up and unstalled, every link between them up and neither resource failing:
    /// the longest until the target is Active. The source's stop (its resources' stop time-outs), three heartbeat intervals and
    /// three ticks for the release to be announced and acted on, the longest arbiter answer, the target's start (start time-outs),
    /// at the slowest clock, plus two of the longest network delays.
    /// </summary>
    public TimeSpan Handoff { get; init; }

    private static TimeSpan MaxDelay(FaultProfile f) => f.NetworkDelay.Max + (f.Delay > 0 ? f.Jitter.Max : TimeSpan.Zero);
}
