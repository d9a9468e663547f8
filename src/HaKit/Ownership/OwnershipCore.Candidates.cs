namespace HaKit.Ownership;

/// <summary>Eligibility and choice: whether this node may run a group, who runs it now, and who should run it next.</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Not in standby, not shutting down, not banned, no fatal mark in force, not in maintenance.</summary>
    private bool IsLocallyEligible(GroupState g) =>
        !_standby && !_shuttingDown && !g.Ban.Active(_now) && !g.Fatal.IsFatal && !g.Maintenance;

    /// <summary>The node holding the group: this node, else the first live peer announcing it held (null: nobody).</summary>
    private string? CurrentOwner(GroupState g)
    {
        if (g.Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping or GroupRole.Blocked)
        {
            return LocalNode;
        }

        foreach (var p in _peers)
        {
            if (IsUp(p, g) && p.TryGetAnnouncement(g, out var ann) && ann.Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping or GroupRole.Blocked)
            {
                return p.Name;
            }
        }

        return null;
    }

    /// <summary>
    /// For the admin API (a takeover asked on a standby is forwarded to the holder): who holds <paramref name="group"/> as far as this
    /// node knows. This node, else a live peer announcing it held, else a peer that fell silent while announcing it held (its last
    /// announcement is kept until it restarts or is fenced). A read-only query: changes nothing.
    /// </summary>
    /// <param name="group">The group.</param>
    /// <param name="known">False when the group is not configured.</param>
    /// <returns>The holder and its health (<see cref="PeerHealth.Alive"/> for this node), or null when nobody holds it.</returns>
    public (string Node, PeerHealth Health)? HolderOf(string group, out bool known)
    {
        known = _groupByName.TryGetValue(group, out var g);
        if (g is null)
        {
            return null;
        }

        if (CurrentOwner(g) is { } owner)
        {
            return (owner, owner == LocalNode ? PeerHealth.Alive : _peerByName[owner].Health);
        }

        foreach (var p in _peers)
        {
            if (!p.Fenced && p.TryGetAnnouncement(g, out var ann) && ann.Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping or GroupRole.Blocked)
            {
                return (p.Name, p.Health);
            }
        }

        return null;
    }

    /// <summary>Whether node (priorityA, nameA) outranks (priorityB, nameB): higher priority, then the ordinally smaller name.</summary>
    private static bool Outranks(int priorityA, string nameA, int priorityB, string nameB) =>
        priorityA != priorityB ? priorityA > priorityB : string.CompareOrdinal(nameA, nameB) < 0;

    /// <summary>The node that should run an unowned group: the announced handoff target, else the preferred node, else the highest-ranked eligible node.</summary>
    private string? ChooseCandidate(GroupState g, string? handoff) => Pick(g, Candidates(g, includeLocal: true), handoff);

    /// <summary>The node a released group should go to: the preferred node if it can take it, else the highest-ranked eligible peer.</summary>
    private string? BestOtherCandidate(GroupState g) => Pick(g, Candidates(g, includeLocal: false), null);

    private List<(string Name, int Priority)> Candidates(GroupState g, bool includeLocal)
    {
        var candidates = new List<(string Name, int Priority)>();
        foreach (var p in _peers)
        {
            if (IsUp(p, g) && !p.Leaving && p.TryGetAnnouncement(g, out var ann) && ann.Eligible && ann.Role != GroupRole.Blocked)
            {
                candidates.Add((p.Name, p.Priority));
            }
        }

        // Cut off from the arbiter, this node is a candidate only when no peer is (it must still ask, to notice the arbiter's return).
        if (includeLocal && IsLocallyEligible(g) && (!ArbiterUnreachable || candidates.Count == 0))
        {
            candidates.Insert(0, (LocalNode, _config.LocalPriority));
        }

        return candidates;
    }

    private static string? Pick(GroupState g, List<(string Name, int Priority)> candidates, string? handoff)
    {
        if (handoff is not null && candidates.Exists(c => c.Name == handoff))
        {
            return handoff;
        }

        if (g.Config.PreferredNode is { } preferred && candidates.Exists(c => c.Name == preferred))
        {
            return preferred;
        }

        string? best = null;
        var bestPriority = 0;
        foreach (var c in candidates)
        {
            if (best is null || Outranks(c.Priority, c.Name, bestPriority, best))
            {
                best = c.Name;
                bestPriority = c.Priority;
            }
        }

        return best;
    }
}
