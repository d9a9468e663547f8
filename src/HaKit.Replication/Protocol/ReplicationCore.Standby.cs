namespace HaKit.Replication.Protocol;

// The standby's side of the protocol: appends checked by log matching on (epoch, index), the divergence point found and the
// losing tail handed to the callback, and snapshot installs when the owner compacted past this node.
internal sealed partial class ReplicationCore
{
    private void OnAppend(AppendMessage append)
    {
        if (!AcceptEpoch(append.Epoch) || !CutOwnEntriesOfEpoch(append.Epoch) || !CutOwnEntriesOfSharedEpochs(append.OwnerEpochs))
        {
            return;
        }

        NoteOwnerPosition(append);
        if (_awaitingSnapshot)
        {
            // Its state machine holds entries a divergence cut: only the owner's snapshot can replace them; appends after the
            // cut would be applied over them (or not at all). The owner sends the snapshot once; a transfer under way goes on.
            Send(new RejectMessage(SeenEpoch, RejectReason.NeedSnapshot));
            return;
        }

        var prev = append.Prev;
        var last = append.LastIndex;
        if (prev.Index < _log.Base.Index)
        {
            // Entries at or below the base are in this node's snapshot; check the one at the base if the batch reaches it.
            if (last < _log.Base.Index)
            {
                if (append.Batch.Count == 0)
                {
                    // An empty append names the owner's last entry: its history ends below this node's base, so entries this node
                    // compacted into its snapshot are not in it (the owner lost them). Asking it to continue after the base would
                    // loop until the owner wrote past it; they are reported by range and the owner's snapshot replaces the state.
                    NeedSnapshot(0);
                    return;
                }

                // Everything up to the base is in this node's snapshot: continue after it.
                Send(new RejectMessage(SeenEpoch, RejectReason.Mismatch, _log.Base.Index));
                return;
            }

            foreach (var entry in append.Batch)
            {
                if (entry.Index == _log.Base.Index && entry.Epoch != _log.Base.Epoch)
                {
                    // The history diverged at or below the base: the entries there are compacted into the local snapshot.
                    NeedSnapshot(0);
                    return;
                }
            }

            prev = _log.Base;
        }

        if (prev.Index > _log.Last.Index)
        {
            Send(new RejectMessage(SeenEpoch, RejectReason.Mismatch, _log.Last.Index));
            return;
        }

        var localEpoch = _log.EpochAt(prev.Index);
        if (localEpoch != prev.Epoch)
        {
            if (prev.Index == _log.Base.Index)
            {
                NeedSnapshot(0);
                return;
            }

            Send(new RejectMessage(SeenEpoch, RejectReason.Mismatch, _log.Last.Index, localEpoch, _log.FirstIndexOfEpoch(localEpoch, prev.Index)));
            return;
        }

        var matchedBefore = _matchIndex;
        foreach (var entry in append.Batch)
        {
            if (entry.Index <= prev.Index)
            {
                continue;
            }

            if (entry.Index <= _log.Last.Index)
            {
                if (_log.EpochAt(entry.Index) == entry.Epoch)
                {
                    continue;
                }

                // Everything before the conflict matches the owner's history (prev matched, and the entries after it up to here):
                // if the node must now wait for a snapshot, an older one keeps them (SnapshotInstalled) instead of reporting them.
                _matchIndex = Math.Max(_matchIndex, entry.Index - 1);
                if (!Diverge(entry.Index, append.Epoch))
                {
                    return;
                }
            }

            _log.Add(entry);
        }

        _matchIndex = Math.Max(_matchIndex, Math.Max(last, prev.Index));
        NoteLagBytes(append, matched: true);
        ClearOwnMarkIfCaughtUp();
        if (append.Batch.Count == 0 || last <= matchedBefore)
        {
            // A probe, or entries this node already matched (the owner resent them: it heard nothing back): the peer's history
            // matches up to prev; force an ack so the owner learns it (an unchanged position would otherwise send nothing).
            _ackedReceived = -1;
        }
    }

    /// <summary>
    /// Following another owner in <paramref name="epoch"/>, an epoch this node owned itself (two owners were made in one epoch):
    /// the entries this node appended in it are not the other owner's, although they carry the same epoch, so they are cut and
    /// handed to the divergence callback before log matching compares positions. False if the node must now wait for a snapshot.
    /// </summary>
    private bool CutOwnEntriesOfEpoch(long epoch)
    {
        if (_ownedEpoch != epoch)
        {
            return true;
        }

        _ownedEpoch = 0;
        _outputs.Add(new PersistOwnedEpochCommand(0, 0, [.. _earlierOwned]));
        if (_log.Last.Index <= _ownedFrom)
        {
            return true;
        }

        if (_ownedFrom < _log.Base.Index)
        {
            // Some of its own entries are already in the local snapshot: only the owner's snapshot can replace them.
            NeedSnapshot(_ownedFrom + 1);
            return false;
        }

        return Diverge(_ownedFrom + 1, epoch);
    }

    /// <summary>Cuts the log from <paramref name="index"/> on; false if the node must now wait for a snapshot.</summary>
    private bool Diverge(long index, long ownerEpoch)
    {
        var removed = _log.TruncateAfter(index - 1);
        _outputs.Add(new TruncateLogCommand(_log.Last));
        if (removed.Count > 0)
        {
            _outputs.Add(new DivergedCommand(new DivergedEntries(DivergenceKind.Conflict, removed, ownerEpoch)));
            ForgetOwnEntriesFrom(index);
        }

        _durable = Math.Min(_durable, index - 1);
        _persistRequested = Math.Min(_persistRequested, index - 1);
        _matchIndex = Math.Min(_matchIndex, index - 1);
        LowerCatchUp(index - 1);
        if (_applied >= index)
        {
            if (_snapshot.Index < index)
            {
                // One restore per batch, to the lowest point: an earlier cut in the same input (its own entries of an epoch, then
                // log matching below them) asked to re-apply up to a point this cut has just removed (simulator seed 2426).
                _outputs.RemoveAll(static c => c is RestoreLocalSnapshotCommand);
                _outputs.Add(new RestoreLocalSnapshotCommand(index - 1));
                _applied = index - 1;
            }
            else
            {
                // The local snapshot holds the diverged state: only the owner's snapshot can replace it.
                AwaitSnapshot();
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The history diverges from <paramref name="divergedFrom"/> on and the local snapshot holds some of the diverged state: the
    /// log after the divergence point is cut and handed to the callback, and the node waits for the owner's snapshot. A point at or
    /// below the log's base (0: somewhere at or below it, not known where) means that entries of the losing history were compacted
    /// into the snapshot and are no longer on this node's disk: the callback is told so (<see cref="DivergedEntries.UnavailableThrough"/>)
    /// with whatever the log still holds after the base; they are never replaced unseen.
    /// </summary>
    private void NeedSnapshot(long divergedFrom)
    {
        var cutAfter = Math.Max(divergedFrom - 1, _log.Base.Index);
        List<LogEntry> removed = [];
        if (cutAfter < _log.Last.Index)
        {
            removed = _log.TruncateAfter(cutAfter);
            _outputs.Add(new TruncateLogCommand(_log.Last));
            _durable = Math.Min(_durable, cutAfter);
            _persistRequested = Math.Min(_persistRequested, cutAfter);
            _matchIndex = Math.Min(_matchIndex, cutAfter);
            LowerCatchUp(cutAfter);
        }

        var unavailable = divergedFrom <= _log.Base.Index && _log.Base.Index > 0;
        if (removed.Count > 0 || unavailable)
        {
            _outputs.Add(new DivergedCommand(new DivergedEntries(DivergenceKind.Conflict, removed, _ownerEpoch)
            {
                UnavailableFrom = unavailable && divergedFrom > 0 ? divergedFrom : null,
                UnavailableThrough = unavailable ? _log.Base : null,
            }));
        }

        AwaitSnapshot();
    }

    /// <summary>Waits for the owner's snapshot (persisted: a restarted node still waits) and asks the owner for it.</summary>
    private void AwaitSnapshot()
    {
        if (!_awaitingSnapshot)
        {
            _awaitingSnapshot = true;
            _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.AwaitingSnapshot, new LogPosition(Math.Max(1, _ownerEpoch), Math.Max(1, _log.Base.Index))));
        }

        Send(new RejectMessage(SeenEpoch, RejectReason.NeedSnapshot));
    }

    /// <summary>A cut after <paramref name="index"/>: entries beyond it are not the group's history, so the node need not hold them again.</summary>
    private void LowerCatchUp(long index)
    {
        if (CatchUpUntil.Index > index)
        {
            CatchUpUntil = index <= _log.Last.Index && Math.Min(_durable, _matchIndex) >= index ? LogPosition.Zero : CatchUpUntil with { Index = index };
            _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.CatchUp, CatchUpUntil));
        }
    }

    /// <summary>No longer waits for the owner's snapshot (installed, or the node took the group over).</summary>
    private void StopAwaitingSnapshot()
    {
        if (_awaitingSnapshot)
        {
            _awaitingSnapshot = false;
            _outputs.Add(new PersistMarkCommand(Storage.OutdatedFile.AwaitingSnapshot, LogPosition.Zero));
        }
    }

    /// <summary>A restarted node: it was waiting for the owner's snapshot (file <c>awaiting-snapshot</c>; Zero: it was not).</summary>
    public void RestoreAwaitingSnapshot(LogPosition awaiting) => _awaitingSnapshot = awaiting != LogPosition.Zero;
}
