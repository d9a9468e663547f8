using HaKit.Ownership;

namespace HaKit.Testing;

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
        foreach (var e in simulation.StepEventList)
        {
            if (e is not GroupStopIssued { Reason: StopReason.SplitBrainLost } stop)
            {
                continue;
            }

            if (Judge(simulation, stop) is { } message)
            {
                return message;
            }
        }

        return null;
    }

    // Out of Check: lambdas capturing the stop there made every Check allocate their closure.
    private static string? Judge(Simulation simulation, GroupStopIssued stop)
    {
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

        return null;
    }
}
