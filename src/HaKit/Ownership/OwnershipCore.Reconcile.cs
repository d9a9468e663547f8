namespace HaKit.Ownership;

/// <summary>Reconciliation: after every input, what each group's role calls for, and when a shutting-down node is done.</summary>
internal sealed partial class OwnershipCore
{
    private void ReconcileAll()
    {
        foreach (var g in _groups)
        {
            Reconcile(g);
        }

        // A group in maintenance is hands-off: shutting down leaves it as it is (Pacemaker's maintenance mode does the same).
        if (_shuttingDown && !_shutdownReadyRaised
            && _groups.All(g => g.Role is GroupRole.Standby or GroupRole.Blocked || (g.Maintenance && g.Role == GroupRole.Active))
            && _groups.All(HandoffSettled))
        {
            _shutdownReadyRaised = true;
            _announce = true;
            Emit(new ShutdownReady(_now));
        }
    }

    private void Reconcile(GroupState g)
    {
        if (g.PersistRetryAt is { } persistAt && _now >= persistAt)
        {
            g.PersistRetryAt = null;
            if (g.Highest > g.Persisted)
            {
                _ready.Add(new PersistEpoch(g.Name, g.Highest));
            }
        }

        if (g.Maintenance)
        {
            if (g.Role == GroupRole.Acquiring)
            {
                // A takeover in progress would end in a start: maintenance means hands off, so give it up (no resource was touched yet).
                AbortAcquire(g, "the group went into maintenance here", TimeSpan.Zero);
            }
            else if (g.Role is GroupRole.Active or GroupRole.Starting)
            {
                // Hands-off for resources, not for ownership: keep holding the lease so that nobody else starts the group.
                // (If the lease is lost anyway, maintenance still leaves the resources alone.)
                RenewLeaseIfDue(g);
            }

            return;
        }

        switch (g.Role)
        {
            case GroupRole.Standby:
                ConsiderAcquire(g);
                break;
            case GroupRole.Acquiring:
                CheckAcquireStillValid(g);
                break;
            case GroupRole.Starting:
                if (g.Fatal.IsFatal)
                {
                    BeginStop(g, StopReason.FatalFailure, null, "a fatal failure stopped the group everywhere");
                }
                else if (g.Lease.Expired(_now))
                {
                    BeginStop(g, StopReason.LeaseLost, null, "the arbiter lease expired before it was renewed");
                }
                else if (!CheckSplitBrain(g))
                {
                    RenewLeaseIfDue(g); // a start longer than a third of the lease must not lose it
                }

                break;
            case GroupRole.Active:
                ReconcileActive(g);
                break;
        }
    }

    private void ReconcileActive(GroupState g)
    {
        if (g.Fatal.IsFatal)
        {
            BeginStop(g, StopReason.FatalFailure, null, "a fatal failure stopped the group everywhere");
            return;
        }

        if (g.Lease.Expired(_now))
        {
            BeginStop(g, StopReason.LeaseLost, null, "the arbiter lease expired before it was renewed (self-fencing)");
            return;
        }

        if (CheckSplitBrain(g))
        {
            return;
        }

        if (!IsLocallyEligible(g))
        {
            var reason = _shuttingDown ? StopReason.Shutdown : _standby ? StopReason.NodeStandby : StopReason.ResourceFailure;
            var target = BestOtherCandidate(g);
            BeginStop(g, reason, target, $"{(_shuttingDown ? "node shutting down" : _standby ? "node in standby" : "node no longer eligible")}{(target is null ? "" : $", handing over to {target}")}");
            return;
        }

        if (IpfailMoveStarted(g) || FailbackStarted(g))
        {
            return;
        }

        RenewLeaseIfDue(g);

        if (!g.Monitor.InFlight && _now >= g.Monitor.NextAt)
        {
            g.Monitor.InFlight = true;
            _ready.Add(new MonitorGroup(g.Name, g.Epoch));
        }
    }
}
