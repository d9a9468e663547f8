using HaKit.Arbitration;
using HaKit.Detection;
using HaKit.Fencing;
using HaKit.Resources;

namespace HaKit.Ownership;

/// <summary>
/// The per-node ownership state machine: membership and failure detection, per-group roles and epochs,
/// takeover, graceful release, failback, resource failure policy and the split-brain rule.
/// </summary>
/// <remarks>
/// <para>Pure and single-threaded, after etcd-io/raft: it never reads a clock, sleeps, does I/O or spawns work.
/// Time and messages come in through <see cref="Tick"/>, <see cref="Receive"/>, <see cref="Admin"/> and the
/// <c>On…</c> feedback methods; decisions come out as an ordered batch of <see cref="CoreCommand"/>s taken with
/// <see cref="TakeReady"/>. The runtime executes them and feeds the results back. The same core runs under the
/// simulator with a virtual clock, so any run can be replayed.</para>
/// <para>Takeover pipeline: Standby → Acquiring (fence the dead owner if needed → ask the arbiter → persist
/// epoch = highest seen + 1) → Starting (resources start with the epoch) → Active. Release: Active → Stopping →
/// Standby (announcing who should take it next) or Blocked (a stop failed: never started elsewhere without a fence).</para>
/// <para>Not thread-safe: the runtime calls it from one loop.</para>
/// </remarks>
public sealed class OwnershipCore
{
    private readonly CoreConfig _config;
    private readonly List<CoreCommand> _ready = [];
    private readonly Peer[] _peers;
    private readonly Dictionary<string, Peer> _peerByName = new(StringComparer.Ordinal);
    private readonly Group[] _groups;
    private readonly Dictionary<string, Group> _groupByName = new(StringComparer.Ordinal);
    private TimeSpan _now;
    private TimeSpan? _lastTick;
    private TimeSpan _nextHeartbeatAt;
    private bool _announce = true;
    private bool _standby;
    private TimeSpan _arbiterUnreachableUntil = TimeSpan.MinValue;
    private string? _arbiterUnreachableWhy;
    private bool _shuttingDown;
    private bool _shutdownReadyRaised;
    private long _nextRequestId = 1;
    private ulong _announcements;

    /// <summary>Creates the core for the local node.</summary>
    /// <param name="config">Validated configuration.</param>
    /// <param name="detectors">Creates one failure detector per peer and link.</param>
    /// <param name="persistedEpochs">Highest epoch per group from the durable state (a restarted node never reuses one).</param>
    /// <param name="now">Monotonic time at creation (start of the initial dead time).</param>
    public OwnershipCore(CoreConfig config, IFailureDetectorFactory detectors, IReadOnlyDictionary<string, ulong> persistedEpochs, TimeSpan now)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(detectors);
        ArgumentNullException.ThrowIfNull(persistedEpochs);
        _config = config;
        _now = now;
        _nextHeartbeatAt = now;
        _peers = config.Peers.Select(p => new Peer(p.Name, p.Priority, config.Links.Select(l => new LinkState(l, detectors.Create(now))).ToArray())).ToArray();
        foreach (var p in _peers)
        {
            _peerByName.Add(p.Name, p);
        }

        _groups = config.Groups.Select(g =>
        {
            var persisted = persistedEpochs.TryGetValue(g.Name, out var e) ? e : 0UL;
            return new Group(g) { Highest = persisted, Persisted = persisted };
        }).ToArray();
        foreach (var g in _groups)
        {
            _groupByName.Add(g.Name, g);
        }
    }

    /// <summary>The local node's name.</summary>
    public string LocalNode => _config.LocalNode;

    /// <summary>Whether commands are waiting in the ready batch.</summary>
    public bool HasReady => _ready.Count > 0;

    /// <summary>Takes the ready batch (in execution order) and clears it.</summary>
    public IReadOnlyList<CoreCommand> TakeReady()
    {
        if (_ready.Count == 0)
        {
            return [];
        }

        var batch = _ready.ToArray();
        _ready.Clear();
        return batch;
    }

    /// <summary>The local role for a group.</summary>
    /// <param name="group">The group.</param>
    public GroupRole GetRole(string group) => GetGroup(group).Role;

    /// <summary>The local ownership epoch of a group (0 when not owning).</summary>
    /// <param name="group">The group.</param>
    public ulong GetEpoch(string group) => GetGroup(group).OwnsEpoch ? GetGroup(group).Epoch : 0;

    /// <summary>The highest epoch seen or used for a group.</summary>
    /// <param name="group">The group.</param>
    public ulong GetHighestEpoch(string group) => GetGroup(group).Highest;

    /// <summary>A peer's overall health.</summary>
    /// <param name="peer">The peer.</param>
    public PeerHealth GetPeerHealth(string peer) => _peerByName.TryGetValue(peer, out var p) ? p.Health : throw new ArgumentException($"unknown peer '{peer}'", nameof(peer));

    /// <summary>A snapshot of the local view of the cluster.</summary>
    public ClusterStatus GetStatus() => new(
        _config.LocalNode,
        _standby,
        _shuttingDown,
        _groups.Select(g => new GroupStatusView(g.Name, g.Role, g.OwnsEpoch ? g.Epoch : 0, g.Highest, CurrentOwner(g), IsLocallyEligible(g), BanText(g), IsFatal(g), g.Maintenance)).ToArray(),
        _peers.Select(p => new PeerStatusView(p.Name, p.Health, Observe(p).Links, p.Incarnation, p.Fenced, p.Leaving)).ToArray())
    {
        ArbiterUnavailable = ArbiterUnreachable ? _arbiterUnreachableWhy : null,
    };

    // ------------------------------------------------------------------ inputs

    /// <summary>Advances time: evaluates detectors, detects local stalls, drives timers, sends heartbeats when due.</summary>
    /// <param name="now">Monotonic time since the node started.</param>
    public void Tick(TimeSpan now)
    {
        Advance(now);
        if (_lastTick is { } last)
        {
            var gap = now - last;
            if (gap > _config.TickInterval + _config.LocalPauseThreshold)
            {
                var pause = gap - _config.TickInterval;
                foreach (var p in _peers)
                {
                    foreach (var l in p.Links)
                    {
                        l.Detector.CompensateLocalPause(pause);
                    }
                }

                Emit(new LocalPauseDetected(now, pause));
            }
        }

        _lastTick = now;
        foreach (var p in _peers)
        {
            EvaluatePeer(p);
        }

        ReconcileAll();
        if (_now >= _nextHeartbeatAt)
        {
            _announce = true;
        }

        Flush();
    }

    /// <summary>Handles a verified heartbeat from a peer.</summary>
    /// <param name="now">Monotonic time since the node started.</param>
    /// <param name="from">The sender (already authenticated by the wire layer).</param>
    /// <param name="link">The link it arrived on.</param>
    /// <param name="incarnation">The sender's incarnation.</param>
    /// <param name="message">The heartbeat.</param>
    public void Receive(TimeSpan now, string from, string link, ulong incarnation, HeartbeatMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        Advance(now);
        if (!_peerByName.TryGetValue(from, out var p))
        {
            return;
        }

        var linkState = Array.Find(p.Links, l => l.Name == link);
        if (linkState is null || incarnation < p.Incarnation)
        {
            return;
        }

        if (incarnation > p.Incarnation)
        {
            if (p.Incarnation != 0)
            {
                Emit(new PeerRestarted(_now, p.Name, p.Incarnation, incarnation));
            }

            p.Incarnation = incarnation;
            p.Groups.Clear();
            p.Fenced = false;
            p.LastSequence = 0;
        }

        if (p.Fenced)
        {
            // A fenced node's packets (same incarnation) carry no authority until it restarts.
            return;
        }

        p.Heard = true;
        linkState.Detector.RecordHeartbeat(now);
        // The same announcement on another link, or an older one that arrived late: it proves the link is up, but its content is
        // not the sender's current state.
        var stale = message.Sequence != 0 && message.Sequence <= p.LastSequence;
        if (!stale)
        {
            p.LastSequence = Math.Max(p.LastSequence, message.Sequence);
            p.Leaving = message.Leaving;
        }

        foreach (var ann in stale ? Array.Empty<GroupAnnouncement>() : message.Groups)
        {
            if (!_groupByName.TryGetValue(ann.Group, out var g))
            {
                continue;
            }

            // Heartbeats arrive out of order (links differ in delay; a packet is held back). A sender's highest epoch never goes
            // down within an incarnation, so an announcement below the one already heard was sent earlier: acting on it would
            // bring back a role the sender has left (a Standby from before it took the group over).
            if (p.Groups.TryGetValue(ann.Group, out var known) && Math.Max(ann.HighestEpoch, ann.Epoch) < Math.Max(known.HighestEpoch, known.Epoch))
            {
                continue;
            }

            p.Groups[ann.Group] = ann;
            LearnEpoch(g, Math.Max(ann.HighestEpoch, ann.Epoch));
            g.FatalMark = Math.Max(g.FatalMark, ann.FatalMark);
            g.FatalCleared = Math.Max(g.FatalCleared, ann.FatalCleared);
            if (g.HandoffTo == p.Name)
            {
                if (ann.Role is GroupRole.Starting or GroupRole.Active)
                {
                    g.HandoffTo = null;
                    Emit(new GroupHandedOver(_now, g.Name, p.Name));
                }
                else if (Math.Max(ann.Epoch, ann.HighestEpoch) > g.ReleasedEpoch || ann.HandoffTo == LocalNode)
                {
                    // The group was taken with a newer epoch since the release (the target's Starting/Active heartbeats were
                    // missed), or the target has released it back to us: honouring our old handoff now would make both nodes
                    // point at each other and neither take the group.
                    g.HandoffTo = null;
                    if (ann.Epoch > g.ReleasedEpoch || ann.HandoffTo == LocalNode)
                    {
                        Emit(new GroupHandedOver(_now, g.Name, p.Name));
                    }
                }
            }
        }

        EvaluatePeer(p);
        ReconcileAll();
        Flush();
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
            var pipeline = g.Role == GroupRole.Acquiring && g.Stage == AcquireStage.Persisting && g.Proposed == epoch;
            if (error is not null)
            {
                Emit(new PersistFailed(_now, g.Name, epoch, error));
                if (pipeline)
                {
                    AbortAcquire(g, $"cannot persist epoch {epoch}: {error}", _config.ArbiterRetryInterval);
                }
            }
            else
            {
                g.Persisted = Math.Max(g.Persisted, epoch);
                if (pipeline)
                {
                    g.Stage = AcquireStage.None;
                    g.Epoch = epoch;
                    g.Highest = Math.Max(g.Highest, epoch);
                    SetRole(g, GroupRole.Starting, Why(g, $"{ReasonText(g.Reason)}; epoch {epoch} persisted, starting resources"));
                    _ready.Add(new StartGroup(g.Name, epoch));
                }
            }
        });
    }

    /// <summary>
    /// The arbiter reports that a group became free (etcd: its key was deleted, because its owner released it or its lease
    /// expired): a takeover waiting out <c>Arbiter:RetryInterval</c> after a refusal asks again now instead. Only a hint: the
    /// arbiter still decides.
    /// </summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="group">The group (unknown groups are ignored).</param>
    public void OnArbiterFreed(TimeSpan now, string group)
    {
        ArgumentNullException.ThrowIfNull(group);
        Step(now, () =>
        {
            foreach (var g in _groups)
            {
                if (g.Name == group && g.Role == GroupRole.Standby && g.NextAttemptAt > _now)
                {
                    g.NextAttemptAt = _now;
                }
            }
        });
    }

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
            foreach (var g in _groups)
            {
                if (g.Role == GroupRole.Acquiring && g.Stage == AcquireStage.Arbiter && g.PendingRequest == requestId)
                {
                    g.PendingRequest = 0;
                    g.LastDecision = decision;
                    if (!decision.Granted)
                    {
                        AbortAcquire(g, $"arbiter refused: {decision.Explanation}", _config.ArbiterRetryInterval);
                        break;
                    }

                    var epoch = Math.Max(g.Proposed, decision.Epoch ?? 0);
                    SetLease(g, decision);
                    g.Proposed = epoch;
                    g.Stage = AcquireStage.Persisting;
                    _ready.Add(new PersistEpoch(g.Name, epoch));
                    break;
                }

                if (g.RenewRequest == requestId && g.RenewRequest != 0)
                {
                    g.RenewRequest = 0;
                    if (g.Role is GroupRole.Active or GroupRole.Starting)
                    {
                        if (decision.Granted)
                        {
                            SetLease(g, decision);
                        }
                        else if (decision.Unavailable)
                        {
                            // Unknown, not refused: keep serving on the lease we have (it still bounds us) and ask again soon.
                            g.LastDecision = decision;
                            var left = (g.LeaseExpiresAt ?? _now) - _now;
                            var retry = TimeSpan.FromTicks(Math.Min(_config.ArbiterRetryInterval.Ticks, left.Ticks / 2));
                            g.LeaseRenewAt = _now + (retry > _config.TickInterval ? retry : _config.TickInterval);
                        }
                        else if (g.Maintenance)
                        {
                            // Hands-off: the operator owns the resources now. No more renewals; the expired lease stops the group
                            // as soon as maintenance ends.
                            g.LastDecision = decision;
                            g.LeaseRenewAt = null;
                        }
                        else
                        {
                            g.LastDecision = decision;
                            BeginStop(g, StopReason.LeaseLost, null, $"lease renewal refused: {decision.Explanation}");
                        }
                    }

                    break;
                }
            }
        });
    }

    /// <summary>Feedback for <see cref="FenceNode"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="requestId">The request id of the command.</param>
    /// <param name="result">The fencing result.</param>
    public void OnFenceCompleted(TimeSpan now, long requestId, FenceResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        Step(now, () =>
        {
            foreach (var g in _groups)
            {
                if (g.Role != GroupRole.Acquiring || g.Stage != AcquireStage.Fencing || g.PendingRequest != requestId)
                {
                    continue;
                }

                var node = g.FencingNode!;
                g.PendingRequest = 0;
                g.LastFence = result;
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

                break;
            }
        });
    }

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
                        g.NextMonitorAt = _now + g.Config.MonitorInterval;
                        g.LastDelayReason = null;
                        SetRole(g, GroupRole.Active, Why(g, $"{ReasonText(g.Reason)}; all resources started"), _now - g.AcquireStartedAt);
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
                    g.HandoffTo = g.PendingHandoff;
                    g.PendingHandoff = null;
                    g.ReleasedAt = _now;
                    g.ReleasedEpoch = Math.Max(g.Epoch, g.Highest);
                    SetRole(g, GroupRole.Standby, Why(g, g.HandoffTo is null ? $"stopped ({g.StopReason})" : $"stopped ({g.StopReason}), handing over to {g.HandoffTo}"));
                    _ready.Add(new ReleaseArbiter(g.Name));
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
            if (g.Role == GroupRole.Active && g.Epoch == epoch && g.MonitorInFlight)
            {
                g.MonitorInFlight = false;
                g.NextMonitorAt = _now + g.Config.MonitorInterval;
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
                g.MonitorInFlight = false;
            }
        });
    }

    /// <summary>Executes an operator command.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="command">The command.</param>
    /// <returns>Whether it was accepted, and what happens next or why not.</returns>
    public AdminResult Admin(TimeSpan now, AdminCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Advance(now);
        var result = command switch
        {
            SwitchoverCommand s => Switchover(s),
            SetStandbyCommand s => SetStandby(s.Standby),
            SetMaintenanceCommand m => SetMaintenance(m),
            ClearFailuresCommand c => ClearFailures(c.Group),
            ConfirmNodeDownCommand c => ConfirmNodeDown(c.Node),
            ShutdownCommand => BeginShutdown(),
            _ => new AdminResult(false, $"unknown command {command.GetType().Name}"),
        };
        ReconcileAll();
        Flush();
        return result;
    }

    // ------------------------------------------------------------------ admin

    private AdminResult Switchover(SwitchoverCommand s)
    {
        if (!_groupByName.TryGetValue(s.Group, out var g))
        {
            return new AdminResult(false, $"unknown group '{s.Group}'");
        }

        if (g.Maintenance)
        {
            // Maintenance is hands-off: the core neither stops nor starts the group here, not even on an operator's move.
            return new AdminResult(false, $"group {g.Name} is in maintenance on {LocalNode}: its resources are left as they are; end maintenance (SetMaintenanceCommand with Maintenance = false) before moving it");
        }

        if (g.Role != GroupRole.Active)
        {
            var owner = CurrentOwner(g);
            return new AdminResult(false, owner is null || owner == LocalNode
                ? $"group {g.Name} is {g.Role} on {LocalNode}, not Active: nothing to move"
                : $"group {g.Name} is active on {owner}, not here: run the switchover on {owner}");
        }

        string? target = s.Target;
        if (target is null)
        {
            target = BestOtherCandidate(g);
            if (target is null)
            {
                return new AdminResult(false, $"group {g.Name}: no other node is alive and eligible");
            }
        }
        else if (!_peerByName.TryGetValue(target, out var tp))
        {
            return new AdminResult(false, target == LocalNode ? $"group {g.Name} already runs on {LocalNode}" : $"unknown node '{target}'");
        }
        else if (!IsUp(tp) || !(tp.Groups.TryGetValue(g.Name, out var ann) && ann.Eligible) || tp.Leaving)
        {
            return new AdminResult(false, $"group {g.Name}: node {target} is not alive and eligible ({tp.Health}{(tp.Fenced ? ", fenced" : "")})");
        }

        BeginStop(g, StopReason.Switchover, target, $"switchover to {target} requested by an operator");
        return new AdminResult(true, $"group {g.Name}: stopping here, then starting on {target}");
    }

    private AdminResult SetStandby(bool standby)
    {
        _standby = standby;
        _announce = true;
        return new AdminResult(true, standby ? $"node {LocalNode} in standby: releasing every group" : $"node {LocalNode} online");
    }

    private AdminResult SetMaintenance(SetMaintenanceCommand m)
    {
        if (!_groupByName.TryGetValue(m.Group, out var g))
        {
            return new AdminResult(false, $"unknown group '{m.Group}'");
        }

        g.Maintenance = m.Maintenance;
        g.MonitorInFlight = false;
        g.NextMonitorAt = _now;
        _announce = true;
        return new AdminResult(true, m.Maintenance ? $"group {g.Name} in maintenance: resources left as they are, no monitoring or failover" : $"group {g.Name} managed again");
    }

    private AdminResult ClearFailures(string group)
    {
        if (!_groupByName.TryGetValue(group, out var g))
        {
            return new AdminResult(false, $"unknown group '{group}'");
        }

        g.BannedUntil = null;
        g.BannedPermanent = false;
        g.FatalCleared = Math.Max(g.FatalCleared, g.FatalMark);
        g.NextAttemptAt = _now;
        g.LastDelayReason = null;
        _announce = true;
        if (g.Role == GroupRole.Blocked)
        {
            // Keep the target of the stop that failed (a switchover stays a switchover).
            BeginStop(g, StopReason.Cleanup, g.PendingHandoff, "operator cleanup: retrying the stop");
            return new AdminResult(true, $"group {g.Name}: failures cleared, retrying the stop of the blocked group");
        }

        return new AdminResult(true, $"group {g.Name}: failures cleared");
    }

    private AdminResult ConfirmNodeDown(string node)
    {
        if (!_peerByName.ContainsKey(node))
        {
            return new AdminResult(false, $"unknown node '{node}'");
        }

        MarkFenced(node);
        Emit(new FenceCompleted(_now, node, new FenceResult(true, "confirmed down by an operator")));
        return new AdminResult(true, $"node {node} treated as fenced until it restarts");
    }

    private AdminResult BeginShutdown()
    {
        _shuttingDown = true;
        _announce = true;
        var kept = _groups.Where(g => g.Maintenance).Select(g => g.Name).ToArray();
        return new AdminResult(true, kept.Length == 0
            ? $"node {LocalNode} shutting down: releasing every group"
            : $"node {LocalNode} shutting down: releasing every group except {string.Join(", ", kept)} (in maintenance: left as it is)");
    }

    // ------------------------------------------------------------------ reconciliation

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

    /// <summary>
    /// A released group is settled once its handoff target announced it Starting/Active (which clears <c>HandoffTo</c>),
    /// the target is down, or <see cref="CoreConfig.HandoffConfirmTimeout"/> passed. Until then a leaving node keeps
    /// heartbeating, so the release is repeated rather than sent once.
    /// </summary>
    private bool HandoffSettled(Group g) =>
        g.HandoffTo is not { } target
        || !_peerByName.TryGetValue(target, out var p) || !IsUp(p)
        || _now - g.ReleasedAt >= _config.HandoffConfirmTimeout;

    private void Reconcile(Group g)
    {
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
                if (IsFatal(g))
                {
                    BeginStop(g, StopReason.FatalFailure, null, "a fatal failure stopped the group everywhere");
                }
                else if (LeaseExpired(g))
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

    private void ReconcileActive(Group g)
    {
        if (IsFatal(g))
        {
            BeginStop(g, StopReason.FatalFailure, null, "a fatal failure stopped the group everywhere");
            return;
        }

        if (LeaseExpired(g))
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

        if (g.Config.AutoFailback && g.Config.PreferredNode is { } preferred && preferred != LocalNode
            && _peerByName.TryGetValue(preferred, out var pp) && IsUp(pp) && pp.Health == PeerHealth.Alive && !pp.Leaving
            && pp.Groups.TryGetValue(g.Name, out var pann) && pann.Role == GroupRole.Standby && pann.Eligible)
        {
            g.FailbackReadySince ??= _now;
            if (_now - g.FailbackReadySince.Value >= g.Config.FailbackDelay)
            {
                BeginStop(g, StopReason.Failback, preferred, $"preferred node {preferred} is healthy and auto-failback is on");
                return;
            }
        }
        else
        {
            g.FailbackReadySince = null;
        }

        RenewLeaseIfDue(g);

        if (!g.MonitorInFlight && _now >= g.NextMonitorAt)
        {
            g.MonitorInFlight = true;
            _ready.Add(new MonitorGroup(g.Name, g.Epoch));
        }
    }

    private void ConsiderAcquire(Group g)
    {
        if (!IsLocallyEligible(g) || !StartupSettled() || _now < g.NextAttemptAt)
        {
            return;
        }

        var deadPeers = new List<string>();
        var fenceTargets = new List<string>();
        string? handoff = g.HandoffTo; // a node that just released the group honours its own handoff
        foreach (var p in _peers)
        {
            p.Groups.TryGetValue(g.Name, out var ann);
            if (IsUp(p))
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
                        fenceTargets.Add(p.Name);
                        break;
                    case GroupRole.Blocked:
                        DelayTakeover(g, $"group {g.Name} is blocked on node {p.Name} (a stop failed); waiting for an operator to clean it up there, or to confirm the node down");
                        return;
                }

                handoff ??= ann.HandoffTo;
            }
            else if (!p.Fenced)
            {
                deadPeers.Add(p.Name);
                var mayHold = ann is null || ann.Role != GroupRole.Standby;
                if (ann?.Role == GroupRole.Blocked && !_config.FencingConfigured)
                {
                    DelayTakeover(g, $"group {g.Name} was blocked on node {p.Name} (a stop failed) when it died: fencing is required but no fence agent is configured; confirm the node down to proceed");
                    return;
                }

                if (mayHold && _config.FencingConfigured)
                {
                    fenceTargets.Add(p.Name);
                }
            }
        }

        if (ChooseCandidate(g, handoff) != LocalNode)
        {
            return;
        }

        if (g.HandoffTo is { } target && target != LocalNode && !HandoffSettled(g))
        {
            // This node just released the group to a live peer that has not taken it yet: a heartbeat from before the release
            // (reordered) may show the target ineligible for a moment. Taking the group back would silently undo the operator's
            // move; wait for the target, or until it is dead or the handoff times out (then the target really cannot take it).
            return;
        }

        var reason = deadPeers.Count > 0 || fenceTargets.Count > 0 ? TakeoverReason.Failover : handoff == LocalNode ? TakeoverReason.Handoff : TakeoverReason.Initial;
        BeginAcquire(g, reason, deadPeers, fenceTargets);
    }

    private void BeginAcquire(Group g, TakeoverReason reason, List<string> deadPeers, List<string> fenceTargets)
    {
        g.Reason = reason;
        g.DeadPeers = deadPeers;
        g.FenceQueue = new Queue<string>(fenceTargets);
        g.LastFence = null;
        g.LastDecision = null;
        g.HandoffTo = null;
        g.AcquireStartedAt = _now;
        g.Proposed = Math.Max(g.Highest, g.Persisted) + 1;
        SetRole(g, GroupRole.Acquiring, Why(g, AcquireText(g)));
        AdvanceAcquire(g);
    }

    private void AdvanceAcquire(Group g)
    {
        while (g.FenceQueue.Count > 0)
        {
            var node = g.FenceQueue.Dequeue();
            if (_peerByName.TryGetValue(node, out var p) && p.Fenced)
            {
                continue;
            }

            g.Stage = AcquireStage.Fencing;
            g.FencingNode = node;
            g.PendingRequest = _nextRequestId++;
            _ready.Add(new FenceNode(g.PendingRequest, node));
            return;
        }

        g.Stage = AcquireStage.Arbiter;
        g.Proposed = Math.Max(g.Highest, g.Persisted) + 1;
        g.PendingRequest = _nextRequestId++;
        g.RequestSentAt = _now;
        var arbiterReason = g.Reason switch
        {
            TakeoverReason.Failover => AcquireReason.PeerDead,
            TakeoverReason.Handoff => AcquireReason.Handoff,
            _ => AcquireReason.Initial,
        };
        _ready.Add(new AskArbiter(g.PendingRequest, new ArbiterRequest(g.Name, LocalNode, g.Proposed, arbiterReason, g.DeadPeers)));
    }

    private void CheckAcquireStillValid(Group g)
    {
        if (!IsLocallyEligible(g))
        {
            AbortAcquire(g, "this node is no longer eligible", TimeSpan.Zero);
            return;
        }

        if (g.Stage is AcquireStage.Arbiter or AcquireStage.Persisting && g.Highest >= g.Proposed)
        {
            // A peer announced an epoch at least as high as ours while we acquired (for example a restarted former owner):
            // starting with the proposed epoch would reuse a fencing token. Start over with a fresh proposal.
            AbortAcquire(g, $"epoch {g.Proposed} is no longer above the highest epoch seen ({g.Highest}); retrying with a new epoch", TimeSpan.Zero);
            return;
        }

        foreach (var p in _peers)
        {
            if (!IsUp(p) || !p.Groups.TryGetValue(g.Name, out var ann))
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

    private void AbortAcquire(Group g, string why, TimeSpan retryAfter)
    {
        g.Stage = AcquireStage.None;
        g.PendingRequest = 0;
        g.FenceQueue.Clear();
        g.NextAttemptAt = _now + retryAfter;
        ClearLease(g);
        SetRole(g, GroupRole.Standby, Why(g, $"takeover abandoned: {why}"));
        if (retryAfter > TimeSpan.Zero)
        {
            DelayTakeover(g, $"group {g.Name}: {why}");
        }
    }

    /// <summary>The split-brain rule. Returns true when this node lost and began stopping.</summary>
    private bool CheckSplitBrain(Group g)
    {
        foreach (var p in _peers)
        {
            if (!IsUp(p) || !p.Groups.TryGetValue(g.Name, out var ann) || ann.Role is not (GroupRole.Starting or GroupRole.Active))
            {
                continue;
            }

            var peerWins = ann.Epoch != g.Epoch ? ann.Epoch > g.Epoch : Outranks(p.Priority, p.Name, _config.LocalPriority, LocalNode);
            var winner = peerWins ? p.Name : LocalNode;
            if (g.ReportedSplitBrains.Add((p.Name, ann.Epoch, g.Epoch)))
            {
                Emit(new SplitBrainDetected(_now, g.Name, LocalNode, g.Epoch, p.Name, ann.Epoch, winner));
            }

            if (peerWins)
            {
                BeginStop(g, StopReason.SplitBrainLost, null, $"split brain with {p.Name} (epoch {ann.Epoch} vs ours {g.Epoch}): {p.Name} wins, stopping our copy");
                return true;
            }
        }

        return false;
    }

    private void BeginStop(Group g, StopReason reason, string? handoffTo, string why)
    {
        g.StopReason = reason;
        g.PendingHandoff = handoffTo;
        g.MonitorInFlight = false;
        g.FailbackReadySince = null;
        ClearLease(g);
        SetRole(g, GroupRole.Stopping, Why(g, why));
        _ready.Add(new StopGroup(g.Name, g.Epoch, reason));
    }

    private void ApplyFailure(Group g, GroupActionOutcome outcome)
    {
        switch (outcome.FailureKind)
        {
            case ResourceFailureKind.Fatal:
                g.FatalMark = Math.Max(g.FatalMark, Math.Max(g.Epoch, 1));
                break;
            case ResourceFailureKind.PermanentOnNode:
                g.BannedPermanent = true;
                break;
            default:
                g.BannedUntil = _now + g.Config.FailureWindow;
                break;
        }

        Emit(new GroupFailed(_now, g.Name, outcome.FailureKind == ResourceFailureKind.None ? ResourceFailureKind.Transient : outcome.FailureKind, outcome.Resource, outcome.Message));
    }

    // ------------------------------------------------------------------ helpers

    /// <summary>One input step: advance time, apply the input, reconcile every group, announce changes.</summary>
    private void Step(TimeSpan now, Action apply)
    {
        Advance(now);
        apply();
        ReconcileAll();
        Flush();
    }

    private void Advance(TimeSpan now)
    {
        if (now > _now)
        {
            _now = now;
        }
    }

    private void Flush()
    {
        if (!_announce)
        {
            return;
        }

        _announce = false;
        _nextHeartbeatAt = _now + _config.Interval;
        _ready.Add(new SendHeartbeat(BuildHeartbeat()));
    }

    private HeartbeatMessage BuildHeartbeat() => new(
        _config.LocalPriority,
        _shuttingDown,
        _groups.Select(g => new GroupAnnouncement(g.Name, g.Role, g.OwnsEpoch ? g.Epoch : 0, g.Highest, IsLocallyEligible(g) && g.Role != GroupRole.Blocked && !ArbiterUnreachable, g.HandoffTo, g.FatalMark, g.FatalCleared)).ToArray(),
        ++_announcements);

    private void Emit(ClusterEvent e) => _ready.Add(new EmitEvent(e));

    private void SetRole(Group g, GroupRole role, DecisionContext why, TimeSpan? takeover = null)
    {
        var from = g.Role;
        g.Role = role;
        _announce = true;
        TakeoverReason? reason = role is GroupRole.Acquiring or GroupRole.Starting or GroupRole.Active && from is GroupRole.Standby or GroupRole.Acquiring or GroupRole.Starting ? g.Reason : null;
        Emit(new RoleChanged(_now, g.Name, LocalNode, from, role, role == GroupRole.Acquiring ? g.Proposed : g.Epoch, why, takeover, reason));
    }

    private void DelayTakeover(Group g, string reason)
    {
        if (g.LastDelayReason == reason)
        {
            return;
        }

        g.LastDelayReason = reason;
        Emit(new TakeoverDelayed(_now, g.Name, reason));
    }

    private void LearnEpoch(Group g, ulong epoch)
    {
        if (epoch > g.Highest)
        {
            g.Highest = epoch;
            if (epoch > g.Persisted)
            {
                _ready.Add(new PersistEpoch(g.Name, epoch));
            }
        }
    }

    private void RenewLeaseIfDue(Group g)
    {
        if (g.LeaseRenewAt is { } renewAt && _now >= renewAt && g.RenewRequest == 0)
        {
            g.RenewRequest = _nextRequestId++;
            g.RenewSentAt = _now;
            _ready.Add(new AskArbiter(g.RenewRequest, new ArbiterRequest(g.Name, LocalNode, g.Epoch, AcquireReason.Renew, [])));
        }
    }

    private void SetLease(Group g, ArbiterDecision decision)
    {
        if (decision.LeaseDuration is { } lease)
        {
            var sentAt = g.Role == GroupRole.Acquiring ? g.RequestSentAt : g.RenewSentAt;
            g.LeaseExpiresAt = sentAt + lease - _config.LeaseDriftMargin;
            g.LeaseRenewAt = sentAt + (lease / 3);
        }
        else
        {
            ClearLease(g);
        }
    }

    private static void ClearLease(Group g)
    {
        g.LeaseExpiresAt = null;
        g.LeaseRenewAt = null;
        g.RenewRequest = 0;
    }

    private bool LeaseExpired(Group g) => g.LeaseExpiresAt is { } expires && _now >= expires;

    private void MarkFenced(string node)
    {
        if (_peerByName.TryGetValue(node, out var p))
        {
            p.Fenced = true;
            p.Groups.Clear();
        }
    }

    private void EvaluatePeer(Peer p)
    {
        var best = PeerHealth.Dead;
        foreach (var l in p.Links)
        {
            var h = l.Detector.Evaluate(_now);
            if (h != l.Health)
            {
                Emit(new LinkHealthChanged(_now, p.Name, l.Name, l.Health, h, l.Detector.Describe(_now)));
                l.Health = h;
            }

            if (h < best)
            {
                best = h;
            }
        }

        if (best != p.Health)
        {
            var from = p.Health;
            p.Health = best;
            var last = p.Links.Max(l => l.Detector.LastHeartbeat);
            Emit(new PeerHealthChanged(_now, p.Name, from, best, Observe(p), last is { } t ? _now - t : null));
        }
    }

    private PeerObservation Observe(Peer p) =>
        new(p.Name, p.Fenced ? PeerHealth.Dead : p.Health, p.Links.Select(l => new LinkObservation(l.Name, l.Health, l.Detector.Describe(_now))).ToArray(), p.Fenced, p.Leaving);

    private static bool IsUp(Peer p) => !p.Fenced && p.Health != PeerHealth.Dead;

    private bool StartupSettled() => _peers.All(p => p.Heard || p.Fenced || p.Health == PeerHealth.Dead);

    private bool IsFatal(Group g) => g.FatalMark > g.FatalCleared;

    private bool ArbiterUnreachable => _now < _arbiterUnreachableUntil;

    private bool IsLocallyEligible(Group g) =>
        !_standby && !_shuttingDown && !g.BannedPermanent && !(g.BannedUntil is { } until && _now < until) && !IsFatal(g) && !g.Maintenance;

    private string? BanText(Group g) =>
        g.BannedPermanent ? "permanent failure on this node (clear failures to allow it again)"
        : g.BannedUntil is { } until && _now < until ? $"restarts exhausted; eligible again in {(until - _now).TotalSeconds:0.#} s"
        : null;

    private string? CurrentOwner(Group g)
    {
        if (g.Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping or GroupRole.Blocked)
        {
            return LocalNode;
        }

        foreach (var p in _peers)
        {
            if (IsUp(p) && p.Groups.TryGetValue(g.Name, out var ann) && ann.Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping or GroupRole.Blocked)
            {
                return p.Name;
            }
        }

        return null;
    }

    /// <summary>Whether node (priorityA, nameA) outranks (priorityB, nameB): higher priority, then the ordinally smaller name.</summary>
    private static bool Outranks(int priorityA, string nameA, int priorityB, string nameB) =>
        priorityA != priorityB ? priorityA > priorityB : string.CompareOrdinal(nameA, nameB) < 0;

    /// <summary>The node that should run an unowned group: the announced handoff target, else the preferred node, else the highest-ranked eligible node.</summary>
    private string? ChooseCandidate(Group g, string? handoff) => Pick(g, Candidates(g, includeLocal: true), handoff);

    /// <summary>The node a released group should go to: the preferred node if it can take it, else the highest-ranked eligible peer.</summary>
    private string? BestOtherCandidate(Group g) => Pick(g, Candidates(g, includeLocal: false), null);

    private List<(string Name, int Priority)> Candidates(Group g, bool includeLocal)
    {
        var candidates = new List<(string Name, int Priority)>();
        foreach (var p in _peers)
        {
            if (IsUp(p) && !p.Leaving && p.Groups.TryGetValue(g.Name, out var ann) && ann.Eligible && ann.Role != GroupRole.Blocked)
            {
                candidates.Add((p.Name, p.Priority));
            }
        }

        // Cut off from the arbiter, this node is a candidate only when no peer is (it must still ask, to notice the arbiter's return).
        if (includeLocal && IsLocallyEligible(g) && (!ArbiterUnreachable || candidates.Count == 0))
        {
            candidates.Insert(0, (LocalNode, _config.LocalPriority));
        }

        return candidates;
    }

    private static string? Pick(Group g, List<(string Name, int Priority)> candidates, string? handoff)
    {
        if (handoff is not null && candidates.Exists(c => c.Name == handoff))
        {
            return handoff;
        }

        if (g.Config.PreferredNode is { } preferred && candidates.Exists(c => c.Name == preferred))
        {
            return preferred;
        }

        string? best = null;
        var bestPriority = 0;
        foreach (var c in candidates)
        {
            if (best is null || Outranks(c.Priority, c.Name, bestPriority, best))
            {
                best = c.Name;
                bestPriority = c.Priority;
            }
        }

        return best;
    }

    private DecisionContext Why(Group g, string reason)
    {
        var epochs = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var p in _peers)
        {
            if (p.Groups.TryGetValue(g.Name, out var ann))
            {
                epochs[p.Name] = ann.Epoch;
            }
        }

        return new DecisionContext(reason, _peers.Select(Observe).ToArray(), g.LastDecision, g.LastFence, g.Highest, epochs);
    }

    private string AcquireText(Group g) => g.Reason switch
    {
        TakeoverReason.Failover => $"failover: {string.Join(", ", g.DeadPeers.Select(DescribeDeath))}",
        TakeoverReason.Handoff => "the owner released the group to this node",
        _ => "no node runs the group and this node is the chosen candidate",
    };

    private string DescribeDeath(string peer)
    {
        var p = _peerByName[peer];
        var silent = p.Links.Max(l => l.Detector.LastHeartbeat) ?? TimeSpan.Zero;
        return p.Heard
            ? $"node {peer} is dead (no heartbeat for {(_now - silent).TotalSeconds:0.00} s on {p.Links.Length} link{(p.Links.Length == 1 ? "" : "s")})"
            : $"node {peer} was never heard within the initial dead time";
    }

    private static string ReasonText(TakeoverReason reason) => reason switch
    {
        TakeoverReason.Failover => "failover",
        TakeoverReason.Handoff => "handoff",
        _ => "initial start",
    };

    private Group GetGroup(string group) =>
        _groupByName.TryGetValue(group, out var g) ? g : throw new ArgumentException($"unknown group '{group}'", nameof(group));

    // ------------------------------------------------------------------ state

    private enum AcquireStage
    {
        None,
        Fencing,
        Arbiter,
        Persisting,
    }

    private sealed class LinkState(string name, IFailureDetector detector)
    {
        public string Name { get; } = name;

        public IFailureDetector Detector { get; } = detector;

        public PeerHealth Health { get; set; } = PeerHealth.Alive;
    }

    private sealed class Peer(string name, int priority, LinkState[] links)
    {
        public string Name { get; } = name;

        public int Priority { get; } = priority;

        public LinkState[] Links { get; } = links;

        public PeerHealth Health { get; set; } = PeerHealth.Alive;

        public bool Heard { get; set; }

        public bool Leaving { get; set; }

        public bool Fenced { get; set; }

        public ulong Incarnation { get; set; }

        /// <summary>The newest announcement number acted on in this incarnation (0: none or unnumbered).</summary>
        public ulong LastSequence { get; set; }

        public Dictionary<string, GroupAnnouncement> Groups { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Group(GroupConfig config)
    {
        public GroupConfig Config { get; } = config;

        public string Name => Config.Name;

        public GroupRole Role { get; set; } = GroupRole.Standby;

        public bool OwnsEpoch => Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping or GroupRole.Blocked;

        public ulong Epoch { get; set; }

        public ulong Highest { get; set; }

        public ulong Persisted { get; set; }

        public AcquireStage Stage { get; set; }

        public long PendingRequest { get; set; }

        public ulong Proposed { get; set; }

        public TakeoverReason Reason { get; set; }

        public List<string> DeadPeers { get; set; } = [];

        public Queue<string> FenceQueue { get; set; } = new();

        public string? FencingNode { get; set; }

        public FenceResult? LastFence { get; set; }

        public ArbiterDecision? LastDecision { get; set; }

        public TimeSpan AcquireStartedAt { get; set; }

        public TimeSpan RequestSentAt { get; set; }

        public TimeSpan NextAttemptAt { get; set; }

        public string? LastDelayReason { get; set; }

        public TimeSpan? LeaseExpiresAt { get; set; }

        public TimeSpan? LeaseRenewAt { get; set; }

        public long RenewRequest { get; set; }

        public TimeSpan RenewSentAt { get; set; }

        public bool MonitorInFlight { get; set; }

        public TimeSpan NextMonitorAt { get; set; }

        public string? PendingHandoff { get; set; }

        public string? HandoffTo { get; set; }

        public TimeSpan ReleasedAt { get; set; }

        /// <summary>The highest epoch known when the group was last released (a later one means it was taken since).</summary>
        public ulong ReleasedEpoch { get; set; }

        public StopReason StopReason { get; set; }

        public TimeSpan? BannedUntil { get; set; }

        public bool BannedPermanent { get; set; }

        public ulong FatalMark { get; set; }

        public ulong FatalCleared { get; set; }

        public bool Maintenance { get; set; }

        public TimeSpan? FailbackReadySince { get; set; }

        public HashSet<(string Peer, ulong PeerEpoch, ulong LocalEpoch)> ReportedSplitBrains { get; } = [];
    }
}
