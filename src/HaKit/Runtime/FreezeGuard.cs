using HaKit.Ownership;
using HaKit.Resources;

namespace HaKit.Runtime;

/// <summary>
/// Keeps every group's <see cref="OwnershipGuard"/> true to the clock, from the node loop: at the start of each step it notices a
/// stall (the step starts later than the loop's planned wake-up, or than a tick after the last step, by more than the local pause
/// threshold: the loop sleeps until the core's next deadline, and that sleep is not a stall) and asks for a tick before any queued work,
/// so the core cancels ownership whose lease ended before anything else runs; after each step it publishes each group's deadline.
/// </summary>
/// <remarks>
/// <para>Lease modes (Etcd, Witness): the deadline is the lease's safe end (lease end minus the drift margin, as the core counts it).</para>
/// <para>TwoNode: the deadline is the start of the last loop step plus a liveness budget, the dead time minus one interval and one tick
/// (the last heartbeat the peer heard may be that much older than the step; at least two ticks). A loop step that starts later than the
/// budget after the previous one means the peer may have declared this node dead and taken over: the guard is suspended (not owned)
/// until a peer's heartbeat is taken in at least one interval after the wake (heartbeats queued during the stall are older) and the
/// core still owns the group, or until a dead time and an interval passed without hearing any peer (the detector's own rule).</para>
/// <para>Only volatile writes per step, no locks or allocations: it runs at every heartbeat.</para>
/// </remarks>
internal sealed class FreezeGuard
{
    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly OwnershipGuard[] _guards;
    private readonly TimeSpan _deadTime;
    private readonly TimeSpan _interval;
    private readonly long _tickTicks;
    private readonly long _localPauseTicks;
    private readonly long _budgetTicks;
    private readonly bool _hasPeers;
    private long _stepStart;
    private long _lastStepStart;
    private long _plannedWake = long.MinValue;
    private TimeSpan? _suspendedAt;

    /// <summary>Creates the guard.</summary>
    /// <param name="time">The node's clock.</param>
    /// <param name="startTimestamp">The timestamp of core time zero.</param>
    /// <param name="guards">One guard per core group, in the core's group order.</param>
    /// <param name="deadTime">The dead time (the peer's, equal on both nodes).</param>
    /// <param name="interval">The heartbeat interval.</param>
    /// <param name="tick">The tick interval.</param>
    /// <param name="localPause">The local pause threshold.</param>
    /// <param name="hasPeers">Whether there is a peer that could take over.</param>
    public FreezeGuard(TimeProvider time, long startTimestamp, OwnershipGuard[] guards, TimeSpan deadTime, TimeSpan interval, TimeSpan tick, TimeSpan localPause, bool hasPeers)
    {
        _time = time;
        _start = startTimestamp;
        _guards = guards;
        _deadTime = deadTime;
        _interval = interval;
        _tickTicks = ToTimestampTicks(tick);
        _localPauseTicks = ToTimestampTicks(localPause);
        var budget = deadTime - interval - tick;
        Budget = budget > 2 * tick ? budget : 2 * tick;
        _budgetTicks = ToTimestampTicks(Budget);
        _hasPeers = hasPeers;
        _stepStart = _lastStepStart = time.GetTimestamp();
    }

    /// <summary>The TwoNode liveness budget: how long after a loop step ownership still counts without another step.</summary>
    public TimeSpan Budget { get; }

    /// <summary>The watchdog kept armed while a group is owned on a lease (null: off).</summary>
    public WatchdogKeeper? Watchdog { get; set; }

    /// <summary>Whether the TwoNode guard is suspended after a stall.</summary>
    public bool Suspended => _suspendedAt is not null;

    /// <summary>
    /// The loop's planned wake-up (monotonic timestamp): it sleeps by choice until then (the core's next deadline), so a step that
    /// starts before it is not late, and a stall is measured from it (see <see cref="BeginStep"/>).
    /// </summary>
    /// <param name="timestamp">The monotonic timestamp of the planned wake-up.</param>
    public void PlanWake(long timestamp) => _plannedWake = timestamp;

    /// <summary>
    /// Called by the loop before each work item. Returns <see langword="true"/> when the loop was stalled and must tick the core first
    /// (so ownership whose lease ended is given up, and its token cancelled, before any queued work runs).
    /// </summary>
    public bool BeginStep()
    {
        var now = _time.GetTimestamp();
        _stepStart = now;
        var gap = now - _lastStepStart;
        _lastStepStart = now;
        if (_hasPeers && gap > _budgetTicks && _suspendedAt is null)
        {
            _suspendedAt = CoreTime(now);
            for (var i = 0; i < _guards.Length; i++)
            {
                if (_guards[i].CurrentBasis == OwnershipGuard.Basis.Liveness)
                {
                    _guards[i].Revoke(OwnershipGuard.Basis.Suspended);
                }
            }
        }

        // Late against the later of the planned wake-up and the last step plus a tick (a sleep by choice is not a stall).
        var expected = Math.Max(_plannedWake, now - gap + _tickTicks);
        return now - expected > _localPauseTicks;
    }

    /// <summary>Called by the loop after each step: publishes every group's deadline.</summary>
    /// <param name="core">The core.</param>
    public void EndStep(OwnershipCore core)
    {
        var onLease = PublishGuards(core);
        Watchdog?.Update(onLease);
    }

    /// <summary>
    /// Publishes every group's deadline as the core stands now (what <see cref="EndStep"/> does; the loop also calls it in the
    /// middle of a step, right before a group's start runs, so that a start that completes inside the step sees its ownership).
    /// </summary>
    /// <param name="core">The core.</param>
    /// <returns>Whether a group is owned on a lease.</returns>
    public bool PublishGuards(OwnershipCore core)
    {
        var lastHeard = core.LastPeerHeardAt;
        var onLease = false;
        for (var i = 0; i < _guards.Length; i++)
        {
            var owned = core.GetGuardView(i, out var epoch, out var leaseEnd);
            Publish(i, owned, epoch, leaseEnd, lastHeard);
            onLease |= owned && leaseEnd is not null;
        }

        return onLease;
    }

    /// <summary>Publishes one group's deadline (what <see cref="EndStep"/> does per group; tests call it directly).</summary>
    /// <param name="index">The group's index.</param>
    /// <param name="owned">Whether the core owns it (Starting or Active).</param>
    /// <param name="epoch">The epoch owned.</param>
    /// <param name="leaseSafeEnd">The lease's safe end in core time (null: TwoNode).</param>
    /// <param name="lastPeerHeardAt">When a peer was last heard, in core time.</param>
    public void Publish(int index, bool owned, ulong epoch, TimeSpan? leaseSafeEnd, TimeSpan lastPeerHeardAt)
    {
        if (_suspendedAt is { } since && (lastPeerHeardAt >= since + _interval || CoreTime(_stepStart) >= since + _deadTime + _interval))
        {
            _suspendedAt = null;
        }

        var guard = _guards[index];
        if (!owned)
        {
            guard.Revoke();
            return;
        }

        if (leaseSafeEnd is { } end)
        {
            guard.Publish(epoch, _start + ToTimestampTicks(end), OwnershipGuard.Basis.Lease);
            return;
        }

        if (_suspendedAt is not null)
        {
            guard.Publish(epoch, long.MinValue, OwnershipGuard.Basis.Suspended);
            return;
        }

        guard.Publish(epoch, _stepStart + _budgetTicks, OwnershipGuard.Basis.Liveness);
    }

    private TimeSpan CoreTime(long timestamp) => _time.GetElapsedTime(_start, timestamp);

    private long ToTimestampTicks(TimeSpan span) => (long)(span.Ticks * (double)_time.TimestampFrequency / TimeSpan.TicksPerSecond);
}
