namespace HaKit.Ownership;

/// <summary>Takeover rules: when this node starts an unowned group, and when a takeover in progress must yield.</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>
    /// A Standby group: take it when start-up has settled, no live peer handles it, this node is the chosen candidate, and no
    /// handoff of ours is still waiting for its target. Dead peers that may hold it are fenced first (with fence agents).
    /// </summary>
    private void ConsiderAcquire(GroupState g)
    {
        if (!IsLocallyEligible(g) || !StartupSettled() || _now < g.Acquire.NextAttemptAt)
        {
            return;
        }

        // Created on first use: a standby behind a live owner considers every tick and returns in the loop.
        List<string>? deadPeers = null;
        List<string>? fenceTargets = null;
        string? handoff = g.Handoff.Target; // a node that just released the group honours its own handoff
        foreach (var p in _peers)
        {
            p.TryGetAnnouncement(g, out var ann);
            if (IsUp(p, g))
            {
                if (ann is null)
                {
                    continue; // heard, but it does not run this group (configuration differs): ineligible
                }

                switch (ann.Role)
                {
                    case GroupRole.Acquiring or GroupRole.Starting or GroupRole.Active or GroupRole.Stopping:
                        return; // a live node handles the group
                    case GroupRole.Blocked when _config.FencingConfigured:
                        (fenceTargets ??= []).Add(p.Name);
                        break;
                    case GroupRole.Blocked:
                        DelayTakeover(g, $"group {g.Name} is blocked on node {p.Name} (a stop failed); waiting for an operator to clean it up there, or to confirm the node down");
                        return;
                }

                handoff ??= ann.HandoffTo;
            }
            else if (!p.Fenced)
            {
                (deadPeers ??= []).Add(p.Name);
                var mayHold = ann is null || ann.Role != GroupRole.Standby;
                if (ann?.Role == GroupRole.Blocked && !_config.FencingConfigured)
                {
                    DelayTakeover(g, $"group {g.Name} was blocked on node {p.Name} (a stop failed) when it died: fencing is required but no fence agent is configured; confirm the node down to proceed");
                    return;
                }

                if (mayHold && _config.FencingConfigured)
                {
                    (fenceTargets ??= []).Add(p.Name);
                }
            }
        }

        if (ChooseCandidate(g, handoff) != LocalNode)
        {
            return;
        }

        if (g.Handoff.Target is { } target && target != LocalNode && !HandoffSettled(g))
        {
            // This node just released the group to a live peer that has not taken it yet: a heartbeat from before the release
            // (reordered) may show the target ineligible for a moment. Taking the group back would silently undo the operator's
            // move; wait for the target, or until it is dead or the handoff times out (then the target really cannot take it).
            return;
        }

        var reason = deadPeers is { Count: > 0 } || fenceTargets is { Count: > 0 } ? TakeoverReason.Failover : handoff == LocalNode ? TakeoverReason.Handoff : TakeoverReason.Initial;
        BeginAcquire(g, reason, deadPeers ?? [], fenceTargets ?? []);
    }

    /// <summary>
    /// An Acquiring group gives up when this node became ineligible, a peer announced an epoch at least as high as the
    /// proposal, a live peer handles the group (or outranks us while Acquiring too), or a live peer is blocked without fencing.
    /// </summary>
    private void CheckAcquireStillValid(GroupState g)
    {
        if (!IsLocallyEligible(g))
        {
            AbortAcquire(g, "this node is no longer eligible", TimeSpan.Zero);
            return;
        }

        if (g.Acquire.Stage is AcquireStage.Arbiter or AcquireStage.Persisting && g.Highest >= g.Acquire.Proposed)
        {
            // A peer announced an epoch at least as high as ours while we acquired (for example a restarted former owner):
            // starting with the proposed epoch would reuse a fencing token. Start over with a fresh proposal.
            AbortAcquire(g, $"epoch {g.Acquire.Proposed} is no longer above the highest epoch seen ({g.Highest}); retrying with a new epoch", TimeSpan.Zero);
            return;
        }

        foreach (var p in _peers)
        {
            if (!IsUp(p, g) || !p.TryGetAnnouncement(g, out var ann))
            {
                continue;
            }

            if (ann.Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping
                || (ann.Role == GroupRole.Acquiring && Outranks(p.Priority, p.Name, _config.LocalPriority, LocalNode)))
            {
                AbortAcquire(g, $"node {p.Name} is {ann.Role} for the group; yielding", TimeSpan.Zero);
                return;
            }

            if (ann.Role == GroupRole.Blocked && !_config.FencingConfigured)
            {
                AbortAcquire(g, $"node {p.Name} is blocked for the group", TimeSpan.Zero);
                return;
            }
        }
    }

    /// <summary>Raises <see cref="TakeoverDelayed"/> once per distinct reason.</summary>
    private void DelayTakeover(GroupState g, string reason)
    {
        if (g.Acquire.LastDelayReason == reason)
        {
            return;
        }

        g.Acquire.LastDelayReason = reason;
        Emit(new TakeoverDelayed(_now, g.Name, reason));
    }
}
