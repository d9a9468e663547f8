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
                // Everything up to the base is in this node's snapshot: continue after it.
                Send(new RejectMessage(SeenEpoch, RejectReason.Mismatch, _log.Base.Index));
                return;
            }

            foreach (var entry in append.Batch)
            {
                if (entry.Index == _log.Base.Index && entry.Epoch != _log.Base.Epoch)
                {
                    NeedSnapshot(_log.Base.Index + 1);
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
                NeedSnapshot(prev.Index);
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
            NeedSnapshot(_log.Base.Index + 1);
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
                _awaitingSnapshot = true;
                Send(new RejectMessage(SeenEpoch, RejectReason.NeedSnapshot));
                return false;
            }
        }

        return true;
    }

    private void NeedSnapshot(long divergedFrom)
    {
        if (divergedFrom <= _log.Last.Index && divergedFrom > _log.Base.Index)
        {
            var removed = _log.TruncateAfter(divergedFrom - 1);
            _outputs.Add(new TruncateLogCommand(_log.Last));
            _outputs.Add(new DivergedCommand(new DivergedEntries(DivergenceKind.Conflict, removed, _ownerEpoch)));
            _durable = Math.Min(_durable, divergedFrom - 1);
            _persistRequested = Math.Min(_persistRequested, divergedFrom - 1);
        }

        _awaitingSnapshot = true;
        Send(new RejectMessage(SeenEpoch, RejectReason.NeedSnapshot));
    }
}
