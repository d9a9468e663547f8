using HaKit.Resources;

namespace HaKit.Ownership;

/// <summary>Resource feedback: what the resource group runner reported for a start, stop or monitor, and the failure policy.</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Feedback for <see cref="StartGroup"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="group">The group.</param>
    /// <param name="epoch">The epoch of the start command.</param>
    /// <param name="outcome">What the resource group runner reported.</param>
    public void OnGroupStarted(TimeSpan now, string group, ulong epoch, GroupActionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        Step(now, () =>
        {
            var g = GetGroup(group);
            if (g.Role == GroupRole.Starting && g.Epoch == epoch)
            {
                switch (outcome.Outcome)
                {
                    case GroupOutcome.Succeeded or GroupOutcome.Degraded or GroupOutcome.Recovered:
                        g.Monitor.NextAt = _now + g.Config.MonitorInterval;
                        g.Acquire.LastDelayReason = null;
                        SetRole(g, GroupRole.Active, Why(g, $"{ReasonText(g.Acquire.Reason)}; all resources started"), _now - g.Acquire.StartedAt);
                        break;
                    case GroupOutcome.Blocked:
                        SetRole(g, GroupRole.Blocked, Why(g, $"start failed and stopping {outcome.Resource} failed: {outcome.Message}"));
                        break;
                    default:
                        ApplyFailure(g, outcome);
                        SetRole(g, GroupRole.Standby, Why(g, $"start failed ({outcome.FailureKind}) at {outcome.Resource}: {outcome.Message}"));
                        _ready.Add(new ReleaseArbiter(g.Name));
                        break;
                }
            }
        });
    }

    /// <summary>Feedback for <see cref="StopGroup"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="group">The group.</param>
    /// <param name="epoch">The epoch of the stop command.</param>
    /// <param name="outcome">What the resource group runner reported.</param>
    public void OnGroupStopped(TimeSpan now, string group, ulong epoch, GroupActionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        Step(now, () =>
        {
            var g = GetGroup(group);
            if (g.Role == GroupRole.Stopping && g.Epoch == epoch)
            {
                if (outcome.Outcome == GroupOutcome.Blocked)
                {
                    SetRole(g, GroupRole.Blocked, Why(g, $"stop of {outcome.Resource} failed: {outcome.Message}; the group is blocked here and will not start elsewhere unless this node is fenced or cleaned up"));
                }
                else
                {
                    FinishRelease(g);
                }
            }
        });
    }

    /// <summary>Feedback for <see cref="MonitorGroup"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="group">The group.</param>
    /// <param name="epoch">The epoch of the monitor command.</param>
    /// <param name="outcome">What the resource group runner reported.</param>
    public void OnGroupMonitored(TimeSpan now, string group, ulong epoch, GroupActionOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        Step(now, () =>
        {
            var g = GetGroup(group);
            if (g.Role == GroupRole.Active && g.Epoch == epoch && g.Monitor.InFlight)
            {
                g.Monitor.InFlight = false;
                g.Monitor.NextAt = _now + g.Config.MonitorInterval;
                switch (outcome.Outcome)
                {
                    case GroupOutcome.Degraded or GroupOutcome.Recovered:
                        Emit(new GroupHealthReported(_now, g.Name, outcome.Outcome, outcome.Resource, outcome.Message, outcome.Restarts));
                        break;
                    case GroupOutcome.Failed:
                        ApplyFailure(g, outcome);
                        BeginStop(g, outcome.FailureKind == ResourceFailureKind.Fatal ? StopReason.FatalFailure : StopReason.ResourceFailure, BestOtherCandidate(g), $"monitor: {outcome.Resource} failed ({outcome.FailureKind}): {outcome.Message}");
                        break;
                    case GroupOutcome.Blocked:
                        SetRole(g, GroupRole.Blocked, Why(g, $"restart of {outcome.Resource} failed to stop it: {outcome.Message}"));
                        break;
                }
            }
            else if (g.Epoch == epoch)
            {
                g.Monitor.InFlight = false;
            }
        });
    }

    /// <summary>
    /// The failure policy once the runner gave up: fatal ⇒ a cluster-wide fatal mark; permanent on this node ⇒ banned until an
    /// operator clears it; otherwise (transient) ⇒ banned for the group's failure window.
    /// </summary>
    private void ApplyFailure(GroupState g, GroupActionOutcome outcome)
    {
        switch (outcome.FailureKind)
        {
            case ResourceFailureKind.Fatal:
                g.Fatal.Raise(g.Epoch);
                break;
            case ResourceFailureKind.PermanentOnNode:
                g.Ban.Permanent = true;
                break;
            default:
                g.Ban.Until = _now + g.Config.FailureWindow;
                break;
        }

        Emit(new GroupFailed(_now, g.Name, outcome.FailureKind == ResourceFailureKind.None ? ResourceFailureKind.Transient : outcome.FailureKind, outcome.Resource, outcome.Message));
    }
}
