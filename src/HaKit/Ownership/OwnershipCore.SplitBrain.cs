namespace HaKit.Ownership;

/// <summary>
/// The split-brain rule: when a live peer announces Starting/Active for a group this node also runs, the higher epoch wins,
/// then the higher priority, then the ordinally smaller name (a total order, so both sides agree). The loser stops.
/// </summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Applies the split-brain rule. Returns true when this node lost and began stopping.</summary>
    private bool CheckSplitBrain(GroupState g)
    {
        foreach (var p in _peers)
        {
            if (!IsUp(p, g) || !p.Groups.TryGetValue(g.Name, out var ann) || ann.Role is not (GroupRole.Starting or GroupRole.Active))
            {
                continue;
            }

            var peerWins = ann.Epoch != g.Epoch ? ann.Epoch > g.Epoch : Outranks(p.Priority, p.Name, _config.LocalPriority, LocalNode);
            var winner = peerWins ? p.Name : LocalNode;
            if (g.ReportedSplitBrains.Add((p.Name, ann.Epoch, g.Epoch)))
            {
                Emit(new SplitBrainDetected(_now, g.Name, LocalNode, g.Epoch, p.Name, ann.Epoch, winner));
            }

            if (peerWins)
            {
                BeginStop(g, StopReason.SplitBrainLost, null, $"split brain with {p.Name} (epoch {ann.Epoch} vs ours {g.Epoch}): {p.Name} wins, stopping our copy");
                return true;
            }
        }

        return false;
    }
}
