using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Replication;

/// <summary>Executing the protocol core's commands (writes, flushes, sends, applies, snapshots, completions).</summary>
public sealed partial class ReplicatedLog
{
    private async Task ExecuteAsync(CancellationToken cancellationToken)
    {
        var outputs = _core.Outputs;
        // The core asks for the write before the send (Received acknowledges what was written locally); the write is deferred
        // past the sends that follow it, up to the next other command, so that the peer's copy and the local write overlap: the
        // send leaves before the write's syscall (about 10 µs), and no acknowledgement can be handled before the write is issued
        // (acknowledgements are commands of this list after the write, or inputs of the loop after this call).
        PersistEntriesCommand? persistLater = null;
        for (var i = 0; i < outputs.Count; i++)
        {
            var command = outputs[i];
            if (command is PersistEntriesCommand later && persistLater is null)
            {
                persistLater = later;
                continue;
            }

            if (persistLater is not null && command is not SendCommand)
            {
                Persist(persistLater);
                persistLater = null;
                if (command is PersistEntriesCommand)
                {
                    persistLater = (PersistEntriesCommand)command;
                    continue;
                }
            }

            switch (command)
            {
                case SendCommand send:
                    if (ReplicationTrace.On)
                    {
                        ReplicationTrace.Mark(send.Message is AppendMessage ? 3 : send.Message is AckMessage { Durable: var d, Received: var r } && d == r ? 11 : 12,
                            send.Message is AppendMessage a ? a.LastIndex : send.Message is AckMessage k ? k.Received : 0);
                    }

                    _peerSend?.Invoke(send.Message);
                    break;
                case AcknowledgeCommand ack:
                    ReplicationTrace.Mark(19, ack.UpToIndex);
                    var acknowledged = 0;
                    if (_pending.Count > 0)
                    {
                        // The completions run on the thread pool and may run before this step ends: a writer whose append
                        // returned reads a status that already counts it.
                        _status = BuildStatus();
                        BeginCompletions(ack.UpToIndex - _pending.Peek().Position.Index + 1);
                    }

                    while (_pending.Count > 0 && _pending.Peek().Position.Index <= ack.UpToIndex)
                    {
                        Complete(_pending.Dequeue());
                        acknowledged++;
                    }

                    FlushCompletions();

                    _metrics.Acknowledged(acknowledged);
                    break;
                case ApplyCommand apply:
                    ApplyUpTo(apply.UpToIndex);
                    break;
                case PersistEpochCommand epoch:
                    EpochFile.Write(_options.Directory, epoch.Epoch);
                    break;
                case PersistOwnedEpochCommand owned:
                    OwnedEpochFile.Write(_options.Directory, owned.Epoch, owned.From, owned.Earlier);
                    break;
                case FailPendingCommand fail:
                    while (_pending.Count > 0)
                    {
                        var pending = _pending.Dequeue();
                        if (pending.Position.Index > fail.AfterIndex)
                        {
                            Fail(pending, new InvalidOperationException($"group {_options.Group}: entry {pending.Position.Index} was not acknowledged: {fail.Reason}; it may or may not survive"));
                        }
                    }

                    break;
                case TruncateLogCommand truncate:
                    if (truncate.NewLast.Index < _segments.FirstIndex - 1)
                    {
                        _segments.Reset(truncate.NewLast);
                    }
                    else
                    {
                        _segments.TruncateAfter(truncate.NewLast.Index, truncate.NewLast.Epoch);
                    }

                    _written = Math.Min(_written, truncate.NewLast.Index);
                    break;
                case DivergedCommand diverged:
                    ReportDiverged(diverged.Diverged);
                    break;
                case RestoreLocalSnapshotCommand restore:
                    var local = _snapshots.Latest();
                    _stateGeneration++;
                    await RestoreAsync(_stateMachine, local, cancellationToken).ConfigureAwait(false);
                    _smApplied = local.Position.Index;
                    ApplyUpTo(restore.UpToIndex);
                    break;
                case SendSnapshotChunkCommand chunk:
                    SendSnapshotChunk(chunk);
                    break;
                case EndSnapshotSendCommand:
                    CloseSnapshotSend();
                    break;
                case WriteSnapshotChunkCommand write:
                    if (write.Offset == 0)
                    {
                        ReplicationLog.SnapshotTransferStarted(_logger, _options.Group, write.Position, _core.SnapshotTransfer.Total);
                        RaiseStatus();
                    }

                    _snapshots.WriteIncoming(write.Offset, write.Data.Span);
                    _metrics.SnapshotBytesReceived(write.Data.Length);
                    break;
                case DiscardSnapshotCommand:
                    _snapshots.DiscardIncoming();
                    break;
                case InstallSnapshotCommand install:
                    await InstallSnapshotAsync(install, cancellationToken).ConfigureAwait(false);
                    break;
                case CompactCommand compact:
                    _segments.Compact(compact.UpToIndex);
                    break;
                case PersistKnownLagCommand knownLag:
                    KnownLagFile.Write(_options.Directory, knownLag.OwnerAcknowledged, knownLag.LagBytes);
                    break;
                case PublishMarkCommand publish:
                    WantMark(publish.Position);
                    break;
                case PersistMarkCommand mark:
                    OutdatedFile.Write(_options.Directory, mark.Name, mark.Position);
                    if (mark.Name is not OutdatedFile.AwaitingSnapshot and not OutdatedFile.CatchUp)
                    {
                        ReplicationLog.Mark(_logger, _options.Group, mark.Name, mark.Position == LogPosition.Zero ? "cleared" : "set", mark.Position);
                    }

                    RaiseStatus();
                    break;
            }
        }

        if (persistLater is not null)
        {
            Persist(persistLater);
        }

        outputs.Clear();
        _ownerForMarks = _core.Role == ReplicaRole.Owner;
        _paceFlushes = _core.Mode == ReplicationMode.Received && !_core.Degraded;
    }

    /// <summary>Owner: reads one chunk of the snapshot file being sent (kept open for the whole transfer: a newer snapshot may
    /// delete the file meanwhile) and sends it with its CRC-32C.</summary>
    private void SendSnapshotChunk(SendSnapshotChunkCommand chunk)
    {
        if (_sendingSnapshot is null || _sendingPosition != chunk.Position)
        {
            CloseSnapshotSend();
            _sendingSnapshot = _snapshots.OpenForSend(chunk.Position);
            _sendingPosition = chunk.Position;
            if (_sendingSnapshot is null)
            {
                _core.SnapshotUnavailable();
                return;
            }

            ReplicationLog.SnapshotSendStarted(_logger, _options.Group, chunk.Position, chunk.TotalBytes);
        }

        var data = new byte[chunk.Count];
        _sendingSnapshot.Position = chunk.Offset;
        _sendingSnapshot.ReadExactly(data);
        _metrics.SnapshotBytesSent(data.Length);
        _peerSend?.Invoke(new SnapshotChunkMessage(chunk.Epoch, chunk.Position, chunk.Offset, chunk.TotalBytes, data, Crc32C.Compute(data)));
    }

    private void CloseSnapshotSend()
    {
        _sendingSnapshot?.Dispose();
        _sendingSnapshot = null;
    }

    /// <summary>
    /// Standby: the incoming snapshot file is complete: checked and installed, or deleted and asked for again. The order makes a
    /// crash at any step leave a state the restart reads consistently (docs/replication.md, "Catch-up and resync"): what the
    /// snapshot replaces goes to the callback while it is still on disk; the catch-up mark is written; the log is cut to what
    /// the snapshot keeps (or emptied, continuing after the old snapshot) before the file is renamed into place; only then does
    /// the log start over after the new snapshot.
    /// </summary>
    private async Task InstallSnapshotAsync(InstallSnapshotCommand install, CancellationToken cancellationToken)
    {
        var checkedFile = _snapshots.CheckIncoming(install.Position, install.TotalBytes, out var problem);
        if (checkedFile is null)
        {
            ReplicationLog.SnapshotRefused(_logger, _options.Group, install.Position, problem ?? "");
            _core.SnapshotInstallFailed();
            return;
        }

        var plan = _core.PlanSnapshotInstall(install.Position);
        if (plan.Diverged is { } diverged)
        {
            ReportDiverged(diverged);
        }

        InstallStep?.Invoke(SnapshotInstallStep.Reported);
        if (plan.CatchUp != LogPosition.Zero)
        {
            OutdatedFile.Write(_options.Directory, OutdatedFile.CatchUp, plan.CatchUp);
        }

        if (plan.ClearsLog)
        {
            _segments.Reset(plan.PreviousSnapshot);
        }
        else if (plan.KeepThrough.Index < _segments.Last.Index)
        {
            _segments.TruncateAfter(plan.KeepThrough.Index, plan.KeepThrough.Epoch);
        }

        InstallStep?.Invoke(SnapshotInstallStep.LogCut);
        var installed = _snapshots.PublishIncoming(checkedFile);
        InstallStep?.Invoke(SnapshotInstallStep.Published);
        _stateGeneration++;
        await RestoreAsync(_stateMachine, installed, cancellationToken).ConfigureAwait(false);
        if (!plan.KeepsLog)
        {
            _segments.Reset(install.Position);
        }

        _written = _segments.Last.Index;
        _smApplied = install.Position.Index;
        _core.SnapshotInstalled(plan, installed.Bytes);
        if (plan.KeepsLog && plan.KeepThrough.Index > install.Position.Index)
        {
            // The entries kept after the snapshot are on disk as they were written; a flush makes them durable if they were not.
            RequestFlush();
        }

        _metrics.SnapshotInstalled();
        ReplicationLog.SnapshotInstalled(_logger, _options.Group, install.Position, installed.Bytes);
        RaiseStatus();
    }

    private void Persist(PersistEntriesCommand persist)
    {
        _segments.Append(_core.Log.Range(persist.FromIndex, persist.ToIndex));
        _written = persist.ToIndex;
        ReplicationTrace.Mark(_core.Role == ReplicaRole.Owner ? 2 : 7, persist.ToIndex);
        if (_core.Mode == ReplicationMode.Durable && _core.Role == ReplicaRole.Standby)
        {
            // A Durable standby's fdatasync is on the path of every acknowledgement: the loop makes the batch durable itself
            // at the end of its batch of inputs (FlushInline), without waking the flusher and hearing back from it.
            _flushInline = true;
        }
        else
        {
            RequestFlush();
        }
    }

    /// <summary>
    /// A Durable standby, after a batch of inputs: one fdatasync for everything it wrote (group commit: what arrives meanwhile
    /// waits in the loop's queue for the next batch), then its durable ack goes out at once.
    /// </summary>
    private async Task FlushInlineAsync()
    {
        _flushInline = false;
        ReplicationTrace.Mark(8, _written);
        var (generation, index) = _segments.Flush();
        ReplicationTrace.Mark(9, index);
        if (generation == _segments.Generation)
        {
            _core.LocalDurable(index);
        }

        _core.Pump();
        await ExecuteAsync(_stop.Token).ConfigureAwait(false);
    }
}
