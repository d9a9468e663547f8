using HaKit.Ownership;
using HaKit.Replication;

namespace HaKit.Testing;

/// <summary>
/// Durable mode (DRBD protocol C): every entry acknowledged to its appender is in the log of every node that owns the group
/// (Active) at its position, with its epoch and bytes. An entry acknowledged without the peer (the owner degraded and marked the
/// peer outdated first) is exempt: that is the outdated rule's business (<see cref="OutdatedNeverPromotedInvariant"/>).
/// Incremental: each owner (node, process, epoch) is checked once against the entries acknowledged before it became Active, then
/// against each new one.
/// </summary>
internal sealed class DurableAckedNeverLostInvariant : IInvariant
{
    private readonly (int Generation, long Epoch, int Checked)[] _owners = new (int, long, int)[2];

    public string Name => "durable-acked-never-lost";

    public string? Check(Simulation simulation)
    {
        if (simulation.Replication is not { } world || world.Options.Mode != ReplicationMode.Durable)
        {
            return null;
        }

        var acked = world.AcknowledgedEntries;
        foreach (var n in simulation.NodeList)
        {
            if (!n.IsUp || n.Role(world.Group) != GroupRole.Active || world.ReplicaOf(n) is not { } replica)
            {
                continue;
            }

            var owner = _owners[n.Index];
            var epoch = (long)n.Epoch(world.Group);
            if (owner.Generation != n.Generation || owner.Epoch != epoch)
            {
                owner = (n.Generation, epoch, 0);
            }

            var log = replica.Core.Log;
            for (; owner.Checked < acked.Count; owner.Checked++)
            {
                var e = acked[owner.Checked];
                if (e.Alone || e.Position.Index <= log.Base.Index)
                {
                    continue;
                }

                if (e.Position.Index > log.Last.Index)
                {
                    _owners[n.Index] = owner;
                    return $"node {n.Name} owns the group (Active, epoch {epoch}) but its log ends at {log.Last}: entry {e.Position} acknowledged Durable by {e.Node} at {Invariants.S(e.At)} is missing";
                }

                var held = log.Get(e.Position.Index);
                if (held.Epoch != e.Position.Epoch || !held.Data.Span.SequenceEqual(e.Data))
                {
                    _owners[n.Index] = owner;
                    return $"node {n.Name} owns the group (Active, epoch {epoch}) but holds {held.Position} at position {e.Position.Index}, not entry {e.Position} acknowledged Durable by {e.Node} at {Invariants.S(e.At)}";
                }
            }

            _owners[n.Index] = owner;
        }

        return null;
    }
}
