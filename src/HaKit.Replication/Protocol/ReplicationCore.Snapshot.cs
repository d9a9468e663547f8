namespace HaKit.Replication.Protocol;

// Snapshot transfer in chunks (docs/replication.md, "Catch-up and resync"): when the owner compacted past its standby, or the
// standby's applied state is ahead of a divergence point, the owner sends its newest snapshot file in chunks of
// SnapshotChunkBytes, one at a time: the next chunk leaves once the standby acknowledged the previous one (a window of one
// chunk; appends wait until the install is done, as they did for a whole snapshot). Each chunk carries the snapshot's identity
// (the owner's epoch, the snapshot's position, the file's size), its offset and its CRC-32C. The standby writes the chunks to a
// temporary file; after the last one the driver syncs it, checks the whole file's CRC-32C (the file's own trailer), renames it
// into place and restores the state machine from it, then the core continues with appends after the snapshot's position.
// A chunk of another identity, a newer owner epoch, or this node taking the group over discards the partial file (never
// installed); a chunk that fails its checksum discards it too and the transfer starts over. A dropped stream keeps the partial
// file in this process: when the same owner sends the same snapshot again, the standby answers with the offset it holds and the
// transfer resumes there (a restart deletes the file: the transfer starts over). Stale epochs are refused like appends.
internal sealed partial class ReplicationCore
{
    // Owner: the transfer in progress (_snapshotInFlight) and whether the driver may hold the file open.
    private LogPosition _sendPosition;
    private long _sendTotal;
    private long _sendNext;
    private bool _chunkOutstanding;
    private bool _sendOpen;

    // Standby: it asked the owner for its snapshot (a divergence cut entries its state machine holds, or its log cannot continue
    // the owner's): appends are refused, the node is not promoted automatically and takes no snapshot of its own until installed.
    private bool _awaitingSnapshot;

    // Standby: the transfer being received.
    private bool _receiving;
    private long _recvEpoch;
    private LogPosition _recvPosition;
    private long _recvTotal;
    private long _recvNext;

    /// <summary>Standby: it waits for the owner's snapshot (its state machine holds entries a divergence cut, or its log cannot
    /// continue the owner's): it refuses appends and promotion, and takes no snapshot of its own, until one is installed.</summary>
    public bool AwaitingSnapshot => _awaitingSnapshot && Role != ReplicaRole.Owner;

    /// <summary>The size of the newest local snapshot's file (what a transfer sends).</summary>
    public long SnapshotBytes { get; private set; }

    /// <summary>Most snapshot bytes in one chunk. Default 1 MiB.</summary>
    public int SnapshotChunkBytes { get; set; } = 1 << 20;

    /// <summary>Owner: snapshot transfers started (each one from offset 0; a standby that holds part of it answers where to resume).</summary>
    public long SnapshotSendsStarted { get; private set; }

    /// <summary>Standby: snapshot chunks refused for a bad checksum or shape, and installs whose whole file failed its check.</summary>
    public long SnapshotChunksRefused { get; private set; }

    /// <summary>Standby: snapshots installed from the owner.</summary>
    public long SnapshotsInstalled { get; private set; }

    /// <summary>The snapshot transfer in progress: bytes the standby holds and the file's size (zeros: none). Owner: the transfer
    /// to the peer as the peer acknowledged it; standby: the transfer it receives.</summary>
    public (long Bytes, long Total) SnapshotTransfer =>
        Role == ReplicaRole.Owner
            ? (_snapshotInFlight ? (_sendNext, _sendTotal) : (0, 0))
            : (_receiving ? (_recvNext, _recvTotal) : (0, 0));

    /// <summary>Owner: the driver could not open the snapshot file being sent (a newer snapshot deleted it before the transfer
    /// opened it): the transfer starts over with the newest snapshot.</summary>
    /// <exception cref="InvalidOperationException">The newest snapshot itself cannot be opened.</exception>
    public void SnapshotUnavailable()
    {
        if (Role != ReplicaRole.Owner || !_snapshotInFlight)
        {
            return;
        }

        if (_sendPosition == _snapshot)
        {
            throw new InvalidOperationException($"the newest snapshot ({_snapshot}) cannot be opened to send it");
        }

        StartSnapshotSend();
        PumpSnapshotChunk();
    }

    /// <summary>
    /// Standby, the owner's snapshot file checked out but not yet installed: what installing it replaces, computed from the
    /// core's state without changing it. The driver hands <see cref="SnapshotInstallPlan.Diverged"/> to the callback while those
    /// entries are still on disk, writes <see cref="SnapshotInstallPlan.CatchUp"/>, makes the on-disk log what the plan says
    /// (<see cref="SnapshotInstallPlan.KeepsLog"/>, <see cref="SnapshotInstallPlan.ClearsLog"/>), and only then puts the file in
    /// place and calls <see cref="SnapshotInstalled(SnapshotInstallPlan, long)"/>. A crash at any point leaves a log its restart
    /// reads consistently (docs/replication.md, "Catch-up and resync"); a crash after the report reports those entries again.
    /// </summary>
    /// <param name="position">The snapshot's position.</param>
    /// <returns>The plan.</returns>
    public SnapshotInstallPlan PlanSnapshotInstall(LogPosition position)
    {
        var ownerEpoch = _receiving ? _recvEpoch : _ownerEpoch;
        var matchIndex = _matchIndex;
        if (_ownedEpoch != 0 && _ownedEpoch == ownerEpoch)
        {
            // Its own entries of that epoch are replaced below with everything not confirmed to match (nothing is, yet).
            matchIndex = Math.Min(matchIndex, _ownedFrom);
        }

        // Entries not confirmed to match the owner's history are replaced by its snapshot: the host hears about them.
        // An older snapshot than the log's base also replaces entries this node compacted into its own snapshot: those not
        // confirmed to match are reported by range (their data is no longer on disk).
        var keep = Math.Max(matchIndex, _log.Base.Index);
        var belowBase = position.Index < _log.Base.Index && matchIndex < _log.Base.Index;
        List<LogEntry> removed = _log.Last.Index > keep ? [.. _log.Range(keep + 1, _log.Last.Index)] : [];
        DivergedEntries? diverged = removed.Count > 0 || belowBase
            ? new DivergedEntries(DivergenceKind.ReplacedBySnapshot, removed, ownerEpoch)
            {
                UnavailableFrom = belowBase ? Math.Max(position.Index, matchIndex) + 1 : null,
                UnavailableThrough = belowBase ? _log.Base : null,
            }
            : null;

        // Entries after the snapshot's position that are confirmed to match the owner's history follow it there: they stay rather
        // than being dropped and resent. A node that had them durable must not go back below them: the owner counted them as held
        // (simulator seed 1623: a failback to it lost acknowledged entries).
        var keepThrough = new LogPosition(keep <= _log.Last.Index ? _log.EpochAt(keep) : _log.Last.Epoch, Math.Min(keep, _log.Last.Index));
        var keepsLog = position.Index >= _log.Base.Index && position.Index <= keepThrough.Index && _log.EpochAt(position.Index) == position.Epoch;
        var after = keepsLog ? keepThrough.Index : position.Index;

        // The owner's snapshot older than what this node held of the group's history (entries compacted into its own, now
        // replaced, snapshot): until it holds them again from the owner, promoting it would lose them (simulator seed 545).
        var catchUp = keep > after && keep > CatchUpUntil.Index ? new LogPosition(ownerEpoch, keep) : LogPosition.Zero;
        return new SnapshotInstallPlan(position, ownerEpoch, diverged, keepThrough, keepsLog, catchUp, _snapshot);
    }

    /// <summary>
    /// The driver installed the owner's snapshot following <paramref name="plan"/> (<see cref="PlanSnapshotInstall"/>): it reported
    /// the plan's diverged entries, made the on-disk log what the plan says, put the file in place and restored the state
    /// machine. With <see cref="SnapshotInstallPlan.KeepsLog"/> the entries kept after the snapshot stay on disk as they are (not
    /// written again; a flush makes them durable if they were not).
    /// </summary>
    /// <param name="plan">The plan the driver followed.</param>
    /// <param name="bytes">The size of the snapshot's file.</param>
    public void SnapshotInstalled(SnapshotInstallPlan plan, long bytes)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var position = plan.Position;
        _receiving = false;
        StopAwaitingSnapshot();
        if (_ownedEpoch != 0 && _ownedEpoch == plan.OwnerEpoch)
        {
            _ownedEpoch = 0;
            _outputs.Add(new PersistOwnedEpochCommand(0, 0, [.. _earlierOwned]));
            _matchIndex = Math.Min(_matchIndex, _ownedFrom);
        }

        if (_log.Last.Index > plan.KeepThrough.Index)
        {
            _log.TruncateAfter(plan.KeepThrough.Index);
        }

        List<LogEntry> kept = [];
        if (plan.KeepsLog && position.Index < _log.Last.Index)
        {
            kept.AddRange(_log.Range(position.Index + 1, _log.Last.Index));
        }

        var durableBefore = _durable;
        var writtenBefore = _persistRequested;
        _log.Reset(position, kept);
        _snapshot = position;
        SnapshotBytes = bytes > 0 ? bytes : Storage.SnapshotStore.EmptyFileBytes;
        SnapshotsInstalled++;
        _durable = _persistRequested = _applied = position.Index;
        if (plan.KeepsLog)
        {
            // Still on disk as written: not written again; durable as far as a flush covered them already.
            _persistRequested = Math.Max(position.Index, Math.Min(writtenBefore, _log.Last.Index));
            _durable = Math.Max(position.Index, Math.Min(durableBefore, _persistRequested));
        }

        _matchIndex = _log.Last.Index;
        if (plan.CatchUp != LogPosition.Zero && plan.CatchUp.Index > CatchUpUntil.Index)
        {
            CatchUpUntil = plan.CatchUp;
            _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.CatchUp, CatchUpUntil));
        }

        _ackedReceived = _ackedDurable = -1;
        ClearOwnMarkIfCaughtUp();
    }

    /// <summary>The incoming snapshot file did not check out (the driver deleted it; the old state is intact): the owner is asked
    /// to send it again, from the start.</summary>
    public void SnapshotInstallFailed()
    {
        _receiving = false;
        SnapshotChunksRefused++;
        Send(new SnapshotChunkAckMessage(_ownerEpoch, _recvPosition, 0));
    }

    private void StartSnapshotSend()
    {
        EndSnapshotSend();
        _snapshotInFlight = true;
        _sendPosition = _snapshot;
        _sendTotal = SnapshotBytes;
        _sendNext = 0;
        _chunkOutstanding = false;
        SnapshotSendsStarted++;
    }

    private void PumpSnapshotChunk()
    {
        if (!_peerConnected || _chunkOutstanding || _sendNext >= _sendTotal)
        {
            return;
        }

        var count = (int)Math.Min(SnapshotChunkBytes, _sendTotal - _sendNext);
        _chunkOutstanding = true;
        _sendOpen = true;
        _outputs.Add(new SendSnapshotChunkCommand(_epoch, _sendPosition, _sendNext, count, _sendTotal));
    }

    private void EndSnapshotSend()
    {
        _snapshotInFlight = false;
        _chunkOutstanding = false;
        if (_sendOpen)
        {
            _sendOpen = false;
            _outputs.Add(new EndSnapshotSendCommand());
        }
    }

    private void OnSnapshotChunkAck(SnapshotChunkAckMessage ack)
    {
        if (ack.Epoch > SeenEpoch)
        {
            Depose(ack.Epoch);
            return;
        }

        if (Role != ReplicaRole.Owner || ack.Epoch != _epoch || !_snapshotInFlight || ack.Position != _sendPosition)
        {
            return;
        }

        _noAnswerSince = null;
        _chunkOutstanding = false;
        _sendNext = Math.Clamp(ack.NextOffset, 0, _sendTotal);
    }

    private void OnSnapshotChunk(SnapshotChunkMessage chunk)
    {
        if (!AcceptEpoch(chunk.Epoch))
        {
            return;
        }

        if (chunk.Data.Length == 0 || chunk.Offset < 0 || chunk.Offset + chunk.Data.Length > chunk.TotalBytes
            || Storage.Crc32C.Compute(chunk.Data.Span) != chunk.Crc)
        {
            // Damaged on the way (or a buggy sender): what was written of this transfer is not trusted either; start over.
            SnapshotChunksRefused++;
            DiscardIncomingSnapshot();
            Send(new SnapshotChunkAckMessage(_ownerEpoch, chunk.Position, 0));
            return;
        }

        var same = _receiving && _recvEpoch == chunk.Epoch && _recvPosition == chunk.Position && _recvTotal == chunk.TotalBytes;
        if (!same)
        {
            if (chunk.Offset != 0)
            {
                // The middle of a transfer this node does not hold (it restarted, or discarded it): from the start.
                Send(new SnapshotChunkAckMessage(_ownerEpoch, chunk.Position, 0));
                return;
            }

            DiscardIncomingSnapshot();
            _receiving = true;
            _recvEpoch = chunk.Epoch;
            _recvPosition = chunk.Position;
            _recvTotal = chunk.TotalBytes;
            _recvNext = 0;
        }
        else if (chunk.Offset != _recvNext)
        {
            // A duplicate, a gap, or the owner starting over a transfer this node holds part of: continue where it holds it.
            Send(new SnapshotChunkAckMessage(_ownerEpoch, chunk.Position, _recvNext));
            return;
        }

        _outputs.Add(new WriteSnapshotChunkCommand(chunk.Position, chunk.Offset, chunk.Data));
        _recvNext += chunk.Data.Length;
        if (_recvNext < _recvTotal)
        {
            Send(new SnapshotChunkAckMessage(_ownerEpoch, chunk.Position, _recvNext));
            return;
        }

        _outputs.Add(new InstallSnapshotCommand(_recvPosition, _recvTotal));
    }

    private void DiscardIncomingSnapshot()
    {
        if (_receiving)
        {
            _receiving = false;
            _outputs.Add(new DiscardSnapshotCommand());
        }
    }
}
