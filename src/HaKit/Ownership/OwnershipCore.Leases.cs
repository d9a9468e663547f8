using HaKit.Arbitration;

namespace HaKit.Ownership;

/// <summary>Arbiter leases: renewal every third of the lease, expiry (self-fencing), and what a renewal answer means.</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Asks the arbiter to renew the lease when a renewal is due and none is in flight.</summary>
    private void RenewLeaseIfDue(GroupState g)
    {
        var lease = g.Lease;
        if (lease.RenewAt is { } renewAt && _now >= renewAt && lease.RenewRequest == 0)
        {
            lease.RenewRequest = _requests.Issue(g);
            lease.RenewSentAt = _now;
            _ready.Add(new AskArbiter(lease.RenewRequest, new ArbiterRequest(g.Name, LocalNode, g.Epoch, AcquireReason.Renew, [])));
        }
    }

    /// <summary>The arbiter answered a renewal: extend the lease, ask again soon (unavailable), or stop (refused).</summary>
    private void OnRenewAnswer(GroupState g, ArbiterDecision decision)
    {
        _requests.Retire(g.Lease.RenewRequest);
        g.Lease.RenewRequest = 0;
        if (g.Role is not (GroupRole.Active or GroupRole.Starting))
        {
            return;
        }

        if (decision.Granted)
        {
            SetLease(g, decision);
        }
        else if (decision.Unavailable)
        {
            // Unknown, not refused: keep serving on the lease we have (it still bounds us) and ask again soon.
            g.Acquire.LastDecision = decision;
            var left = (g.Lease.ExpiresAt ?? _now) - _now;
            var retry = TimeSpan.FromTicks(Math.Min(_config.ArbiterRetryInterval.Ticks, left.Ticks / 2));
            g.Lease.RenewAt = _now + (retry > _config.TickInterval ? retry : _config.TickInterval);
        }
        else if (g.Maintenance)
        {
            // Hands-off: the operator owns the resources now. No more renewals; the expired lease stops the group
            // as soon as maintenance ends.
            g.Acquire.LastDecision = decision;
            g.Lease.RenewAt = null;
        }
        else
        {
            g.Acquire.LastDecision = decision;
            BeginStop(g, StopReason.LeaseLost, null, $"lease renewal refused: {decision.Explanation}");
        }
    }

    /// <summary>Takes the lease of a grant (counted from when its request was sent), or clears it for a grant without one.</summary>
    private void SetLease(GroupState g, ArbiterDecision decision)
    {
        if (decision.LeaseDuration is { } lease)
        {
            var sentAt = g.Role == GroupRole.Acquiring ? g.Acquire.RequestSentAt : g.Lease.RenewSentAt;
            g.Lease.ExpiresAt = sentAt + lease - _config.LeaseDriftMargin;
            g.Lease.RenewAt = sentAt + (lease / 3);
        }
        else
        {
            ClearLease(g);
        }
    }

    /// <summary>Drops the lease and forgets any renewal in flight (its answer will find nothing).</summary>
    private void ClearLease(GroupState g)
    {
        _requests.Retire(g.Lease.RenewRequest);
        g.Lease.Clear();
    }
}
