namespace HaKit.Ownership;

/// <summary>
/// The next deadline: when the core needs its next <see cref="Tick"/> if no other input comes first, so that the node's loop can
/// sleep until then instead of ticking at a fixed rate (an idle node then wakes for its heartbeats, its peers' and its monitors only).
/// </summary>
/// <remarks>
/// <para>Sound, not exact: the deadline is never later than the first time a tick would do something (change a link's health, send
/// a heartbeat, renew a lease, run a monitor, end a ban, ...); it may be earlier (the loop then looks again). Only the quiet states
/// are worked out exactly: peers judged by their detectors, groups in Standby behind a live owner, Active, Blocked, or in
/// maintenance outside a takeover. Anything in motion (a takeover, a start or stop, a handoff, a crash hint, a failback countdown,
/// shutting down) is looked at again within one <see cref="CoreConfig.TickInterval"/>, which is what a fixed-rate loop did.</para>
/// <para>A tick that comes later than the planned deadline (<see cref="NextDeadline"/>) by more than the local pause threshold is a
/// stall of this node; a long sleep by choice is not.</para>
/// </remarks>
internal sealed partial class OwnershipCore
{
    /// <summary>The deadline the loop last planned to tick at (<see cref="NextDeadline"/>); null: fixed-rate ticks.</summary>
    private TimeSpan? _plannedTick;

    /// <summary>
    /// The next deadline (see the class remarks), and the loop's promise to tick then: a later tick counts as a stall from this time
    /// on, not from the last tick plus one tick interval. A caller that ticks at a fixed rate never calls it.
    /// </summary>
    public TimeSpan NextDeadline()
    {
        var deadline = PeekNextDeadline();
        _plannedTick = deadline;
        return deadline;
    }

    /// <summary>The next deadline (see the class remarks) without planning a tick (pure: for checks and tests).</summary>
    public TimeSpan PeekNextDeadline()
    {
        var deadline = _nextHeartbeatAt;
        var inMotion = _announce || _probe || _shuttingDown || _ready.Count > 0;
        if (_arbiterUnreachableUntil > _now)
        {
            deadline = Min(deadline, _arbiterUnreachableUntil); // the eligibility announced changes then
        }

        foreach (var p in _peers)
        {
            inMotion |= p.Hint is not null;
            HintDeadline(p, ref deadline);
            foreach (var l in p.Links)
            {
                if (l.Detector.NextChangeAt(_now) is { } change)
                {
                    deadline = Min(deadline, change);
                }
            }
        }

        foreach (var g in _groups)
        {
            inMotion |= !GroupDeadline(g, ref deadline);
        }

        if (inMotion)
        {
            deadline = Min(deadline, _now + _config.TickInterval);
        }

        return deadline > _now ? deadline : _now;
    }

    /// <summary>Lowers <paramref name="deadline"/> to the group's timers; false when the group is in motion (tick at the fixed rate).</summary>
    private bool GroupDeadline(GroupState g, ref TimeSpan deadline)
    {
        if (g.PersistRetryAt is { } persistAt)
        {
            deadline = Min(deadline, persistAt);
        }

        if (g.Ban.Until is { } until && until > _now)
        {
            deadline = Min(deadline, until);
        }

        if (g.Acquire.NextAttemptAt > _now)
        {
            deadline = Min(deadline, g.Acquire.NextAttemptAt);
        }

        if (g.Role is GroupRole.Active or GroupRole.Starting)
        {
            LeaseDeadline(g, ref deadline);
        }

        if (g.Role == GroupRole.Active && !g.Maintenance && !g.Monitor.InFlight)
        {
            deadline = Min(deadline, g.Monitor.NextAt);
        }

        if (g.Handoff.Target is not null || g.Handoff.PendingTarget is not null || g.Handoff.FailbackReadySince is not null)
        {
            return false;
        }

        switch (g.Role)
        {
            case GroupRole.Active:
            case GroupRole.Starting when g.Maintenance:
            case GroupRole.Blocked:
                return true;
            case GroupRole.Standby:
                // Quiet only behind a live node that handles the group (ConsiderAcquire returns before any timer matters); that node
                // falling silent is a detector deadline above, its role changing is an input.
                return g.Maintenance || _peers.Any(p => IsUp(p, g) && p.TryGetAnnouncement(g, out var ann)
                    && ann.Role is GroupRole.Acquiring or GroupRole.Starting or GroupRole.Active or GroupRole.Stopping);
            default:
                return false;
        }
    }

    private static void LeaseDeadline(GroupState g, ref TimeSpan deadline)
    {
        if (g.Lease.RenewAt is { } renewAt && g.Lease.RenewRequest == 0)
        {
            deadline = Min(deadline, renewAt);
        }

        if (g.Lease.ExpiresAt is { } expires)
        {
            deadline = Min(deadline, expires);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
