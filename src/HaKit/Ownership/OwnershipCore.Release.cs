namespace HaKit.Ownership;

/// <summary>
/// Graceful release: stopping a group (switchover, failback, standby, shutdown, failures, lost lease or split brain), handing
/// it to the chosen node once stopped, and confirming that node took it.
/// </summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Stops the group here; once stopped it is announced Standby with <paramref name="handoffTo"/> as the next owner.</summary>
    private void BeginStop(GroupState g, StopReason reason, string? handoffTo, string why)
    {
        g.Handoff.StopReason = reason;
        g.Handoff.PendingTarget = handoffTo;
        g.Monitor.InFlight = false;
        g.Handoff.FailbackReadySince = null;
        ClearLease(g);
        SetRole(g, GroupRole.Stopping, Why(g, why));
        _ready.Add(new StopGroup(g.Name, g.Epoch, reason));
    }

    /// <summary>The stop succeeded: announce Standby, hand the group to the pending target, and give the arbiter grant back.</summary>
    private void FinishRelease(GroupState g)
    {
        var h = g.Handoff;
        h.Target = h.PendingTarget;
        h.PendingTarget = null;
        h.ReleasedAt = _now;
        h.ReleasedEpoch = Math.Max(g.Epoch, g.Highest);
        SetRole(g, GroupRole.Standby, Why(g, h.Target is null ? $"stopped ({h.StopReason})" : $"stopped ({h.StopReason}), handing over to {h.Target}"));
        _ready.Add(new ReleaseArbiter(g.Name));
    }

    /// <summary>
    /// A released group is settled once its handoff target announced it Starting/Active (which clears the target),
    /// the target is down, or <see cref="CoreConfig.HandoffConfirmTimeout"/> passed. Until then a leaving node keeps
    /// heartbeating, so the release is repeated rather than sent once.
    /// </summary>
    private bool HandoffSettled(GroupState g) =>
        g.Handoff.Target is not { } target
        || !_peerByName.TryGetValue(target, out var p) || !IsUp(p)
        || _now - g.Handoff.ReleasedAt >= _config.HandoffConfirmTimeout;

    /// <summary>The handoff target announced the group: clear the handoff once it took it (or it is moot).</summary>
    private void NoteHandoffTarget(GroupState g, PeerState target, GroupAnnouncement ann)
    {
        if (ann.Role is GroupRole.Starting or GroupRole.Active)
        {
            g.Handoff.Target = null;
            Emit(new GroupHandedOver(_now, g.Name, target.Name));
        }
        else if (Math.Max(ann.Epoch, ann.HighestEpoch) > g.Handoff.ReleasedEpoch || ann.HandoffTo == LocalNode)
        {
            // The group was taken with a newer epoch since the release (the target's Starting/Active heartbeats were
            // missed), or the target has released it back to us: honouring our old handoff now would make both nodes
            // point at each other and neither take the group.
            g.Handoff.Target = null;
            if (ann.Epoch > g.Handoff.ReleasedEpoch || ann.HandoffTo == LocalNode)
            {
                Emit(new GroupHandedOver(_now, g.Name, target.Name));
            }
        }
    }

    /// <summary>
    /// Auto-failback: once the preferred node has been up, Standby and eligible for <see cref="GroupConfig.FailbackDelay"/>,
    /// release the group to it. Returns true when the release began.
    /// </summary>
    private bool FailbackStarted(GroupState g)
    {
        if (g.Config.AutoFailback && g.Config.PreferredNode is { } preferred && preferred != LocalNode
            && _peerByName.TryGetValue(preferred, out var pp) && IsUp(pp) && pp.Health == PeerHealth.Alive && !pp.Leaving
            && pp.TryGetAnnouncement(g, out var pann) && pann.Role == GroupRole.Standby && pann.Eligible
            && !IpfailHoldsFailback(pp))
        {
            g.Handoff.FailbackReadySince ??= _now;
            if (_now - g.Handoff.FailbackReadySince.Value >= g.Config.FailbackDelay)
            {
                BeginStop(g, StopReason.Failback, preferred, $"preferred node {preferred} is healthy and auto-failback is on");
                return true;
            }
        }
        else
        {
            g.Handoff.FailbackReadySince = null;
        }

        return false;
    }
}
