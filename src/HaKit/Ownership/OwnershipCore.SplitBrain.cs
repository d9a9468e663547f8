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
            if (!IsUp(p, g) || !p.TryGetAnnouncement(g, out var ann))
            {
                continue;
            }

            if (ann.Role == GroupRole.Stopping && ann.Epoch < g.Epoch && g.Role == GroupRole.Active)
            {
                // The peer is stopping a copy from an older epoch while this node owns a newer one: both ran the group, and the
                // peer saw it first and lost. The winner learns it here, so it re-announces (gratuitous ARP) as a winner that saw
                // both copies running does; otherwise clients that followed the loser's copy would wait for their caches to expire.
                if (g.ReportedSplitBrains.Add((p.Name, ann.Epoch, g.Epoch)))
                {
                    Emit(new SplitBrainDetected(_now, g.Name, LocalNode, g.Epoch, p.Name, ann.Epoch, LocalNode));
                }

                continue;
            }

            if (ann.Role is not (GroupRole.Starting or GroupRole.Active))
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
