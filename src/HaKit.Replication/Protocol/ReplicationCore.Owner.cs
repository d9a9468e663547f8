namespace HaKit.Replication.Protocol;

/// <summary>The owner's side of the stream: batches sent, acknowledgements and rejections, resends, the acknowledged index.</summary>
internal sealed partial class ReplicationCore
{
    private void PumpOwner()
    {
        if (!_peerConnected)
        {
            return;
        }

        if (_snapshotInFlight)
        {
            PumpSnapshotChunk();
            return;
        }

        if (_awaitingReply)
        {
            return;
        }

        if ((_probe ? _peerNext : _sentUpTo + 1) <= _log.Base.Index)
        {
            // Compacted past the peer: it continues from the snapshot.
            StartSnapshotSend();
            PumpSnapshotChunk();
            return;
        }

        if (_probe)
        {
            // After (re)connecting or a mismatch: one batch (maybe empty) and wait for the answer before pipelining.
            _probe = false;
            _awaitingReply = true;
            SendBatch(_peerNext);
            return;
        }

        while (_sentUpTo < _log.Last.Index && _inFlightBytes < _maxInFlightBytes)
        {
            SendBatch(_sentUpTo + 1);
        }
    }

    private void SendBatch(long from)
    {
        var prev = from - 1;
        var prevPosition = new LogPosition(_log.EpochAt(prev), prev);
        if (from > _log.Last.Index)
        {
            _outputs.Add(new SendCommand(new AppendMessage(_epoch, prevPosition, RecordBatch.Empty, Acknowledged, PeerOutdatedAt != LogPosition.Zero, _ownerEarlierEpochs,
                BytesAhead(prev), _durable)));
            _sentUpTo = prev;
            return;
        }

        var to = from;
        long bytes = _log.Get(from).Data.Length;
        while (to < _log.Last.Index)
        {
            var next = _log.Get(to + 1).Data.Length;
            if (bytes + next > _maxBatchBytes || _inFlightBytes + bytes + next > _maxInFlightBytes)
            {
                break;
            }

            to++;
            bytes += next;
        }

        _outputs.Add(new SendCommand(new AppendMessage(_epoch, prevPosition, RecordBatch.Encode(_log.Range(from, to)), Acknowledged,
            PeerOutdatedAt != LogPosition.Zero, _ownerEarlierEpochs, BytesAhead(to), _durable)));
        _sentUpTo = to;
        _inFlightBytes += bytes;
        _inFlight.Enqueue((to, bytes));
    }

    /// <summary>Owner: bytes of entry data acknowledged after <paramref name="index"/> (0 if none).</summary>
    private long BytesAhead(long index) => Acknowledged > index ? _log.OffsetAt(Acknowledged) - _log.OffsetAt(index) : 0;

    private void OnAck(AckMessage ack)
    {
        if (ack.Epoch > SeenEpoch)
        {
            Depose(ack.Epoch);
            return;
        }

        if (Role != ReplicaRole.Owner || ack.Epoch != _epoch)
        {
            return;
        }

        _noAnswerSince = null;
        _awaitingReply = false;
        if (_snapshotInFlight)
        {
            if (ack.Received < _sendPosition.Index)
            {
                // An ack from before the install (the standby's position did not move): the transfer goes on.
                PeerReceived = Math.Max(PeerReceived, ack.Received);
                PeerDurable = Math.Max(PeerDurable, Math.Min(ack.Durable, ack.Received));
                return;
            }

            EndSnapshotSend();
            ClearInFlight(ack.Received);
        }

        while (_inFlight.Count > 0 && _inFlight.Peek().LastIndex <= ack.Received)
        {
            _inFlightBytes -= _inFlight.Dequeue().Bytes;
        }

        PeerReceived = Math.Max(PeerReceived, ack.Received);
        _peerNext = Math.Max(_peerNext, ack.Received + 1);
        PeerDurable = Math.Max(PeerDurable, Math.Min(ack.Durable, ack.Received));
        if (_sentUpTo < ack.Received)
        {
            ClearInFlight(ack.Received);
        }

        ClearPeerMarkIfCaughtUp();
        UpdateAcknowledged();
    }

    private void ClearInFlight(long sentUpTo)
    {
        _inFlight.Clear();
        _inFlightBytes = 0;
        _sentUpTo = sentUpTo;
        _peerNext = sentUpTo + 1;
    }

    private void OnReject(RejectMessage reject)
    {
        if (reject.Epoch > SeenEpoch || (reject.Reason == RejectReason.StaleEpoch && reject.Epoch > _epoch))
        {
            Depose(reject.Epoch);
            return;
        }

        if (Role != ReplicaRole.Owner)
        {
            return;
        }

        _noAnswerSince = null;
        _awaitingReply = false;
        if (reject.Reason == RejectReason.NeedSnapshot)
        {
            // Appends that were on their way when the standby asked are answered the same way: a transfer under way goes on.
            if (!_snapshotInFlight)
            {
                StartSnapshotSend();
            }

            return;
        }

        var next = reject.LastIndex + 1;
        if (reject.ConflictEpoch > 0)
        {
            // Skip the whole conflicting epoch at once (Raft's fast back-up); always move back, so the search ends.
            var last = _log.LastIndexOfEpoch(reject.ConflictEpoch);
            next = last >= 0 ? Math.Min(next, last + 1) : Math.Min(next, reject.ConflictFirstIndex);
            next = Math.Min(next, _peerNext - 1);
        }

        next = Math.Clamp(next, 1, _log.Last.Index + 1);
        ClearInFlight(next - 1);
        _probe = true;
        PeerReceived = Math.Min(PeerReceived, next - 1);
    }

    private bool AcceptEpoch(long epoch)
    {
        if (epoch < SeenEpoch)
        {
            // A deposed owner: it must not write into the history of the newer epoch.
            Send(new RejectMessage(SeenEpoch, RejectReason.StaleEpoch));
            return false;
        }

        if (Role == ReplicaRole.Owner)
        {
            if (epoch == _epoch)
            {
                return false;
            }

            Depose(epoch);
        }

        SeeEpoch(epoch);
        if (epoch != _ownerEpoch)
        {
            // A partial snapshot of the previous owner's is never installed.
            DiscardIncomingSnapshot();
            _ownerEpoch = epoch;
            DropPeerMarkOnFollowing(epoch);
            _matchIndex = 0;
            _ackedReceived = _ackedDurable = -1;
        }

        return true;
    }

    private void Depose(long epoch)
    {
        SeeEpoch(epoch);
        if (Role == ReplicaRole.Owner)
        {
            BecomeStandby($"deposed: a newer owner has epoch {epoch}");
        }
    }

    private void SeeEpoch(long epoch)
    {
        if (epoch > SeenEpoch)
        {
            SeenEpoch = epoch;
            _outputs.Add(new PersistEpochCommand(epoch));
        }
    }

    /// <summary>Owner, on a tick: entries sent on the live stream that got no answer at all for <see cref="ResendAfter"/> are sent
    /// again from the peer's last acknowledged position (a probe first, as after a reconnect).</summary>
    private void ResendIfNoProgress(TimeSpan now)
    {
        // A snapshot in flight is not resent: a large one may take long, and sending it again would only start it over.
        var waiting = Role == ReplicaRole.Owner && _peerConnected && !_snapshotInFlight && (_awaitingReply || _sentUpTo > PeerReceived);
        if (ResendAfter is not { } after || !waiting)
        {
            _noAnswerSince = null;
            return;
        }

        if (_noAnswerSince is null)
        {
            _noAnswerSince = now;
            return;
        }

        if (now - _noAnswerSince.Value >= after)
        {
            Resends++;
            _noAnswerSince = now;
            ClearInFlight(PeerReceived);
            _probe = true;
            _awaitingReply = false;
        }
    }

    private void ResetPeerStream()
    {
        _noAnswerSince = null;
        ClearInFlight(_log.Last.Index);
        _probe = true;
        _awaitingReply = false;
        EndSnapshotSend();
    }

    private void UpdateAcknowledged()
    {
        var upTo = Mode switch
        {
            ReplicationMode.Async => _durable,
            // DRBD protocol B: written locally (handed to the OS by the driver, which executes the persist command before any
            // later command; group commit makes it durable soon after) and held by the peer. Lost only if the owner's host loses
            // power and the peer loses the entry too before its own write.
            ReplicationMode.Received => Math.Min(_persistRequested, PeerReceived),
            _ => Math.Min(_durable, PeerDurable),
        };
        if (Degraded)
        {
            upTo = _durable;
        }

        if (upTo > Acknowledged)
        {
            BeforeAcknowledge(upTo);
            if (AwaitingArbiterMark)
            {
                // Nothing the peer does not hold is acknowledged until the arbiter holds the mark (see ArbiterMarks).
                upTo = Math.Min(upTo, Math.Max(Acknowledged, PeerConfirmed));
            }
        }

        if (upTo > Acknowledged)
        {
            // Applied before the appends complete (the driver completes them off its loop): a writer whose append returned
            // reads its own write from the state machine at once (read-your-writes). The other order let a completion run
            // before the apply: ReplicatedLogTests.The_unreplicated_tail_... read null right after its acknowledged put.
            Acknowledged = upTo;
            Apply(upTo);
            _outputs.Add(new AcknowledgeCommand(upTo));
        }
    }
}
