using HaKit.Ownership;

namespace HaKit.Testing;

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
        foreach (var e in simulation.StepEventList)
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
