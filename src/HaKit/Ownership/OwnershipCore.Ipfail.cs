namespace HaKit.Ownership;

/// <summary>
/// ipfail: this node's reachability of its ping targets, announced in heartbeats, moves an Active group to a peer that steadily
/// reaches more targets (Heartbeat's ipfail, Pacemaker's ping + location rule, keepalived's track_script).
/// </summary>
/// <remarks>
/// The move is the graceful release an operator's switchover uses (stop here, then hand over; no overlap, epochs as usual), and
/// it needs a better node: a node that reaches nothing keeps its groups when no live, eligible Standby peer reaches more, and
/// ipfail never fences anyone. No ping-pong: the new owner gives the group back only when the old one reaches strictly more,
/// and auto-failback waits until the preferred node reaches at least as many targets as the owner.
/// </remarks>
internal sealed partial class OwnershipCore
{
    private ReachabilityWindow? _reachWindow;

    private ReachabilityWindow Reach => _reachWindow ??= new ReachabilityWindow(_config.IpfailRounds);

    /// <summary>The score this node announces (null: ipfail off, or fewer rounds than the window so far).</summary>
    internal ReachabilityScore? AnnouncedReachability => Reach.Sustained is { } s ? new ReachabilityScore(s, Reach.Targets) : null;

    /// <summary>One probe round of this node's ping targets ended (ipfail). Ignored when ipfail is off.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="round">Which targets answered.</param>
    public void OnReachability(TimeSpan now, ReachabilityRound round)
    {
        ArgumentNullException.ThrowIfNull(round);
        Step(now, () =>
        {
            if (Reach.Add(round))
            {
                _announce = true; // the peers' view of this node's score changes with its announced (sustained) score
            }
        });
    }

    /// <summary>
    /// An Active group moves when the owner's best round of the window is below a live, eligible Standby peer's announced
    /// (worst-round) score. Returns true when the release began.
    /// </summary>
    private bool IpfailMoveStarted(GroupState g)
    {
        if (Reach.Best is not { } local)
        {
            return false;
        }

        PeerState? best = null;
        var bestScore = local;
        foreach (var p in _peers)
        {
            if (IsUp(p, g) && p.Health == PeerHealth.Alive && !p.Leaving && p.Reachability is { } r && r.Score > local
                && p.TryGetAnnouncement(g, out var ann) && ann.Role == GroupRole.Standby && ann.Eligible
                && (r.Score > bestScore || (r.Score == bestScore && best is not null && Outranks(p.Priority, p.Name, best.Priority, best.Name))))
            {
                best = p;
                bestScore = r.Score;
            }
        }

        if (best is null)
        {
            return false;
        }

        var lost = Reach.LostThroughout();
        var lostText = lost.Count == 0 ? "none lost throughout" : string.Join(", ", lost);
        var why = $"ipfail: this node reaches {local} of {Reach.Targets} ping targets over its last {Reach.Size} rounds (lost: {lostText}); node {best.Name} reaches {bestScore}: moving the group there";
        Emit(new ReachabilityMove(_now, g.Name, LocalNode, best.Name, local, bestScore, Reach.Targets, lost));
        BeginStop(g, StopReason.ReachabilityLost, best.Name, why);
        return true;
    }

    /// <summary>Auto-failback waits while ipfail is on and the preferred node reaches fewer targets than this node (no ping-pong).</summary>
    private bool IpfailHoldsFailback(PeerState preferred) =>
        Reach.Size > 0 && Reach.Best is { } local && (preferred.Reachability is not { } r || r.Score < local);
}
