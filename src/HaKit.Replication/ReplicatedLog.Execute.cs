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
        for (var i = 0; i < outputs.Count; i++)
        {
            switch (outputs[i])
            {
                case PersistEntriesCommand persist:
                    _segments.Append(_core.Log.Range(persist.FromIndex, persist.ToIndex));
                    _written = persist.ToIndex;
                    RequestFlush();
                    break;
                case SendCommand send:
                    _peerSend?.Invoke(send.Message);
                    break;
                case AcknowledgeCommand ack:
                    var acknowledged = 0;
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
                    var local = _snapshots.LoadLatest();
                    await RestoreAsync(_stateMachine, local.Data, cancellationToken).ConfigureAwait(false);
                    _smApplied = local.Position.Index;
                    ApplyUpTo(restore.UpToIndex);
                    break;
                case SendSnapshotCommand sendSnapshot:
                    var latest = _snapshots.LoadLatest();
                    _peerSend?.Invoke(new SnapshotMessage(sendSnapshot.Epoch, latest.Position, latest.Data));
                    break;
                case InstallSnapshotCommand install:
                    _snapshots.Save(new SnapshotData(install.Position, install.Data));
                    await RestoreAsync(_stateMachine, install.Data, cancellationToken).ConfigureAwait(false);
                    _segments.Reset(install.Position);
                    _written = install.Position.Index;
                    _smApplied = install.Position.Index;
                    _core.SnapshotInstalled(install.Position);
                    _metrics.SnapshotInstalled();
                    ReplicationLog.SnapshotInstalled(_logger, _options.Group, install.Position);
                    RaiseStatus();
                    break;
                case CompactCommand compact:
                    _segments.Compact(compact.UpToIndex);
                    break;
                case PersistKnownLagCommand knownLag:
                    OutdatedFile.Write(_options.Directory, OutdatedFile.KnownLag, knownLag.OwnerAcknowledged);
                    break;
                case PublishMarkCommand publish:
                    WantMark(publish.Position);
                    break;
                case PersistMarkCommand mark:
                    OutdatedFile.Write(_options.Directory, mark.Name, mark.Position);
                    ReplicationLog.Mark(_logger, _options.Group, mark.Name, mark.Position == LogPosition.Zero ? "cleared" : "set", mark.Position);
                    RaiseStatus();
                    break;
            }
        }

        outputs.Clear();
        _ownerForMarks = _core.Role == ReplicaRole.Owner;
    }
}
