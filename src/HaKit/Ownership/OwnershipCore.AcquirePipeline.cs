using HaKit.Arbitration;
using HaKit.Fencing;

namespace HaKit.Ownership;

/// <summary>The takeover pipeline: fence the dead owners → ask the arbiter → persist the epoch → start (or abandon and retry later).</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Feedback for <see cref="FenceNode"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="requestId">The request id of the command.</param>
    /// <param name="result">The fencing result.</param>
    public void OnFenceCompleted(TimeSpan now, long requestId, FenceResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        Step(now, () =>
        {
            if (!_requests.TryFind(requestId, out var g)
                || g.Role != GroupRole.Acquiring || g.Acquire.Stage != AcquireStage.Fencing || g.Acquire.PendingRequest != requestId)
            {
                return;
            }

            var node = g.Acquire.FencingNode!;
            RetirePendingRequest(g);
            g.Acquire.LastFence = result;
            Emit(new FenceCompleted(_now, node, result));
            if (result.Succeeded)
            {
                MarkFenced(node);
                AdvanceAcquire(g);
            }
            else
            {
                AbortAcquire(g, $"fencing node {node} failed: {result.Explanation}; the group stays down, retrying in {_config.FenceRetryInterval.TotalSeconds:0.##} s", _config.FenceRetryInterval);
            }
        });
    }

    /// <summary>Feedback for <see cref="PersistEpoch"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="group">The group.</param>
    /// <param name="epoch">The epoch that was (or failed to be) persisted.</param>
    /// <param name="error"><see langword="null"/> on success, else what went wrong.</param>
    public void OnEpochPersisted(TimeSpan now, string group, ulong epoch, string? error)
    {
        Step(now, () =>
        {
            var g = GetGroup(group);
            var pipeline = g.Role == GroupRole.Acquiring && g.Acquire.Stage == AcquireStage.Persisting && g.Acquire.Proposed == epoch;
            if (error is not null)
            {
                Emit(new PersistFailed(_now, g.Name, epoch, error));
                if (pipeline)
                {
                    AbortAcquire(g, $"cannot persist epoch {epoch}: {error}", _config.ArbiterRetryInterval);
                }

                if (g.Highest > g.Persisted)
                {
                    // A learned epoch is not durable: try again (Reconcile), or a restarted process would not know it and could reuse it.
                    g.PersistRetryAt ??= _now + _config.ArbiterRetryInterval;
                }
            }
            else
            {
                g.Persisted = Math.Max(g.Persisted, epoch);
                if (g.Persisted >= g.Highest)
                {
                    g.PersistRetryAt = null;
                }

                if (pipeline)
                {
                    g.Acquire.Stage = AcquireStage.None;
                    g.Epoch = epoch;
                    g.Highest = Math.Max(g.Highest, epoch);
                    SetRole(g, GroupRole.Starting, Why(g, $"{ReasonText(g.Acquire.Reason)}; epoch {epoch} persisted, starting resources"));
                    _ready.Add(new StartGroup(g.Name, epoch));
                }
            }
        });
    }

    private void BeginAcquire(GroupState g, TakeoverReason reason, List<string> deadPeers, List<string> fenceTargets)
    {
        var a = g.Acquire;
        a.Reason = reason;
        a.DeadPeers = deadPeers;
        a.FenceQueue = new Queue<string>(fenceTargets);
        a.LastFence = null;
        a.LastDecision = null;
        g.Handoff.Target = null;
        a.StartedAt = _now;
        a.Proposed = Math.Max(g.Highest, g.Persisted) + 1;
        SetRole(g, GroupRole.Acquiring, Why(g, AcquireText(g)));
        AdvanceAcquire(g);
    }

    /// <summary>Issues the next request of the pipeline: a fence for the next peer not yet fenced, else the arbiter question.</summary>
    private void AdvanceAcquire(GroupState g)
    {
        var a = g.Acquire;
        while (a.FenceQueue.Count > 0)
        {
            var node = a.FenceQueue.Dequeue();
            if (_peerByName.TryGetValue(node, out var p) && p.Fenced)
            {
                continue;
            }

            a.Stage = AcquireStage.Fencing;
            a.FencingNode = node;
            IssuePendingRequest(g);
            _ready.Add(new FenceNode(a.PendingRequest, node));
            return;
        }

        a.Stage = AcquireStage.Arbiter;
        a.Proposed = Math.Max(g.Highest, g.Persisted) + 1;
        IssuePendingRequest(g);
        a.RequestSentAt = _now;
        var arbiterReason = a.Reason switch
        {
            TakeoverReason.Failover => AcquireReason.PeerDead,
            TakeoverReason.Handoff => AcquireReason.Handoff,
            _ => AcquireReason.Initial,
        };
        _ready.Add(new AskArbiter(a.PendingRequest, new ArbiterRequest(g.Name, LocalNode, a.Proposed, arbiterReason, a.DeadPeers)));
    }

    /// <summary>The arbiter answered the acquisition: persist the epoch if granted, else abandon and retry later.</summary>
    private void OnAcquireAnswer(GroupState g, ArbiterDecision decision)
    {
        RetirePendingRequest(g);
        g.Acquire.LastDecision = decision;
        if (!decision.Granted)
        {
            AbortAcquire(g, $"arbiter refused: {decision.Explanation}", _config.ArbiterRetryInterval);
            return;
        }

        var epoch = Math.Max(g.Acquire.Proposed, decision.Epoch ?? 0);
        SetLease(g, decision);
        g.Acquire.Proposed = epoch;
        g.Acquire.Stage = AcquireStage.Persisting;
        _ready.Add(new PersistEpoch(g.Name, epoch));
    }

    /// <summary>Gives up a takeover (back to Standby, no resource touched), retrying no sooner than <paramref name="retryAfter"/>.</summary>
    private void AbortAcquire(GroupState g, string why, TimeSpan retryAfter)
    {
        g.Acquire.Stage = AcquireStage.None;
        RetirePendingRequest(g);
        g.Acquire.FenceQueue.Clear();
        g.Acquire.NextAttemptAt = _now + retryAfter;
        ClearLease(g);
        SetRole(g, GroupRole.Standby, Why(g, $"takeover abandoned: {why}"));
        if (retryAfter > TimeSpan.Zero)
        {
            DelayTakeover(g, $"group {g.Name}: {why}");
        }
    }

    private void IssuePendingRequest(GroupState g)
    {
        _requests.Retire(g.Acquire.PendingRequest);
        g.Acquire.PendingRequest = _requests.Issue(g);
    }

    private void RetirePendingRequest(GroupState g)
    {
        _requests.Retire(g.Acquire.PendingRequest);
        g.Acquire.PendingRequest = 0;
    }

    private string AcquireText(GroupState g) => g.Acquire.Reason switch
    {
        TakeoverReason.Failover => $"failover: {string.Join(", ", g.Acquire.DeadPeers.Select(DescribeDeath))}",
        TakeoverReason.Handoff => "the owner released the group to this node",
        _ => "no node runs the group and this node is the chosen candidate",
    };

    private static string ReasonText(TakeoverReason reason) => reason switch
    {
        TakeoverReason.Failover => "failover",
        TakeoverReason.Handoff => "handoff",
        _ => "initial start",
    };
}
