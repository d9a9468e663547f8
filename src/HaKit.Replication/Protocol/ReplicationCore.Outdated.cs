namespace HaKit.Replication.Protocol;

// Degrading and outdated marking (DRBD's `fencing resource-only` / `drbdadm outdate`, Patroni's maximum_lag_on_failover).
// Owner: a Received/Durable owner whose peer has confirmed nothing new for DegradeAfter while entries wait for it goes on
// acknowledging alone ("degraded"); before the first entry acknowledged without the peer it marks the peer outdated durably
// (file `peer-outdated`). An Async owner marks the peer the same way when it acknowledged entries the peer does not hold and the
// peer is disconnected or has confirmed nothing new for DegradeAfter. The mark clears (and the owner stops degrading) once the
// peer confirms everything acknowledged. Standby: appends carry the owner's acknowledged index and whether the owner marked this
// node outdated; a marked node persists the index it must hold (file `outdated`) and refuses to own the group until it holds it
// (matched and durable) or an operator forces it. A standby also refuses to own the group while the owner's acknowledged index it
// last heard is more than MaxLagOnFailover entries ahead of its log.
internal sealed partial class ReplicationCore
{
    private TimeSpan? _waitSince;
    private long _waitPeerConfirmed = -1;

    /// <summary>How long the owner waits for a peer that confirms nothing before it goes on alone; <see langword="null"/>: never.</summary>
    public TimeSpan? DegradeAfter { get; set; }

    /// <summary>Most entries this node may lag the owner's last heard acknowledged index and still own the group automatically; <see langword="null"/>: no limit.</summary>
    public long? MaxLagOnFailover { get; set; }

    /// <summary>Most bytes of entry data this node may lag the owner's last heard acknowledged position and still own the group
    /// automatically (Patroni's <c>maximum_lag_on_failover</c>); <see langword="null"/>: no limit in bytes.</summary>
    public long? MaxLagOnFailoverBytes { get; set; }

    private long _knownLagBytes;
    private long _persistedKnownLagBytes;

    /// <summary>Standby: bytes of entry data this node is behind the owner's acknowledged position, as the last append heard from
    /// the owner said (the owner sends the bytes it acknowledged after the append's last entry; an append this node could not
    /// match only raises it). 0 once this node holds the owner's acknowledged index.</summary>
    public long KnownLagBytes => Role == ReplicaRole.Owner || (KnownOwnerAcknowledged > 0 && _log.Last.Index >= KnownOwnerAcknowledged) ? 0 : _knownLagBytes;

    /// <summary>Owner: it acknowledges without the peer (the peer confirmed nothing for <see cref="DegradeAfter"/>).</summary>
    public bool Degraded { get; private set; }

    /// <summary>Owner: the position at which it marked its peer outdated (<see cref="LogPosition.Zero"/>: not marked).</summary>
    public LogPosition PeerOutdatedAt { get; private set; }

    /// <summary>
    /// Owner: the peer's outdated mark must also be published at the arbiter (the etcd store / the witness) before an entry the
    /// peer does not hold is acknowledged: a mark emits <see cref="PublishMarkCommand"/> and acknowledgements beyond what the peer
    /// confirmed wait until the driver reports it with <see cref="MarkPublished"/> (DRBD's <c>fencing resource-only</c>: the
    /// primary goes on alone only after the fence-peer handler outdated the peer). Clearing the mark is published too.
    /// </summary>
    public bool ArbiterMarks { get; set; }

    /// <summary>Owner: the mark the arbiter confirmed (equal to <see cref="PeerOutdatedAt"/> once published).</summary>
    public LogPosition PeerMarkPublished { get; private set; }

    /// <summary>Owner: whether acknowledgements beyond the peer's confirmed index wait for the arbiter to hold the mark.</summary>
    public bool AwaitingArbiterMark => ArbiterMarks && Role == ReplicaRole.Owner && PeerOutdatedAt != LogPosition.Zero && PeerMarkPublished != PeerOutdatedAt;

    /// <summary>The driver published <paramref name="position"/> (<see cref="LogPosition.Zero"/>: the clearing) at the arbiter.</summary>
    public void MarkPublished(LogPosition position)
    {
        if (position != PeerOutdatedAt)
        {
            return; // stale: the mark changed meanwhile (a newer command is on its way)
        }

        PeerMarkPublished = position;
        if (Role == ReplicaRole.Owner)
        {
            UpdateAcknowledged();
        }
    }

    /// <summary>Standby: the owner's acknowledged position this node must hold before it may own the group (<see cref="LogPosition.Zero"/>: not outdated).</summary>
    public LogPosition OutdatedUntil { get; private set; }

    /// <summary>Standby: it installed an owner's snapshot older than the history it held matched with that owner (file
    /// <c>catch-up</c>): the owner's epoch and the index it must hold again (matched, durable) before it may own the group
    /// (<see cref="LogPosition.Zero"/>: none).</summary>
    public LogPosition CatchUpUntil { get; private set; }

    /// <summary>A restarted node: the position it must hold again before it may own the group (file <c>catch-up</c>).</summary>
    public void RestoreCatchUp(LogPosition catchUpUntil) => CatchUpUntil = catchUpUntil;

    /// <summary>Standby: the owner's acknowledged index in the last append heard from it in this process (0: none heard).</summary>
    public long KnownOwnerAcknowledged { get; private set; }

    /// <summary>Standby: the owner's durable index in the last append heard from it in this process (0: none heard; an owner that
    /// does not send it: its acknowledged index).</summary>
    public long KnownOwnerDurable { get; private set; }

    /// <summary>Standby: entries this node's log is behind <see cref="KnownOwnerAcknowledged"/>.</summary>
    public long KnownLagEntries => Role == ReplicaRole.Owner ? 0 : Math.Max(0, KnownOwnerAcknowledged - _log.Last.Index);

    private long PeerConfirmed => Mode == ReplicationMode.Received ? PeerReceived : PeerDurable;

    private long _persistedKnownAcknowledged;

    /// <summary>Standby: restores the owner's acknowledged position last heard before a restart (file <c>known-lag</c>), so that
    /// <see cref="MaxLagOnFailover"/> still applies after the standby restarted without hearing the owner again.</summary>
    /// <param name="ownerAcknowledged">The owner's acknowledged position last heard.</param>
    /// <param name="lagBytes">The byte lag last heard (in the file <c>known-lag</c> too; 0: none).</param>
    public void RestoreKnownOwnerAcknowledged(LogPosition ownerAcknowledged, long lagBytes = 0)
    {
        KnownOwnerAcknowledged = ownerAcknowledged.Index;
        _persistedKnownAcknowledged = ownerAcknowledged.Index;
        _knownLagBytes = _persistedKnownLagBytes = Math.Max(0, lagBytes);
    }

    /// <summary>Standby, on a tick: writes the owner's acknowledged index last heard when it changed (at most once a tick, not per
    /// entry: after a crash the value on disk may be up to one tick old, so the lag it gives may be slightly low).</summary>
    private void PersistKnownLagIfChanged()
    {
        if (KnownOwnerAcknowledged != _persistedKnownAcknowledged || _knownLagBytes != _persistedKnownLagBytes)
        {
            _persistedKnownAcknowledged = KnownOwnerAcknowledged;
            _persistedKnownLagBytes = _knownLagBytes;
            _outputs.Add(new PersistKnownLagCommand(KnownOwnerAcknowledged == 0 ? LogPosition.Zero : new LogPosition(_ownerEpoch, KnownOwnerAcknowledged), _knownLagBytes));
        }
    }

    /// <summary>Restores the marks read from disk at start.</summary>
    public void RestoreMarks(LogPosition peerOutdatedAt, LogPosition outdatedUntil)
    {
        PeerOutdatedAt = peerOutdatedAt;
        OutdatedUntil = outdatedUntil;
    }

    /// <summary>Why this node must not own the group automatically now (<see langword="null"/>: it may).</summary>
    public string? PromotionRefusal()
    {
        if (Role == ReplicaRole.Owner)
        {
            return null;
        }

        if (OutdatedUntil != LogPosition.Zero)
        {
            return $"this node is marked outdated: the owner of epoch {OutdatedUntil.Epoch} acknowledged writes up to index {OutdatedUntil.Index} without it, and this node holds up to index {_log.Last.Index} (matched up to {_matchIndex}); promoting it would lose those writes. Let it catch up from the owner, or force it (hakit takeover --force / ReplicatedLog.AllowOutdatedPromotionOnce)";
        }

        if (CatchUpUntil != LogPosition.Zero)
        {
            return $"this node installed the owner's snapshot at {_snapshot}, older than the history it held up to index {CatchUpUntil.Index} (matched with the owner of epoch {CatchUpUntil.Epoch}), and holds up to index {_log.Last.Index} (matched up to {_matchIndex}) since; promoting it before it holds those entries again would lose them. Let it catch up from the owner, or force it (hakit takeover --force / ReplicatedLog.AllowOutdatedPromotionOnce)";
        }

        if (AwaitingSnapshot)
        {
            return $"this node waits for the owner's snapshot: a divergence cut entries its state machine already holds (in its local snapshot), or its log cannot continue the owner's, and only the owner's snapshot can replace that state; promoting it would serve a state that is not the group's history. Let it install the owner's snapshot, or force it (hakit takeover --force / ReplicatedLog.AllowOutdatedPromotionOnce)";
        }

        if (MaxLagOnFailover is { } max && KnownLagEntries > max)
        {
            return $"this node lags the owner by {KnownLagEntries} entries (the owner's acknowledged index last heard is {KnownOwnerAcknowledged}, this node holds up to {_log.Last.Index}), more than MaxLagOnFailover = {max}; promoting it would lose those writes. Let it catch up, or force it (hakit takeover --force / ReplicatedLog.AllowOutdatedPromotionOnce)";
        }

        if (MaxLagOnFailoverBytes is { } maxBytes && KnownLagBytes > maxBytes)
        {
            return $"this node lags the owner by {KnownLagBytes} bytes of entries (the owner's acknowledged index last heard is {KnownOwnerAcknowledged}, this node holds up to {_log.Last.Index}), more than MaxLagOnFailoverBytes = {maxBytes} bytes; promoting it would lose those writes. Let it catch up, or force it (hakit takeover --force / ReplicatedLog.AllowOutdatedPromotionOnce)";
        }

        return null;
    }

    /// <summary>Standby: the byte lag an append from the owner tells (see <see cref="KnownLagBytes"/>).</summary>
    private void NoteLagBytes(AppendMessage append, bool matched) =>
        _knownLagBytes = matched ? append.AcknowledgedBytesAhead : Math.Max(_knownLagBytes, append.AcknowledgedBytesAhead);

    /// <summary>Time passed (virtual or real; only differences count): an owner whose peer confirmed nothing for <see cref="DegradeAfter"/> degrades.</summary>
    public void Tick(TimeSpan now)
    {
        ResendIfNoProgress(now);
        PersistKnownLagIfChanged();
        if (Role != ReplicaRole.Owner || DegradeAfter is not { } after || PeerConfirmed >= _durable)
        {
            _waitSince = null;
            return;
        }

        if (_waitSince is null || PeerConfirmed != _waitPeerConfirmed)
        {
            _waitSince = now;
            _waitPeerConfirmed = PeerConfirmed;
            return;
        }

        if (!Degraded && now - _waitSince.Value >= after)
        {
            Degraded = true;
            MarkPeerIfLagging();
            UpdateAcknowledged();
        }
    }

    /// <summary>The owner acknowledges up to <paramref name="upTo"/>: mark the peer first if it does not hold it.</summary>
    private void BeforeAcknowledge(long upTo)
    {
        if (upTo > PeerConfirmed && MarkRequired)
        {
            MarkPeer(upTo);
        }
    }

    private bool MarkRequired => Degraded || (Mode == ReplicationMode.Async && !_peerConnected);

    private void MarkPeerIfLagging()
    {
        if (Role == ReplicaRole.Owner && Acknowledged > PeerConfirmed && MarkRequired)
        {
            MarkPeer(Acknowledged);
        }
    }

    private void MarkPeer(long index)
    {
        if (PeerOutdatedAt == LogPosition.Zero)
        {
            PeerOutdatedAt = new LogPosition(_epoch, index);
            _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.PeerOutdated, PeerOutdatedAt));
            PublishPeerMark();
        }
    }

    /// <summary>Owner, after the peer confirmed more: it caught up with everything acknowledged, so the mark clears.</summary>
    private void ClearPeerMarkIfCaughtUp()
    {
        if (Role != ReplicaRole.Owner || !_peerConnected || PeerConfirmed < Acknowledged)
        {
            return;
        }

        Degraded = false;
        _waitSince = null;
        if (PeerOutdatedAt != LogPosition.Zero)
        {
            PeerOutdatedAt = LogPosition.Zero;
            _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.PeerOutdated, LogPosition.Zero));
            PublishPeerMark();
        }
    }

    /// <summary>Owner: ask the driver to publish the current mark (or its clearing) at the arbiter, after the local file.</summary>
    private void PublishPeerMark()
    {
        if (ArbiterMarks && Role == ReplicaRole.Owner)
        {
            _outputs.Add(new PublishMarkCommand(PeerOutdatedAt));
        }
    }

    /// <summary>Standby, on an accepted append: note the owner's position and whether it marked this node outdated.</summary>
    private void NoteOwnerPosition(AppendMessage append)
    {
        KnownOwnerAcknowledged = append.OwnerAcknowledged;
        KnownOwnerDurable = append.OwnerDurable >= 0 ? append.OwnerDurable : append.OwnerAcknowledged;

        // Until the append is matched (then NoteLagBytes sets it), this node holds at most the append's last entry.
        NoteLagBytes(append, matched: false);
        if (append.PeerOutdated)
        {
            if (OutdatedUntil.Epoch != append.Epoch || OutdatedUntil.Index < append.OwnerAcknowledged)
            {
                OutdatedUntil = new LogPosition(append.Epoch, append.OwnerAcknowledged);
                _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.Outdated, OutdatedUntil));
            }
        }
        else if (OutdatedUntil != LogPosition.Zero && append.Epoch >= OutdatedUntil.Epoch)
        {
            // The owner no longer marks this node: it confirmed this node holds everything it acknowledged.
            ClearOwnMark();
        }
    }

    /// <summary>Standby: the mark clears once this node holds (matched with the owner, durable) the position it names.</summary>
    private void ClearOwnMarkIfCaughtUp()
    {
        if (CatchUpUntil != LogPosition.Zero && Role != ReplicaRole.Owner && Math.Min(_durable, _matchIndex) >= CatchUpUntil.Index)
        {
            ClearCatchUp();
        }

        if (OutdatedUntil != LogPosition.Zero && Role != ReplicaRole.Owner && _ownerEpoch == OutdatedUntil.Epoch
            && Math.Min(_durable, _matchIndex) >= OutdatedUntil.Index)
        {
            ClearOwnMark();
        }
    }

    private void ClearCatchUp()
    {
        CatchUpUntil = LogPosition.Zero;
        _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.CatchUp, LogPosition.Zero));
    }

    private void ClearOwnMark()
    {
        OutdatedUntil = LogPosition.Zero;
        _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.Outdated, LogPosition.Zero));
    }

    /// <summary>This node owns the group now: its own outdated mark and what it heard of the old owner no longer apply.</summary>
    private void OwnMarksOnBecomingOwner()
    {
        // A mark on the peer restored from disk (or kept from an earlier ownership) is published again: the arbiter may not hold it.
        PeerMarkPublished = LogPosition.Zero;
        if (PeerOutdatedAt != LogPosition.Zero)
        {
            PublishPeerMark();
        }

        KnownOwnerAcknowledged = 0;
        KnownOwnerDurable = 0;
        _knownLagBytes = 0; // else the byte lag heard as a standby stayed on disk and a later restart as standby restored it
        PersistKnownLagIfChanged();
        Degraded = false;
        _waitSince = null;
        if (OutdatedUntil != LogPosition.Zero)
        {
            ClearOwnMark();
        }

        if (CatchUpUntil != LogPosition.Zero)
        {
            ClearCatchUp();
        }
    }

    /// <summary>This node follows an owner of a newer epoch than its mark on the peer: that history replaces its own, the mark is void.</summary>
    private void DropPeerMarkOnFollowing(long ownerEpoch)
    {
        if (PeerOutdatedAt != LogPosition.Zero && ownerEpoch > PeerOutdatedAt.Epoch)
        {
            PeerOutdatedAt = LogPosition.Zero;
            _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.PeerOutdated, LogPosition.Zero));
        }
    }
}
