namespace HaKit.Ownership;

/// <summary>What the core tells others: heartbeats, role changes with their decision context, and the status view.</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>A snapshot of the local view of the cluster.</summary>
    public ClusterStatus GetStatus() => new(
        _config.LocalNode,
        _standby,
        _shuttingDown,
        _groups.Select(g => new GroupStatusView(g.Name, g.Role, g.OwnsEpoch ? g.Epoch : 0, g.Highest, CurrentOwner(g), IsLocallyEligible(g), g.Ban.Describe(_now), g.Fatal.IsFatal, g.Maintenance)).ToArray(),
        _peers.Select(p => new PeerStatusView(p.Name, p.Health, Observe(p).Links, p.Incarnation, p.Fenced, p.Leaving)).ToArray())
    {
        ArbiterUnavailable = ArbiterUnreachable ? _arbiterUnreachableWhy : null,
    };

    /// <summary>
    /// A fingerprint of everything <see cref="GetStatus"/> shows except its time-based texts (a link's silence, a ban's time left):
    /// roles, epochs, owners, eligibility, bans, marks, maintenance, standby, peers' and links' health, incarnations, the arbiter. The
    /// runtime rebuilds the status snapshot when it changed (and at least once an interval for the texts). Allocation-free.
    /// </summary>
    internal int StatusFingerprint()
    {
        var h = new HashCode();
        h.Add(_standby);
        h.Add(_shuttingDown);
        h.Add(ArbiterUnreachable ? _arbiterUnreachableWhy : null);
        foreach (var g in _groups)
        {
            h.Add(g.Role);
            h.Add(g.OwnsEpoch ? g.Epoch : 0);
            h.Add(g.Highest);
            h.Add(CurrentOwner(g));
            h.Add(IsLocallyEligible(g));
            h.Add(g.Ban.Permanent);
            h.Add(g.Ban.Until);
            h.Add(g.Fatal.IsFatal);
            h.Add(g.Maintenance);
        }

        foreach (var p in _peers)
        {
            h.Add(p.Health);
            h.Add(p.Fenced);
            h.Add(p.Leaving);
            h.Add(p.Incarnation);
            foreach (var l in p.Links)
            {
                h.Add(l.Health);
            }
        }

        return h.ToHashCode();
    }

    /// <summary>Ends a step: sends a heartbeat when something changed or the interval passed.</summary>
    private void Flush()
    {
        if (!_announce)
        {
            return;
        }

        _announce = false;
        _nextHeartbeatAt = _now + _config.Interval;
        _ready.Add(new SendHeartbeat(BuildHeartbeat()));
        _probe = false;
    }

    /// <summary>The announcement of every group (the same numbered announcement goes out on every link), flagged as a probe while a crash hint is checked.</summary>
    private HeartbeatMessage BuildHeartbeat()
    {
        // An announcement equal to the one sent last is that record again, and the list too when every one is (records are
        // immutable): a steady heartbeat allocates only itself.
        var groups = _lastAnnounced;
        for (var i = 0; i < _groups.Length; i++)
        {
            var g = _groups[i];
            var role = g.Role;
            var epoch = g.OwnsEpoch ? g.Epoch : 0;
            var eligible = IsLocallyEligible(g) && role != GroupRole.Blocked && !ArbiterUnreachable;
            var last = _lastAnnounced[i];
            if (last is not null && last.Role == role && last.Epoch == epoch && last.HighestEpoch == g.Highest && last.Eligible == eligible
                && last.HandoffTo == g.Handoff.Target && last.FatalMark == g.Fatal.Mark && last.FatalCleared == g.Fatal.Cleared)
            {
                continue;
            }

            if (ReferenceEquals(groups, _lastAnnounced))
            {
                groups = (GroupAnnouncement[])_lastAnnounced.Clone();
            }

            groups[i] = new GroupAnnouncement(g.Name, role, epoch, g.Highest, eligible, g.Handoff.Target, g.Fatal.Mark, g.Fatal.Cleared);
        }

        _lastAnnounced = groups;
        return new HeartbeatMessage(_config.LocalPriority, _shuttingDown, groups, ++_announcements)
        {
            Probe = _probe,
            Reachability = AnnouncedReachability,
        };
    }

    /// <summary>Changes the local role, raises <see cref="RoleChanged"/> with its reason, and announces it at the end of the step.</summary>
    private void SetRole(GroupState g, GroupRole role, DecisionContext why, TimeSpan? takeover = null)
    {
        var from = g.Role;
        g.Role = role;
        _announce = true;
        TakeoverReason? reason = role is GroupRole.Acquiring or GroupRole.Starting or GroupRole.Active && from is GroupRole.Standby or GroupRole.Acquiring or GroupRole.Starting ? g.Acquire.Reason : null;
        Emit(new RoleChanged(_now, g.Name, LocalNode, from, role, role == GroupRole.Acquiring ? g.Acquire.Proposed : g.Epoch, why, takeover, reason));
    }

    /// <summary>The evidence for a decision: every peer's health per link, the last arbiter answer and fence result, the epochs known.</summary>
    private DecisionContext Why(GroupState g, string reason)
    {
        var epochs = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var p in _peers)
        {
            if (p.TryGetAnnouncement(g, out var ann))
            {
                epochs[p.Name] = ann.Epoch;
            }
        }

        return new DecisionContext(reason, _peers.Select(Observe).ToArray(), g.Acquire.LastDecision, g.Acquire.LastFence, g.Highest, epochs);
    }
}
