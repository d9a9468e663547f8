namespace HaKit.Ownership;

/// <summary>Peer tracking: failure detection on every link, local stalls, and heartbeats received.</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Advances time: evaluates detectors, detects local stalls, drives timers, sends heartbeats when due.</summary>
    /// <param name="now">Monotonic time since the node started.</param>
    public void Tick(TimeSpan now)
    {
        var previous = _now;
        Advance(now);
        var planned = _plannedTick;
        _plannedTick = null;

        // A stall is a tick late against the planned one: the deadline the loop chose to sleep until (a long sleep by choice is
        // not a stall), else the last tick plus one tick interval (fixed-rate ticks). After a planned sleep the stall may have
        // begun right after the last step, so the detectors discount everything since then (they could not take in a heartbeat).
        // The first tick is measured against the core's creation: a node frozen, or busy with its start-up probes, before it ever
        // ticked could not hear its peers either, so the initial dead time counts from the tick that ends that wait.
        var late = now - (planned ?? (_lastTick ?? _createdAt) + _config.TickInterval);
        if (late > _config.LocalPauseThreshold)
        {
            var pause = planned is null ? late : now - previous;
            foreach (var p in _peers)
            {
                foreach (var l in p.Links)
                {
                    l.Detector.CompensateLocalPause(pause);
                }
            }

            Emit(new LocalPauseDetected(now, pause) { BeforeFirstTick = _lastTick is null });
        }

        _lastTick = now;
        foreach (var p in _peers)
        {
            EvaluatePeer(p);
            EvaluateHint(p);
            ProbeAgain(p);
        }

        ReconcileAll();
        if (_now >= _nextHeartbeatAt)
        {
            _announce = true;
        }

        Flush();
    }

    /// <summary>The peer's state of <paramref name="link"/> (null: not a configured link), without a closure per heartbeat.</summary>
    private static LinkState? FindLink(PeerState p, string link)
    {
        foreach (var l in p.Links)
        {
            if (l.Name == link)
            {
                return l;
            }
        }

        return null;
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

        var linkState = FindLink(p, link);
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
            p.Hint = null;
            p.ClearAnnouncements();
            p.Fenced = false;
            p.LastSequence = 0;
            p.Reachability = null;
        }

        if (p.Fenced)
        {
            // A fenced node's packets (same incarnation) carry no authority until it restarts.
            return;
        }

        p.Heard = true;
        LastPeerHeardAt = now > LastPeerHeardAt ? now : LastPeerHeardAt;
        ContradictHint(p, _now);
        AnswerProbe(message);
        linkState.Detector.RecordHeartbeat(now);
        // The same announcement on another link, or an older one that arrived late: it proves the link is up, but its content is
        // not the sender's current state.
        var stale = message.Sequence != 0 && message.Sequence <= p.LastSequence;
        if (!stale)
        {
            p.LastSequence = Math.Max(p.LastSequence, message.Sequence);
            p.Leaving = message.Leaving;
            p.Reachability = message.Reachability;
        }

        var announced = stale ? [] : message.Groups;
        for (var i = 0; i < announced.Count; i++) // indexed: no enumerator per heartbeat
        {
            var ann = announced[i];
            if (_groupByName.TryGetValue(ann.Group, out var g))
            {
                ApplyAnnouncement(p, g, ann);
            }
        }

        EvaluatePeer(p);
        ReconcileAll();
        Flush();
    }

    /// <summary>Takes in a peer's (current, non-stale) announcement for one group.</summary>
    private void ApplyAnnouncement(PeerState p, GroupState g, GroupAnnouncement ann)
    {
        // Heartbeats arrive out of order (links differ in delay; a packet is held back). A sender's highest epoch never goes
        // down within an incarnation, so an announcement below the one already heard was sent earlier: acting on it would
        // bring back a role the sender has left (a Standby from before it took the group over).
        if (p.TryGetAnnouncement(g, out var known) && Math.Max(ann.HighestEpoch, ann.Epoch) < Math.Max(known.HighestEpoch, known.Epoch))
        {
            return;
        }

        p.SetAnnouncement(g, ann);
        LearnEpoch(g, Math.Max(ann.HighestEpoch, ann.Epoch));
        g.Fatal.Merge(ann.FatalMark, ann.FatalCleared);
        if (g.Handoff.Target == p.Name)
        {
            NoteHandoffTarget(g, p, ann);
        }
    }

    /// <summary>Raises the highest epoch seen, persisting it when it is above the durable one (a restart never reuses it).</summary>
    private void LearnEpoch(GroupState g, ulong epoch)
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

    /// <summary>Re-evaluates every link of a peer and the peer's overall health (the best link), raising changes.</summary>
    private void EvaluatePeer(PeerState p)
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

    private PeerObservation Observe(PeerState p) =>
        new(p.Name, p.Fenced ? PeerHealth.Dead : p.Health, p.Links.Select(l => new LinkObservation(l.Name, l.Health, l.Detector.Describe(_now))).ToArray(), p.Fenced, p.Leaving);

    /// <summary>Whether a peer counts as up: not fenced and not dead on every link.</summary>
    private static bool IsUp(PeerState p) => !p.Fenced && p.Health != PeerHealth.Dead;

    /// <summary>Start-up has settled once every peer was heard, fenced, or declared dead (after the initial dead time).</summary>
    private bool StartupSettled()
    {
        foreach (var p in _peers)
        {
            if (!p.Heard && !p.Fenced && p.Health != PeerHealth.Dead)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Treats a peer as fenced until it restarts: its announcements are forgotten and ignored.</summary>
    private void MarkFenced(string node)
    {
        if (_peerByName.TryGetValue(node, out var p))
        {
            p.Fenced = true;
            p.ClearAnnouncements();
        }
    }

    private string DescribeDeath(string peer)
    {
        var p = _peerByName[peer];
        var hinted = p.Hint is not null && HintQualifies(p);
        if (hinted && IsUp(p))
        {
            return DescribeHint(p);
        }

        var silent = p.Links.Max(l => l.Detector.LastHeartbeat) ?? TimeSpan.Zero;
        var text = p.Heard
            ? $"node {peer} is dead (no heartbeat for {(_now - silent).TotalSeconds:0.00} s on {p.Links.Length} link{(p.Links.Length == 1 ? "" : "s")})"
            : $"node {peer} was never heard within the initial dead time";
        return hinted ? $"{text}; corroborated: {DescribeHint(p)}" : text;
    }
}
