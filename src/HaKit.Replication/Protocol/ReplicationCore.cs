namespace HaKit.Replication.Protocol;

/// <summary>
/// The replication protocol of one group on one node, as a deterministic state machine: inputs are method calls (messages, disk
/// completions, role changes, appends), outputs are <see cref="ReplicationCommand"/>s in <see cref="Outputs"/>. No I/O, no clock,
/// no threads: the driver (<see cref="ReplicatedLog"/>) executes the commands and feeds the results back. The driver calls
/// <see cref="Pump"/> after each batch of inputs; that is where writes and sends are batched.
/// </summary>
internal sealed partial class ReplicationCore
{
    private readonly MemoryLog _log = new();
    private readonly List<ReplicationCommand> _outputs = [];
    private readonly long _maxBatchBytes;
    private readonly long _maxInFlightBytes;

    // Both roles.
    private long _persistRequested;
    private long _durable;
    private long _applied;
    private LogPosition _snapshot;

    // Owner.
    private long _epoch;

    // The epoch this node owned last (persisted, file `owned`) and the log's last index when it took that epoch (its own entries of that
    // epoch follow it). Two nodes can be made owner in one epoch (HaKit's view of the epoch on one of them lagging what the
    // replication stream already showed it, or both claiming at once): entries with the same (epoch, index) may then differ,
    // which log matching cannot see. So a node never owns an epoch in which it followed another owner, and a node that follows
    // another owner in an epoch it owned itself cuts its own entries of that epoch first.
    private long _ownedEpoch;
    private long _ownedFrom;
    private bool _peerConnected;
    private long _peerNext;
    private long _sentUpTo;
    private long _inFlightBytes;
    private bool _probe;
    private bool _awaitingReply;
    private bool _snapshotInFlight;
    private readonly Queue<(long LastIndex, long Bytes)> _inFlight = new();

    // Owner: since when entries (or a probe) sent on the live stream wait for any answer (null: nothing waits, or an answer came).
    private TimeSpan? _noAnswerSince;

    // Standby.
    private long _matchIndex;
    private long _ackedReceived = -1;
    private long _ackedDurable = -1;
    private long _ownerEpoch;

    /// <summary>Creates the core over the state recovered from disk.</summary>
    /// <param name="mode">The group's replication mode.</param>
    /// <param name="snapshot">The newest snapshot's position (the state machine was restored from it).</param>
    /// <param name="entries">The durable entries after <paramref name="logBase"/> (those up to the snapshot are in it already).</param>
    /// <param name="seenEpoch">The highest epoch this node has seen (persisted).</param>
    /// <param name="maxBatchBytes">Most entry bytes in one append message.</param>
    /// <param name="maxInFlightBytes">Most entry bytes sent and not yet acknowledged as received (flow control).</param>
    /// <param name="owned">The epochs this node owned and the index its own entries of each follow (persisted; zeros if none).</param>
    /// <param name="snapshotBytes">The size of the newest snapshot's file (what a transfer sends); 0: the empty snapshot's.</param>
    /// <param name="logBase">The position <paramref name="entries"/> follow: the compaction point, at or below
    /// <paramref name="snapshot"/> (<see langword="null"/>: the snapshot's). The entries between the two are in the snapshot
    /// already, but a later history may still cut them: held in the log, they are cut and handed to the divergence callback.</param>
    /// <exception cref="ArgumentException"><paramref name="logBase"/> is above the snapshot, or the log holds another entry at the
    /// snapshot's index.</exception>
    public ReplicationCore(ReplicationMode mode, LogPosition snapshot, IEnumerable<LogEntry> entries, long seenEpoch, long maxBatchBytes, long maxInFlightBytes,
        OwnedEpochs owned = default, long snapshotBytes = 0, LogPosition? logBase = null)
    {
        SnapshotBytes = snapshotBytes > 0 ? snapshotBytes : Storage.SnapshotStore.EmptyFileBytes;
        RestoreOwned(owned);
        Mode = mode;
        _maxBatchBytes = maxBatchBytes;
        _maxInFlightBytes = maxInFlightBytes;
        var start = logBase ?? snapshot;
        if (start.Index > snapshot.Index)
        {
            throw new ArgumentException($"the log's base {start} is above the snapshot {snapshot}", nameof(logBase));
        }

        _log.Reset(start, entries);
        if (_log.Last.Index >= snapshot.Index && _log.EpochAt(snapshot.Index) != snapshot.Epoch)
        {
            // A log that ends below the snapshot is one a divergence cut while the node waits for the owner's snapshot
            // (RestoreAwaitingSnapshot): kept, so that what the owner's snapshot replaces is still handed to the callback.
            throw new ArgumentException($"the log from {start} to {_log.Last} does not hold the snapshot's position {snapshot}", nameof(entries));
        }

        _snapshot = snapshot;
        SeenEpoch = seenEpoch;
        _durable = _log.Last.Index;
        _persistRequested = _durable;
        _applied = snapshot.Index;
        Role = ReplicaRole.Standby;

        // Everything on disk is applied at start (what turns out to be diverged is rolled back and handed to the callback).
        Apply(_durable);
    }

    /// <summary>The group's replication mode.</summary>
    public ReplicationMode Mode { get; set; }

    /// <summary>This node's role.</summary>
    public ReplicaRole Role { get; private set; }

    /// <summary>The highest epoch seen (entries and messages from a lower one are refused).</summary>
    public long SeenEpoch { get; private set; }

    /// <summary>The owner's epoch while <see cref="Role"/> is <see cref="ReplicaRole.Owner"/>, else the epoch of the owner followed.</summary>
    public long Epoch => Role == ReplicaRole.Owner ? _epoch : _ownerEpoch;

    /// <summary>The log held in memory.</summary>
    public MemoryLog Log => _log;

    /// <summary>The last position in the log.</summary>
    public LogPosition Last => _log.Last;

    /// <summary>The highest index handed to the driver to write (written to the OS once the driver ran the persist command).</summary>
    public long Written => _persistRequested;

    /// <summary>The highest index durable on this node's disk.</summary>
    public long Durable => _durable;

    /// <summary>The highest index applied to the state machine.</summary>
    public long Applied => _applied;

    /// <summary>The highest index acknowledged to appenders (owner).</summary>
    public long Acknowledged { get; private set; }

    /// <summary>The highest index the peer holds (owner's view, this epoch).</summary>
    public long PeerReceived { get; private set; }

    /// <summary>The highest index durable on the peer (owner's view, this epoch).</summary>
    public long PeerDurable { get; private set; }

    /// <summary>Whether the peer's stream is up.</summary>
    public bool PeerConnected => _peerConnected;

    /// <summary>The position of the newest local snapshot.</summary>
    public LogPosition Snapshot => _snapshot;

    /// <summary>
    /// Owner: how long entries sent on a live stream may wait for any answer from the peer before they are sent again from the
    /// peer's last acknowledged position (<see cref="Tick"/>); <see langword="null"/>: never. A stream is reliable, so this
    /// recovers from a bug or a peer that dropped a message, not from the network; duplicates are ignored by the peer and answered.
    /// </summary>
    public TimeSpan? ResendAfter { get; set; }

    /// <summary>Owner: how many times sent entries were sent again because the peer answered nothing for <see cref="ResendAfter"/>.</summary>
    public long Resends { get; private set; }

    /// <summary>The commands produced since the driver last cleared the list.</summary>
    public List<ReplicationCommand> Outputs => _outputs;

    /// <summary>Takes the group over in <paramref name="epoch"/> (the group's fencing token from ownership).</summary>
    /// <returns><see langword="false"/> if <paramref name="epoch"/> is lower than an epoch already seen (nothing changes).</returns>
    public bool BecomeOwner(long epoch)
    {
        if (epoch < SeenEpoch || (epoch == SeenEpoch && Role == ReplicaRole.Owner))
        {
            return Role == ReplicaRole.Owner && epoch == _epoch;
        }

        if (epoch == SeenEpoch && _ownedEpoch != epoch)
        {
            // This epoch was seen from another owner (or before a restart): owning it too would put two different histories under
            // the same positions.
            return false;
        }

        SeeEpoch(epoch);
        if (_ownedEpoch != epoch)
        {
            KeepEarlierOwned();
            _ownedEpoch = epoch;
            _ownedFrom = _log.Last.Index;
            PersistOwned();
        }

        Role = ReplicaRole.Owner;
        _epoch = epoch;
        ComputeOwnerEarlierEpochs();
        Acknowledged = Math.Max(Acknowledged, _applied);
        PeerReceived = 0;
        PeerDurable = 0;
        _waitPeerConfirmed = -1;
        StopAwaitingSnapshot(); // a forced promotion: the operator takes the state as it is
        DiscardIncomingSnapshot();
        OwnMarksOnBecomingOwner();
        ResetPeerStream();
        return true;
    }

    /// <summary>Gives up ownership: waiting appends fail (they may or may not survive).</summary>
    /// <param name="reason">Why, for the failed appends.</param>
    public void BecomeStandby(string reason)
    {
        var wasOwner = Role == ReplicaRole.Owner;
        if (wasOwner)
        {
            _outputs.Add(new FailPendingCommand(Acknowledged, reason));
        }

        Role = ReplicaRole.Standby;
        EndSnapshotSend();
        Degraded = false;
        _waitSince = null;
        _matchIndex = 0;
        _ackedReceived = _ackedDurable = -1;
        if (wasOwner && _peerConnected)
        {
            // The peer may be a second owner of this node's epoch, whose probe this node ignored while it owned the epoch (two
            // owners do not answer each other): tell it where this log ends so that it probes again instead of waiting forever.
            Send(new RejectMessage(SeenEpoch, RejectReason.Mismatch, _log.Last.Index));
        }
    }

    /// <summary>Appends an entry (owner): persisted and sent at the next <see cref="Pump"/>.</summary>
    /// <returns>The entry's position.</returns>
    /// <exception cref="InvalidOperationException">This node is not the owner.</exception>
    public LogPosition Append(ReadOnlyMemory<byte> data)
    {
        if (Role != ReplicaRole.Owner)
        {
            throw new InvalidOperationException("only the owner appends");
        }

        var position = new LogPosition(_epoch, _log.Last.Index + 1);
        _log.Add(new LogEntry(position, data));
        return position;
    }

    /// <summary>An fdatasync covered the log up to <paramref name="index"/>.</summary>
    public void LocalDurable(long index)
    {
        _durable = Math.Max(_durable, Math.Min(index, _log.Last.Index));
        if (Role == ReplicaRole.Owner)
        {
            UpdateAcknowledged();
        }
        else
        {
            Apply(_durable);
            ClearOwnMarkIfCaughtUp();
        }
    }

    /// <summary>The peer's stream came up.</summary>
    public void PeerUp()
    {
        _peerConnected = true;
        if (Role == ReplicaRole.Owner)
        {
            ResetPeerStream();
        }
        else
        {
            _ackedReceived = _ackedDurable = -1;
        }
    }

    /// <summary>The peer's stream went down.</summary>
    public void PeerDown()
    {
        _peerConnected = false;
        ResetPeerStream();
        MarkPeerIfLagging();
    }

    /// <summary>The driver wrote a snapshot of the state machine at <paramref name="position"/>: compact what is safe to.</summary>
    /// <param name="position">The snapshot's position.</param>
    /// <param name="bytes">The size of its file (what a transfer sends); 0: unknown to a test, taken as the empty snapshot's.</param>
    public void SnapshotTaken(LogPosition position, long bytes = 0)
    {
        _snapshot = position;
        SnapshotBytes = bytes > 0 ? bytes : Storage.SnapshotStore.EmptyFileBytes;

        // The owner keeps what its peer has not confirmed durable: if this node's history diverges later, the cut entries are
        // still in the log for the divergence callback, and a lagging peer catches up without a snapshot. A standby keeps what
        // it does not know to be in the owner's acknowledged history (matched with the owner, and at or below the owner's
        // acknowledged index it heard): entries it applied that a later owner's history does not hold (an owner that crashed
        // before its own fdatasync and was promoted again without them) must still be in its log to be cut and handed to the
        // divergence callback; compacted into its snapshot they would be replaced by the owner's snapshot unseen. In Received
        // mode the owner acknowledges before its own fdatasync, so the standby also keeps what the owner has not made durable
        // (OwnerHistoryKept): the owner could still lose it, win a split brain without it, and the cut must carry its data.
        var upTo = Role == ReplicaRole.Owner
            ? Math.Min(position.Index, PeerDurable)
            : Math.Min(position.Index, Math.Min(_matchIndex, OwnerHistoryKept));
        if (upTo > _log.Base.Index)
        {
            _log.DropThrough(upTo);
            _outputs.Add(new CompactCommand(upTo));
        }
    }

    /// <summary>Standby: the last index it knows the owner's history keeps whatever happens to the owner: its acknowledged index,
    /// and in Received mode no more than its durable index (acknowledged, not yet fdatasynced, can still be lost).</summary>
    private long OwnerHistoryKept => Mode == ReplicationMode.Received ? Math.Min(KnownOwnerAcknowledged, KnownOwnerDurable) : KnownOwnerAcknowledged;

    /// <summary>A message from the peer.</summary>
    public void Receive(ReplicationMessage message)
    {
        switch (message)
        {
            case AppendMessage append:
                OnAppend(append);
                break;
            case AckMessage ack:
                OnAck(ack);
                break;
            case RejectMessage reject:
                OnReject(reject);
                break;
            case SnapshotChunkMessage chunk:
                OnSnapshotChunk(chunk);
                break;
            case SnapshotChunkAckMessage chunkAck:
                OnSnapshotChunkAck(chunkAck);
                break;
        }
    }

    /// <summary>Emits the batched work: entries to persist, entries to send (within the flow-control budget), acks.</summary>
    public void Pump()
    {
        if (_persistRequested < _log.Last.Index)
        {
            _outputs.Add(new PersistEntriesCommand(_persistRequested + 1, _log.Last.Index));
            _persistRequested = _log.Last.Index;
        }

        if (Role == ReplicaRole.Owner)
        {
            PumpOwner();
        }
        else if (_peerConnected && _ownerEpoch > 0)
        {
            var durable = Math.Min(_durable, _matchIndex);
            if (_matchIndex != _ackedReceived || durable != _ackedDurable)
            {
                _ackedReceived = _matchIndex;
                _ackedDurable = durable;
                _outputs.Add(new SendCommand(new AckMessage(_ownerEpoch, _matchIndex, durable)));
            }
        }
    }

    private void Apply(long upTo)
    {
        if (upTo > _applied)
        {
            _applied = upTo;
            _outputs.Add(new ApplyCommand(upTo));
        }
    }

    private void Send(ReplicationMessage message) => _outputs.Add(new SendCommand(message));
}
