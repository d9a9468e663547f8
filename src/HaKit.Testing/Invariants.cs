using System.Globalization;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>
/// A property that must hold after every step of a <see cref="Simulation"/>. Implementations keep whatever state they need
/// between steps (an invariant object belongs to one simulation) and read the simulation's state and
/// <see cref="Simulation.StepEvents"/>. Later arbiter modes and replication add their own.
/// </summary>
public interface IInvariant
{
    /// <summary>Short name shown in reports (<c>epochs-grow</c>).</summary>
    string Name { get; }

    /// <summary>Checks the invariant after a step.</summary>
    /// <param name="simulation">The simulation, after the step.</param>
    /// <returns><see langword="null"/> when it holds; otherwise what is wrong, naming the nodes, groups, epochs and times involved.</returns>
    string? Check(Simulation simulation);
}

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

/// <summary>The built-in invariants.</summary>
public static class Invariants
{
    /// <summary>The invariants for the scenario's arbiter mode: for TwoNode, <see cref="EpochsGrowInvariant"/>,
    /// <see cref="ConvergenceInvariant"/>, <see cref="TwoNodeDualActiveInvariant"/>, <see cref="BlockedNeverStartedElsewhereInvariant"/>,
    /// <see cref="SplitBrainRuleInvariant"/>, and for the operator paths <see cref="MaintenanceHandsOffInvariant"/>,
    /// <see cref="StandbyTakesNothingInvariant"/>, <see cref="SwitchoverCompletesInvariant"/> and <see cref="GracefulShutdownCompletesInvariant"/>.
    /// (<see cref="SingleActiveOwnerInvariant"/> is for lease modes.)</summary>
    /// <param name="options">The scenario.</param>
    public static IList<IInvariant> Default(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var list = new List<IInvariant>
        {
            new EpochsGrowInvariant(),
            new ConvergenceInvariant(),
            new BlockedNeverStartedElsewhereInvariant(),
            new SplitBrainRuleInvariant(),
            new MaintenanceHandsOffInvariant(),
            new StandbyTakesNothingInvariant(),
            new SwitchoverCompletesInvariant(),
            new GracefulShutdownCompletesInvariant(),
        };
        if (options.Cluster.Arbiter.Mode == ArbiterMode.TwoNode)
        {
            list.Add(new TwoNodeDualActiveInvariant());
        }
        else
        {
            list.Add(new SingleActiveOwnerInvariant());
        }

        return list;
    }

    internal static bool Outranks(Simulation sim, string a, string b)
    {
        int Priority(string n) => sim[n].Options.Nodes.First(x => x.Name == n).Priority;
        var (pa, pb) = (Priority(a), Priority(b));
        return pa != pb ? pa > pb : string.CompareOrdinal(a, b) < 0;
    }

    internal static string S(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + "s";
}

/// <summary>
/// Epochs only grow: on each node, the persisted epoch of a group never decreases and the highest epoch the core knows never
/// decreases within a process; every takeover (start) uses an epoch above every epoch the node owned before and above every
/// epoch it heard from peers in its current process; and no resource instance is started with a smaller epoch after a larger one.
/// </summary>
public sealed class EpochsGrowInvariant : IInvariant
{
    private readonly Dictionary<(string Node, string Group), ulong> _persisted = [];
    private readonly Dictionary<(string Node, string Group), (ulong Incarnation, ulong Highest)> _highest = [];
    private readonly Dictionary<(string Node, string Group), ulong> _owned = [];
    private readonly Dictionary<(string Node, string Group), (ulong Epoch, string From, TimeSpan At)> _heard = [];
    private readonly Dictionary<(string Node, string Group, string Resource), ulong> _resource = [];

    /// <inheritdoc />
    public string Name => "epochs-grow";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEvents)
        {
            switch (e)
            {
                case NodeStarted s:
                    foreach (var key in _heard.Keys.Where(k => k.Node == s.Node).ToArray())
                    {
                        _heard.Remove(key);
                    }

                    break;
                case HeartbeatDelivered h:
                    foreach (var a in h.Message.Groups)
                    {
                        var seen = Math.Max(a.Epoch, a.HighestEpoch);
                        if (!_heard.TryGetValue((h.Node, a.Group), out var prev) || seen > prev.Epoch)
                        {
                            _heard[(h.Node, a.Group)] = (seen, h.From, h.At);
                        }
                    }

                    break;
                case GroupStartIssued st:
                    if (_owned.TryGetValue((st.Node, st.Group), out var owned) && st.Epoch <= owned)
                    {
                        return $"node {st.Node} started group {st.Group} with epoch {st.Epoch}, but it had already owned epoch {owned}: a takeover must raise the epoch";
                    }

                    if (_heard.TryGetValue((st.Node, st.Group), out var heard) && st.Epoch <= heard.Epoch)
                    {
                        return $"node {st.Node} started group {st.Group} with epoch {st.Epoch}, but it had heard epoch {heard.Epoch} from {heard.From} at {Invariants.S(heard.At)}: a takeover must use an epoch above every epoch it knows";
                    }

                    _owned[(st.Node, st.Group)] = st.Epoch;
                    break;
                case ResourceActionObserved { Record: { Action: ResourceAction.Start, FailureKind: ResourceFailureKind.None } r } ra:
                    if (_resource.TryGetValue((ra.Node, r.Group, r.Resource), out var last) && ra.Epoch < last)
                    {
                        return $"resource {r.Resource} of group {r.Group} on node {ra.Node} was started with epoch {ra.Epoch} after epoch {last}";
                    }

                    _resource[(ra.Node, r.Group, r.Resource)] = ra.Epoch;
                    break;
            }
        }

        foreach (var n in simulation.Nodes)
        {
            foreach (var g in simulation.GroupNames)
            {
                var persisted = n.PersistedEpochs.GetValueOrDefault(g);
                if (_persisted.TryGetValue((n.Name, g), out var p) && persisted < p)
                {
                    return $"node {n.Name}: persisted epoch of group {g} went down from {p} to {persisted}";
                }

                _persisted[(n.Name, g)] = persisted;
                if (!n.IsUp)
                {
                    continue;
                }

                var highest = n.HighestEpoch(g);
                if (_highest.TryGetValue((n.Name, g), out var h) && h.Incarnation == n.Incarnation && highest < h.Highest)
                {
                    return $"node {n.Name}: highest epoch of group {g} went down from {h.Highest} to {highest} within incarnation {n.Incarnation}";
                }

                _highest[(n.Name, g)] = (n.Incarnation, highest);
            }
        }

        return null;
    }
}

/// <summary>
/// Once faults stop, every group that has an eligible node is Active on exactly one node (and Standby everywhere else) within
/// <see cref="SimulationBounds.Convergence"/>, and stays so. A group in maintenance on any node is skipped: the core leaves it as
/// it is by contract (the end of faults takes every group out of maintenance, so this only matters for scripted scenarios).
/// </summary>
public sealed class ConvergenceInvariant : IInvariant
{
    /// <inheritdoc />
    public string Name => "converges-after-faults";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        if (simulation.FaultsActive || simulation.Now < simulation.FaultsEndAt + simulation.Bounds.Convergence)
        {
            return null;
        }

        foreach (var g in simulation.GroupNames)
        {
            var active = 0;
            var settled = true;
            foreach (var n in simulation.Nodes)
            {
                var role = n.Role(g);
                if (role == GroupRole.Active)
                {
                    active++;
                }
                else if (role != GroupRole.Standby)
                {
                    settled = false;
                }
            }

            if (active == 1 && settled)
            {
                continue;
            }

            if (simulation.Nodes.Any(n => n.InMaintenance(g)))
            {
                continue; // an operator keeps the group as it is: nothing the core may converge
            }

            if (!simulation.Nodes.Any(n => n.IsUp && n.Core.GetStatus().Groups.Any(x => x.Group == g && x.Eligible)))
            {
                continue; // no eligible node: nothing to converge to
            }

            var roles = string.Join(", ", simulation.Nodes.Select(n => n.IsUp ? $"{n.Name}={n.Role(g)} e{n.Epoch(g)}" : $"{n.Name}=down"));
            return $"group {g} is not Active on exactly one node {Invariants.S(simulation.Now - simulation.FaultsEndAt)} after faults ended (bound {Invariants.S(simulation.Bounds.Convergence)}: {simulation.Bounds.Derivation}): {roles}";
        }

        return null;
    }
}

/// <summary>
/// TwoNode mode: two nodes run a group at once (both Starting or Active) only when the node that started last could not hear
/// the other (its latest news of the other, if any arrived since it began the takeover, did not say the other ran the group),
/// and the dual-active ends within <see cref="SimulationBounds.SplitBrainResolution"/> after the split-brain rule's loser hears
/// the winner announce its current ownership (a stale heartbeat from before it took the group does not count). A one-way cut counts as cut when it is the loser who cannot hear: the winner has no way to make it stop.
/// While the loser has the group in maintenance it does not apply the rule (hands off by contract); the bound starts again when it
/// is managed again and hears the winner.
/// </summary>
public sealed class TwoNodeDualActiveInvariant : IInvariant
{
    private readonly Dictionary<(string Node, string Group), TimeSpan> _acquiringSince = [];
    private readonly Dictionary<(string A, string B, string Group), Episode> _episodes = [];

    /// <inheritdoc />
    public string Name => "two-node-dual-active";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEvents)
        {
            if (e is CoreEventObserved { Event: RoleChanged { To: GroupRole.Acquiring } r })
            {
                _acquiringSince[(e.Node, r.Group)] = e.At;
            }
        }

        var nodes = simulation.Nodes;
        for (var i = 0; i < nodes.Count; i++)
        {
            for (var j = i + 1; j < nodes.Count; j++)
            {
                foreach (var g in simulation.GroupNames)
                {
                    var message = CheckPair(simulation, nodes[i], nodes[j], g);
                    if (message is not null)
                    {
                        return message;
                    }
                }
            }
        }

        return null;
    }

    private static bool Runs(SimulatedNode n, string g) => n.IsUp && n.Role(g) is GroupRole.Starting or GroupRole.Active;

    private string? CheckPair(Simulation sim, SimulatedNode a, SimulatedNode b, string g)
    {
        var key = (a.Name, b.Name, g);
        if (!Runs(a, g) || !Runs(b, g))
        {
            _episodes.Remove(key);
            return null;
        }

        if (!_episodes.TryGetValue(key, out var episode))
        {
            // Began now: the node that began its takeover last started while the other ran the group.
            var (late, early) = _acquiringSince.GetValueOrDefault((a.Name, g)) >= _acquiringSince.GetValueOrDefault((b.Name, g)) ? (a, b) : (b, a);
            var since = _acquiringSince.GetValueOrDefault((late.Name, g));
            if (sim.LastHeartbeat(late.Name, early.Name) is { } heard && heard.At >= since
                && heard.Message.Groups.FirstOrDefault(x => x.Group == g) is { Role: GroupRole.Starting or GroupRole.Active } ann)
            {
                return $"group {g}: node {late.Name} started (takeover began {Invariants.S(since)}) although its latest heartbeat from {early.Name}, at {Invariants.S(heard.At)}, said {early.Name} was {ann.Role} with epoch {ann.Epoch}";
            }

            episode = new Episode(sim.Now);
            _episodes[key] = episode;
        }

        var (ea, eb) = (a.Epoch(g), b.Epoch(g));
        var aWins = ea != eb ? ea > eb : Invariants.Outranks(sim, a.Name, b.Name);
        var (winner, loser) = aWins ? (a, b) : (b, a);
        if (loser.InMaintenance(g))
        {
            // Maintenance: the loser neither stops nor fails over the group; the rule applies again once it is managed (and hears the winner).
            episode.Deadline = null;
            return null;
        }

        if (episode.Deadline is null)
        {
            foreach (var e in sim.StepEvents)
            {
                if (e is HeartbeatDelivered h && h.Node == loser.Name && h.From == winner.Name
                    && h.Message.Groups.FirstOrDefault(x => x.Group == g) is { Role: GroupRole.Starting or GroupRole.Active } ann
                    && ann.Epoch == winner.Epoch(g))
                {
                    episode.Deadline = sim.Now + sim.Bounds.SplitBrainResolution;
                    episode.HeardAt = sim.Now;
                    break;
                }
            }
        }

        if (episode.Deadline is { } deadline && sim.Now > deadline)
        {
            return $"group {g}: {a.Name} (epoch {ea}) and {b.Name} (epoch {eb}) both run it since {Invariants.S(episode.Since)}; the loser {loser.Name} heard the winner {winner.Name} at {Invariants.S(episode.HeardAt)} but still runs it {Invariants.S(sim.Now - episode.HeardAt)} later (bound {Invariants.S(sim.Bounds.SplitBrainResolution)})";
        }

        return null;
    }

    private sealed class Episode(TimeSpan since)
    {
        public TimeSpan Since { get; } = since;

        public TimeSpan? Deadline { get; set; }

        public TimeSpan HeardAt { get; set; }
    }
}

/// <summary>
/// A group that is Blocked on a node (a stop failed: its resources may still run) is never started on another node unless that
/// node was fenced successfully, an operator confirmed it down, or it restarted (its process, and so its resources, died) since.
/// A blocked node that crashed counts as blocked until it restarts: the other nodes cannot tell a crash from a hang.
/// With fencing configured this holds whatever the starter knew (it must fence a silent owner anyway); without fencing, TwoNode
/// takes over a silent owner by design, so the rule binds a starter whose latest news of that node said the group was Blocked there.
/// </summary>
public sealed class BlockedNeverStartedElsewhereInvariant : IInvariant
{
    private readonly Dictionary<(string Node, string Group), TimeSpan> _blocked = [];

    /// <inheritdoc />
    public string Name => "blocked-never-started-elsewhere";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEvents)
        {
            switch (e)
            {
                case CoreEventObserved { Event: RoleChanged { To: GroupRole.Blocked } r }:
                    _blocked[(e.Node, r.Group)] = e.At;
                    break;
                case CoreEventObserved { Event: RoleChanged { From: GroupRole.Blocked } r }:
                    _blocked.Remove((e.Node, r.Group));
                    break;
                case NodeStarted s:
                    Clear(s.Node);
                    break;
                case FenceObserved { Succeeded: true } f:
                    Clear(f.Target);
                    break;
                case AdminObserved { Command: ConfirmNodeDownCommand c, Result.Accepted: true }:
                    Clear(c.Node);
                    break;
                case GroupStartIssued st:
                    foreach (var ((node, group), since) in _blocked)
                    {
                        if (group == st.Group && node != st.Node && (simulation.Options.FenceLevels.Count > 0 || KnewBlocked(simulation, st.Node, node, group)))
                        {
                            return $"node {st.Node} started group {st.Group} (epoch {st.Epoch}) while it was blocked on node {node} since {Invariants.S(since)} (a stop failed there) without a confirmed fence of {node}";
                        }
                    }

                    break;
            }
        }

        return null;
    }

    /// <summary>Without fencing, TwoNode takes over a silent owner (a dead Active node may still run the group, as may a node
    /// that blocked after the link went silent): only a start by a node whose latest news of the blocked node said Blocked breaks the rule.</summary>
    private static bool KnewBlocked(Simulation sim, string starter, string blockedNode, string group) =>
        sim.LastHeartbeat(starter, blockedNode) is { } heard && heard.Message.Groups.Any(g => g.Group == group && g.Role == GroupRole.Blocked);

    private void Clear(string node)
    {
        foreach (var key in _blocked.Keys.Where(k => k.Node == node).ToArray())
        {
            _blocked.Remove(key);
        }
    }
}

/// <summary>
/// The split-brain rule: a node stops its copy as the loser of a split brain only when a peer that runs the group (as last heard)
/// has a higher epoch, or the same epoch and a higher rank (priority, then name).
/// </summary>
public sealed class SplitBrainRuleInvariant : IInvariant
{
    /// <inheritdoc />
    public string Name => "split-brain-rule";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEvents)
        {
            if (e is not GroupStopIssued { Reason: StopReason.SplitBrainLost } stop)
            {
                continue;
            }

            var justified = false;
            var seen = new List<string>();
            foreach (var peer in simulation.Nodes.Where(n => n.Name != stop.Node))
            {
                if (simulation.LastHeartbeat(stop.Node, peer.Name) is not { } heard
                    || heard.Message.Groups.FirstOrDefault(x => x.Group == stop.Group) is not { Role: GroupRole.Starting or GroupRole.Active } ann)
                {
                    continue;
                }

                seen.Add($"{peer.Name} {ann.Role} epoch {ann.Epoch}");
                if (ann.Epoch > stop.Epoch || (ann.Epoch == stop.Epoch && Invariants.Outranks(simulation, peer.Name, stop.Node)))
                {
                    justified = true;
                }
            }

            if (!justified)
            {
                return $"node {stop.Node} stopped group {stop.Group} (epoch {stop.Epoch}) as a split-brain loser, but no peer that runs it has a higher epoch or the same epoch and a higher rank ({(seen.Count == 0 ? "no peer runs it" : string.Join(", ", seen))})";
            }
        }

        return null;
    }
}

/// <summary>
/// Lease modes (Witness, Etcd): never two owners at one instant: at most one node is Starting or Active for a group at any time.
/// Not part of the TwoNode defaults, where a dual-active during a full partition is allowed (see <see cref="TwoNodeDualActiveInvariant"/>).
/// </summary>
public sealed class SingleActiveOwnerInvariant : IInvariant
{
    /// <inheritdoc />
    public string Name => "single-active-owner";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var g in simulation.GroupNames)
        {
            var owners = simulation.Nodes.Where(n => n.IsUp && n.Role(g) is GroupRole.Starting or GroupRole.Active).ToArray();
            if (owners.Length > 1)
            {
                return $"group {g} has {owners.Length} owners at once: {string.Join(", ", owners.Select(n => $"{n.Name} {n.Role(g)} epoch {n.Epoch(g)}"))}";
            }
        }

        return null;
    }
}

/// <summary>
/// Maintenance is hands-off: while a group is in maintenance on a node (<see cref="SetMaintenanceCommand"/>), that node neither
/// starts nor stops it, whatever happens (a takeover in progress, standby, shutdown, a split brain, an operator's switchover). The
/// one exception is the operator's explicit cleanup of a blocked group (<see cref="ClearFailuresCommand"/> retries its stop).
/// </summary>
public sealed class MaintenanceHandsOffInvariant : IInvariant
{
    private readonly HashSet<(string Node, string Group)> _maintenance = [];

    /// <inheritdoc />
    public string Name => "maintenance-hands-off";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEvents)
        {
            switch (e)
            {
                case NodeStarted s:
                    _maintenance.RemoveWhere(k => k.Node == s.Node);
                    break;
                case AdminObserved { Command: SetMaintenanceCommand m, Result.Accepted: true } a:
                    if (m.Maintenance)
                    {
                        _maintenance.Add((a.Node, m.Group));
                    }
                    else
                    {
                        _maintenance.Remove((a.Node, m.Group));
                    }

                    break;
                case GroupStartIssued st when _maintenance.Contains((st.Node, st.Group)):
                    return $"node {st.Node} started group {st.Group} (epoch {st.Epoch}) while the group was in maintenance there";
                case GroupStopIssued sp when sp.Reason != StopReason.Cleanup && _maintenance.Contains((sp.Node, sp.Group)):
                    return $"node {sp.Node} stopped group {sp.Group} (epoch {sp.Epoch}, {sp.Reason}) while the group was in maintenance there";
            }
        }

        return null;
    }
}

/// <summary>
/// A node in standby or in a graceful shutdown takes nothing: it never begins a takeover (Acquiring) nor starts a group until it is
/// online again or a new process starts.
/// </summary>
public sealed class StandbyTakesNothingInvariant : IInvariant
{
    private readonly Dictionary<string, string> _why = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public string Name => "standby-takes-nothing";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEvents)
        {
            switch (e)
            {
                case NodeStarted s:
                    _why.Remove(s.Node);
                    break;
                case AdminObserved { Command: SetStandbyCommand { Standby: true }, Result.Accepted: true } a:
                    _why.TryAdd(a.Node, $"in standby since {Invariants.S(a.At)}");
                    break;
                case AdminObserved { Command: SetStandbyCommand { Standby: false }, Result.Accepted: true } a:
                    if (_why.TryGetValue(a.Node, out var reason) && reason.StartsWith("in standby", StringComparison.Ordinal))
                    {
                        _why.Remove(a.Node);
                    }

                    break;
                case AdminObserved { Command: ShutdownCommand, Result.Accepted: true } a:
                    _why[a.Node] = $"shutting down since {Invariants.S(a.At)}";
                    break;
                case CoreEventObserved { Event: RoleChanged { From: GroupRole.Standby, To: GroupRole.Acquiring } r } c when _why.TryGetValue(c.Node, out var acquiring):
                    return $"node {c.Node} began a takeover of group {r.Group} (epoch {r.Epoch}) while {acquiring}";
                case GroupStartIssued st when _why.TryGetValue(st.Node, out var starting):
                    return $"node {st.Node} started group {st.Group} (epoch {st.Epoch}) while {starting}";
            }
        }

        return null;
    }
}

/// <summary>
/// An operator's switchover completes: after a <see cref="SwitchoverCommand"/> is accepted, the target (the named one, or the
/// node the source announces as its handoff target) is Active within <see cref="SimulationBounds.Handoff"/> — provided the target
/// was healthy (up, eligible for the group: not in standby, maintenance, shutdown or banned) and nothing disturbed the pair
/// meanwhile: both processes ran throughout (no crash, restart, stall or shutdown), no link between them was cut in either
/// direction, the target's reachability targets stayed up, neither had another operator command, and no resource action of the
/// group failed on either. (A switchover never overlaps the two copies: <see cref="TwoNodeDualActiveInvariant"/>.)
/// </summary>
public sealed class SwitchoverCompletesInvariant : IInvariant
{
    private readonly List<Pending> _pending = [];

    /// <inheritdoc />
    public string Name => "switchover-completes";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEvents)
        {
            switch (e)
            {
                case AdminObserved { Command: SwitchoverCommand sw, Result.Accepted: true } a:
                    _pending.RemoveAll(p => p.Group == sw.Group);
                    _pending.Add(new Pending(a.Node, sw.Group, sw.Target, a.At, a.At + simulation.Bounds.Handoff, simulation[a.Node].Incarnation));
                    continue;
                case AdminObserved a:
                    _pending.RemoveAll(p => p.Involves(a.Node));
                    break;
                case NodeCrashed or NodeStarted:
                    _pending.RemoveAll(p => p.Involves(e.Node));
                    break;
                case ResourceActionObserved { Record.FailureKind: not ResourceFailureKind.None } r:
                    _pending.RemoveAll(p => p.Group == r.Record.Group && p.Involves(r.Node));
                    break;
                case CoreEventObserved { Event: RoleChanged { To: GroupRole.Blocked } r }:
                    _pending.RemoveAll(p => p.Group == r.Group && p.Involves(e.Node));
                    break;
                case HeartbeatDelivered h:
                    foreach (var p in _pending)
                    {
                        if (p.Target is null && h.From == p.Source && h.Message.Groups.FirstOrDefault(x => x.Group == p.Group)?.HandoffTo is { } to)
                        {
                            p.Target = to;
                        }
                    }

                    break;
                case CoreEventObserved { Event: RoleChanged { To: GroupRole.Active } r }:
                    _pending.RemoveAll(p => p.Group == r.Group && p.Target == e.Node);
                    break;
            }
        }

        for (var i = _pending.Count - 1; i >= 0; i--)
        {
            var p = _pending[i];
            if (Disturbed(simulation, p))
            {
                _pending.RemoveAt(i);
                continue;
            }

            if (simulation.Now > p.Deadline)
            {
                _pending.RemoveAt(i);
                var roles = string.Join(", ", simulation.Nodes.Select(n => n.IsUp ? $"{n.Name}={n.Role(p.Group)} e{n.Epoch(p.Group)}" : $"{n.Name}=down"));
                return $"switchover of group {p.Group} from {p.Source} to {p.Target ?? "(no handoff target announced)"} at {Invariants.S(p.At)} did not make the target Active within {Invariants.S(simulation.Bounds.Handoff)} although nothing disturbed them: {roles}";
            }
        }

        return null;
    }

    private static bool Disturbed(Simulation sim, Pending p)
    {
        var source = sim[p.Source];
        if (!source.IsUp || source.Incarnation != p.Incarnation || source.IsShuttingDown || source.StalledUntil > sim.Now)
        {
            return true;
        }

        // Lease modes: the release and the target's claim go through the store; a store that is down or cut from either side
        // leaves the old key to expire on its own.
        if (sim.LeaseStore is { } store && (!store.Available || sim.Nodes.Any(n => n.StoreCutUntil > sim.Now)))
        {
            return true;
        }

        // Witness mode: the pair alone is a majority, unless a node started less than a lease time ago: its own vote is quiet, so
        // the target then needs the witness's answer as well as the source's, and a witness that is down or cut off disturbs it.
        if (sim.Witness is not null
            && sim.WitnessDisturbed
            && sim.Nodes.Any(n => n.IsUp && n.Clock.LocalNow < sim.Options.Cluster.Arbiter.LeaseTtl + sim.Options.Cluster.Arbiter.RetryInterval))
        {
            return true;
        }

        foreach (var other in sim.Nodes)
        {
            if (other == source || (p.Target is not null && other.Name != p.Target))
            {
                continue;
            }

            if (!other.IsUp || other.IsShuttingDown || other.StalledUntil > sim.Now || other.PingOutageUntil > sim.Now
                || other.InStandby || other.InMaintenance(p.Group))
            {
                return true;
            }

            if (p.Target is not null && !p.TargetChecked)
            {
                // A healthy target: eligible for the group when the switchover began (or when the source named it). The source may
                // have accepted an ineligible one on a reordered heartbeat that still said eligible; it then keeps or retakes the group.
                p.TargetChecked = true;
                if (!other.Core.GetStatus().Groups.Any(x => x.Group == p.Group && x.Eligible))
                {
                    return true;
                }
            }

            foreach (var link in sim.Links)
            {
                if (sim.IsCut(source.Name, other.Name, link) || sim.IsCut(other.Name, source.Name, link))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private sealed class Pending(string source, string group, string? target, TimeSpan at, TimeSpan deadline, ulong incarnation)
    {
        public string Source { get; } = source;

        public string Group { get; } = group;

        public string? Target { get; set; } = target;

        public TimeSpan At { get; } = at;

        public TimeSpan Deadline { get; } = deadline;

        public ulong Incarnation { get; } = incarnation;

        public bool TargetChecked { get; set; }

        public bool Involves(string node) => node == Source || Target is null || node == Target;
    }
}

/// <summary>
/// A graceful shutdown completes on its own: the core reports <see cref="ShutdownReady"/> (every group released, each handoff
/// confirmed or timed out) before the host's shutdown time-out (<see cref="SimulationOptions.ShutdownTimeout"/>, by default what
/// the hosting layer requires) makes the process exit anyway.
/// </summary>
public sealed class GracefulShutdownCompletesInvariant : IInvariant
{
    /// <inheritdoc />
    public string Name => "graceful-shutdown-completes";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEvents)
        {
            if (e is ShutdownTimedOut t)
            {
                var n = simulation[t.Node];
                var groups = string.Join(", ", simulation.GroupNames.Select(g => $"{g} {n.Core.GetRole(g)}{(n.InMaintenance(g) ? " (maintenance)" : "")}"));
                return $"node {t.Node}: the graceful shutdown did not complete within the host's time-out {Invariants.S(t.Timeout)}: {groups}";
            }
        }

        return null;
    }
}
