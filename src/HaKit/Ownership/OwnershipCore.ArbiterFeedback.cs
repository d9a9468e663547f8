using HaKit.Arbitration;

namespace HaKit.Ownership;

/// <summary>Arbiter feedback: answers to acquisitions and renewals, freed groups, and whether the arbiter can be reached.</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Whether the arbiter answered <c>Unavailable</c> lately: this node then offers itself for no group it does not own.</summary>
    private bool ArbiterUnreachable => _now < _arbiterUnreachableUntil;

    /// <summary>Feedback for <see cref="AskArbiter"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="requestId">The request id of the command.</param>
    /// <param name="decision">The arbiter's answer.</param>
    public void OnArbiterAnswer(TimeSpan now, long requestId, ArbiterDecision decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        Step(now, () =>
        {
            // A node that cannot reach its arbiter (etcd cut off) stops offering itself for groups it does not own, so that a peer
            // that can reach it takes them; it offers itself again after a few retry intervals, or at once on an answer.
            _arbiterUnreachableUntil = decision.Unavailable ? _now + (_config.ArbiterRetryInterval * 4) : TimeSpan.MinValue;
            _arbiterUnreachableWhy = decision.Unavailable ? decision.Explanation : null;
            if (!_requests.TryFind(requestId, out var g))
            {
                return;
            }

            if (g.Role == GroupRole.Acquiring && g.Acquire.Stage == AcquireStage.Arbiter && g.Acquire.PendingRequest == requestId)
            {
                OnAcquireAnswer(g, decision);
            }
            else if (g.Lease.RenewRequest == requestId)
            {
                OnRenewAnswer(g, decision);
            }
        });
    }

    /// <summary>
    /// The arbiter reports that a group became free (etcd: its key was deleted, because its owner released it or its lease
    /// expired, or an operator deleted the key or revoked the lease): a takeover waiting out <c>Arbiter:RetryInterval</c> after a
    /// refusal asks again now instead, and an owner holding a lease renews it now instead of at its next renewal time, so that a
    /// lease taken away from outside stops it within one answer of the arbiter rather than up to a third of the lease later. Only a
    /// hint (a watch may replay an old deletion): the arbiter still decides.
    /// </summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="group">The group (unknown groups are ignored).</param>
    public void OnArbiterFreed(TimeSpan now, string group)
    {
        ArgumentNullException.ThrowIfNull(group);
        Step(now, () =>
        {
            if (!_groupByName.TryGetValue(group, out var g))
            {
                return;
            }

            if (g.Role == GroupRole.Standby && g.Acquire.NextAttemptAt > _now)
            {
                g.Acquire.NextAttemptAt = _now;
            }
            else if (g.Role is GroupRole.Active or GroupRole.Starting && g.Lease.RenewAt is { } renewAt && renewAt > _now && g.Lease.RenewRequest == 0)
            {
                g.Lease.RenewAt = _now; // the key this node's lease holds may be gone: ask the arbiter at once
            }
        });
    }
}
