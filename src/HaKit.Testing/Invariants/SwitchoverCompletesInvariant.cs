using HaKit.Ownership;
using HaKit.Resources;

namespace HaKit.Testing;

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
        foreach (var e in simulation.StepEventList)
        {
            if (_pending.Count > 0 || e is AdminObserved)
            {
                Apply(simulation, e);
            }
        }

        return _pending.Count > 0 ? Overdue(simulation) : null;
    }

    // Apply and Overdue are out of Check: their lambdas capture the event and the switchover, and a closure is allocated where
    // its variables are declared (in Check, at every event of every step).
    private void Apply(Simulation simulation, SimulationEvent e)
    {
        switch (e)
        {
            case AdminObserved { Command: SwitchoverCommand sw, Result.Accepted: true } a:
                _pending.RemoveAll(p => p.Group == sw.Group);
                _pending.Add(new Pending(a.Node, sw.Group, sw.Target, a.At, a.At + simulation.Bounds.Handoff, simulation[a.Node].Incarnation));
                break;
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

    private string? Overdue(Simulation simulation)
    {
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

        foreach (var other in sim.NodeList)
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
