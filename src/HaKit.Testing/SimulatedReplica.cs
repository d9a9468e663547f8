using System.Text;
using HaKit.Replication;
using HaKit.Replication.Arbiter;
using HaKit.Replication.Protocol;
using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>
/// The replication of the replicated group in one node's current process: the real <see cref="ReplicationCore"/> driven the way
/// <see cref="ReplicatedLog"/> drives it (each input, then the commands executed in order, then a pump), over the node's
/// <see cref="SimulatedReplicaDisk"/> and the simulated stream (<see cref="ReplicationWorld"/>). With
/// <see cref="ReplicationSimulationOptions.SnapshotEvery"/> set, each node snapshots its state machine (the entries it applied,
/// as records in the store's file format) every so many applied entries, the core compacts, and a node that needs the owner's
/// snapshot receives it in chunks (<see cref="ReplicationSimulationOptions.SnapshotChunkBytes"/>) over the simulated stream,
/// into a partial file that a crash loses, installed only once complete and checked; otherwise no snapshot is taken and the
/// snapshot commands never come. The state machine records what it applies.
/// </summary>
internal sealed partial class SimulatedReplica
{
    private readonly Simulation _sim;
    private readonly ReplicationWorld _world;
    private readonly SimulatedNode _node;
    private readonly SimulatedReplicaDisk _disk;
    private readonly Queue<(LogPosition Position, byte[] Data)> _pending = new();
    private long _smApplied;
    private List<LogEntry> _state = []; // the state machine: the entry applied at index k + 1 (snapshots need it after compaction)
    private List<LogEntry>? _installedState; // an installed snapshot's entries, reported to the world after the install's commands
    private (LogPosition Position, byte[] File)? _sending; // the snapshot file being sent (kept "open" for the transfer)
    private bool _flushing;
    private long _appended;
    private LogPosition? _markWanted; // the newest mark (or Zero: its clearing) the core asked to publish at the arbiter
    private LogPosition? _markDone; // the last one the arbiter confirmed (or dropped: no longer owner)
    private bool _markBusy; // a publish is on its way or waiting for its retry
    private bool _markFailing; // the last attempt failed (traced once per streak, as production logs it)

    public SimulatedReplica(Simulation sim, ReplicationWorld world, SimulatedNode node, SimulatedReplicaDisk disk)
    {
        _sim = sim;
        _world = world;
        _node = node;
        _disk = disk;
        var entries = new List<LogEntry>();
        var cut = disk.Recover(entries);
        world.Recovered(node, disk.LastIndex);
        sim.Record(node.Name, "repl", $"log recovered: {entries.Count} entries up to {(entries.Count > 0 ? entries[^1].Position : LogPosition.Zero)}{(cut > 0 ? $", torn tail of {cut} bytes cut" : "")}; epoch seen {disk.SeenEpoch}");
        var options = world.Options;
        var snapshot = disk.Snapshot;
        if (snapshot is { } s)
        {
            // ReplicatedLog.OpenAsync: the state machine restored from the newest snapshot, the log from its compaction point on
            // (the entries up to the snapshot are in it, but a later history may still cut them: the callback must see them).
            _state = SimulatedReplicaDisk.DecodeSnapshot(s.File, s.Position)
                ?? throw new InvalidOperationException($"node {node.Name}: the simulated snapshot at {s.Position} does not check out");
            _smApplied = s.Position.Index;
            if (disk.LastIndex < s.Position.Index && disk.AwaitingSnapshot == LogPosition.Zero)
            {
                // SegmentLog.Open: the snapshot is ahead of every record (its log was cut below it): start afresh after it. Kept
                // while the node waits for the owner's snapshot (keepShortLog): what that snapshot replaces goes to the callback.
                entries.Clear();
                disk.Reset(s.Position);
            }
        }

        Core = new ReplicationCore(options.Mode, snapshot?.Position ?? LogPosition.Zero, entries, disk.SeenEpoch, 1 << 20, 8L << 20, disk.Owned, snapshot?.File.Length ?? 0,
            logBase: disk.Base)
        {
            SnapshotChunkBytes = options.SnapshotChunkBytes,
            DegradeAfter = options.DegradeAfter,
            ResendAfter = ReplicatedLog.ResendAfter,
            ArbiterMarks = world.ArbiterMarks,
        };
        Core.RestoreMarks(disk.PeerOutdated, disk.Outdated);
        Core.RestoreAwaitingSnapshot(disk.AwaitingSnapshot);
        Core.RestoreCatchUp(disk.CatchUp);
        Execute();
    }

    public ReplicationCore Core { get; }

    /// <summary>The highest index this node's state machine applied.</summary>
    public long Applied => Core.Applied;

    /// <summary>The stream this process is connected on (0: none).</summary>
    public int StreamId { get; private set; }

    /// <summary>Starts the replica's timers: the core's tick (as <see cref="ReplicatedLog"/> sets it) and the workload.</summary>
    public void Start()
    {
        var tickEvery = ReplicatedLog.ResendAfter / 4;
        if (Core.DegradeAfter is { } degradeAfter)
        {
            tickEvery = TimeSpan.FromTicks(Math.Min(tickEvery.Ticks, Math.Clamp(degradeAfter.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(1).Ticks)));
        }

        ScheduleTick(tickEvery);
        ScheduleWorkload();
    }

    private void ScheduleTick(TimeSpan every) => _sim.Later(_node, _node.Clock.ToGlobalDuration(every), () =>
    {
        var wasDegraded = Core.Degraded;
        Core.Tick(_node.Clock.LocalNow);
        if (Core.Degraded && !wasDegraded)
        {
            _sim.Record(_node.Name, "repl", $"degraded: the peer confirmed nothing for {Core.DegradeAfter}; acknowledging alone");
        }

        Pump();
        ScheduleTick(every);
    });

    private void ScheduleWorkload() => _sim.Later(_node, _sim.Draw(_world.Options.AppendInterval), () =>
    {
        if (Core.Role == ReplicaRole.Owner)
        {
            var data = Encoding.UTF8.GetBytes($"{_node.Name}/{_node.Incarnation}/{++_appended}");
            var position = Core.Append(data);
            _pending.Enqueue((position, data));
            Pump();
        }

        ScheduleWorkload();
    });

    public void PeerUp(int stream)
    {
        StreamId = stream;
        Core.PeerUp();
        _sim.Record(_node.Name, "repl", $"stream {stream} up");
        Pump();
    }

    public void PeerDown(int stream)
    {
        if (StreamId != stream)
        {
            return;
        }

        StreamId = 0;
        Core.PeerDown();
        _sim.Record(_node.Name, "repl", $"stream {stream} down");
        Pump();
    }

    public void Receive(ReplicationMessage message)
    {
        var sharedCuts = Core.SharedEpochCuts;
        Core.Receive(message);
        if (Core.SharedEpochCuts != sharedCuts)
        {
            _sim.Record(_node.Name, "repl", $"two owners of one epoch: the owner (epoch {message.Epoch}) also wrote in epoch(s) {string.Join(", ", ((AppendMessage)message).OwnerEpochs)} this node wrote in; its own entries of it are cut");
        }

        Execute();
        Pump();
    }

    /// <summary>The resource's start (<see cref="ReplicationResource.StartAsync"/> over <see cref="ReplicatedLog.BecomeOwnerAsync"/>).</summary>
    public ResourceResult BecomeOwner(long epoch)
    {
        var fromStandby = Core.Role != ReplicaRole.Owner;
        var arbiterMarked = false;
        if (fromStandby && epoch >= Core.SeenEpoch)
        {
            // Ownership waits for data: everything this node holds is made durable and applied before it owns.
            Pump();
            var flush = _disk.BeginFlush();
            if (_disk.EndFlush(flush))
            {
                Core.LocalDurable(flush.Index);
            }

            Execute();
            string? arbiterRefusal;
            try
            {
                (arbiterRefusal, arbiterMarked) = ArbiterRefusal(epoch);
            }
            catch (OutdatedMarkStoreUnavailableException ex)
            {
                _sim.Record(_node.Name, "repl", $"cannot read its outdated mark at the arbiter before owning epoch {epoch}: {ex.Message}");
                return ResourceResult.Transient($"cannot own it in epoch {epoch}: the outdated mark at the arbiter cannot be read ({ex.Message}); whether this node is outdated is unknown");
            }

            if ((Core.PromotionRefusal() ?? arbiterRefusal) is { } refusal && !_world.PlantIgnoreRefusal)
            {
                _sim.Record(_node.Name, "repl", $"refuses to own epoch {epoch}: {refusal}");
                return ResourceResult.PermanentOnNode($"cannot own it in epoch {epoch}: {refusal}");
            }
        }

        var outdated = fromStandby ? _world.OutdatedByPeer(_node, Core) : null;
        if (!Core.BecomeOwner(epoch))
        {
            Execute();
            return epoch == Core.SeenEpoch
                ? ResourceResult.Transient($"cannot own it in epoch {epoch}: another node owns that epoch")
                : ResourceResult.PermanentOnNode($"cannot own it in epoch {epoch}: this node has seen epoch {Core.SeenEpoch}");
        }

        Execute();
        if (arbiterMarked && _world.MarksOf(_node) is { } marks)
        {
            // ReplicatedLog.ClearOwnArbiterMarkAsync: its own mark no longer applies (it owns the group); the outcome is only traced.
            _sim.CallMarkArbiter(_node, () => Complete(marks.ClearAsync(_world.Group, _node.Name, CancellationToken.None)),
                result => _sim.Record(_node.Name, "repl", $"own mark at the arbiter: {(result is true ? "cleared" : result is false ? "not cleared (not the holder there)" : "not cleared (arbiter unreachable)")}"));
        }

        if (fromStandby)
        {
            _world.Promoted(_node, epoch, outdated);
        }

        _sim.Record(_node.Name, "repl", $"owner in epoch {epoch} (log {Core.Last}, durable {Core.Durable})");
        return ResourceResult.Success;
    }

    /// <summary>The resource's stop (<see cref="ReplicatedLog.BecomeStandbyAsync"/>; no drain in the simulator).</summary>
    public ResourceResult BecomeStandby()
    {
        Core.BecomeStandby("this node gave the group up");
        Execute();
        Pump();
        return ResourceResult.Success;
    }

    /// <summary>The resource's monitor (<see cref="ReplicationResource.MonitorAsync"/>).</summary>
    public MonitorResult Monitor()
    {
        if (Core.Role != ReplicaRole.Owner)
        {
            return MonitorResult.NotRunning("the replicated log is not the owner");
        }

        if (Core.Degraded || Core.PeerOutdatedAt != LogPosition.Zero)
        {
            return MonitorResult.Degraded("writing without the peer; the peer is marked outdated until it catches up");
        }

        return Core.PeerConnected || Core.Mode == ReplicationMode.Async ? MonitorResult.Running : MonitorResult.Degraded("the peer is not connected");
    }

    /// <summary>The process dies: the unsynced tail of the log may be lost or torn.</summary>
    public void Crash()
    {
        var unsynced = _disk.Unsynced;
        if (unsynced == 0)
        {
            return;
        }

        var keep = 0;
        var torn = _sim.Chance(_world.Options.TornWrite);
        if (torn)
        {
            keep = 1 + _sim.Random.Next(unsynced);
        }

        _disk.Crash(keep);
        if (torn && keep > 0 && _sim.Random.Next(2) == 0)
        {
            _disk.Scramble(Math.Min(keep, 8), _sim.Random);
        }

        _sim.Record(_node.Name, "repl", $"crash: {unsynced - keep} unsynced bytes lost{(torn ? $", {keep} kept (torn)" : "")}");
    }

    private void Pump()
    {
        Execute();
        Core.Pump();
        Execute();
        MaybeSnapshot();
    }

    /// <summary><c>ReplicatedLog</c>'s automatic snapshot: every <see cref="ReplicationSimulationOptions.SnapshotEvery"/> applied
    /// entries, once they are durable (the driver makes them durable first; here the snapshot waits for the flush).</summary>
    private void MaybeSnapshot()
    {
        var every = _world.Options.SnapshotEvery;
        if (every <= 0 || _smApplied - Core.Snapshot.Index < every || Core.Durable < _smApplied || _smApplied > Core.Log.Last.Index || Core.AwaitingSnapshot)
        {
            return;
        }

        var position = new LogPosition(Core.Log.EpochAt(_smApplied), _smApplied);
        var file = SimulatedReplicaDisk.EncodeSnapshot(position, _state);
        _disk.Snapshot = (position, file);
        Core.SnapshotTaken(position, file.Length);
        _sim.Record(_node.Name, "repl", $"snapshot at {position} ({file.Length} bytes); log compacted to {Core.Log.Base}");
        Execute();
    }

    private void RequestFlush()
    {
        if (_flushing)
        {
            return;
        }

        _flushing = true;
        var flush = _disk.BeginFlush();
        var options = _world.Options;
        var duration = _sim.FaultsActive && _sim.Chance(options.SlowFsync) ? _sim.Draw(options.SlowFsyncDuration) : _sim.Draw(options.FsyncDuration);
        _sim.Later(_node, duration, () =>
        {
            _flushing = false;
            if (_disk.EndFlush(flush))
            {
                Core.LocalDurable(flush.Index);
            }

            if (_disk.LastIndex > flush.Index || flush.Generation != _disk.Generation)
            {
                RequestFlush();
            }

            Pump();
        });
    }

    private void Execute()
    {
        var outputs = Core.Outputs;
        for (var i = 0; i < outputs.Count; i++)
        {
            switch (outputs[i])
            {
                case PersistEntriesCommand persist:
                    _disk.Append(Core.Log.Range(persist.FromIndex, persist.ToIndex));
                    if (_world.PlantAckBeforeFsync)
                    {
                        // Planted bug: the write is reported durable before any fdatasync covers it.
                        Core.LocalDurable(persist.ToIndex);
                    }

                    RequestFlush();
                    break;
                case SendCommand send:
                    if (StreamId != 0)
                    {
                        _world.Send(_node, StreamId, send.Message);
                    }

                    break;
                case AcknowledgeCommand ack:
                    while (_pending.Count > 0 && _pending.Peek().Position.Index <= ack.UpToIndex)
                    {
                        var (position, data) = _pending.Dequeue();
                        _world.Acknowledged(_node, position, data, alone: Core.Degraded || Core.PeerOutdatedAt != LogPosition.Zero);
                    }

                    break;
                case ApplyCommand apply:
                    ApplyUpTo(apply.UpToIndex);
                    break;
                case PersistEpochCommand epoch:
                    _disk.SeenEpoch = epoch.Epoch;
                    break;
                case PersistOwnedEpochCommand owned:
                    _disk.Owned = new OwnedEpochs(owned.Epoch, owned.From, owned.Earlier);
                    break;
                case FailPendingCommand fail:
                    while (_pending.Count > 0)
                    {
                        _pending.Dequeue();
                    }

                    break;
                case TruncateLogCommand truncate:
                    _disk.TruncateAfter(truncate.NewLast.Index);
                    _sim.Record(_node.Name, "repl", $"log cut after {truncate.NewLast}");
                    break;
                case DivergedCommand diverged:
                    ReportDiverged(diverged.Diverged);
                    break;
                case RestoreLocalSnapshotCommand restore:
                    // The state machine restored from the newest snapshot (none: the empty state), then the log re-applied.
                    if (_disk.Snapshot is { } local)
                    {
                        _state = SimulatedReplicaDisk.DecodeSnapshot(local.File, local.Position)!;
                        _smApplied = local.Position.Index;
                    }
                    else
                    {
                        _state = [];
                        _smApplied = 0;
                    }

                    ApplyUpTo(restore.UpToIndex);
                    break;
                case PersistMarkCommand mark:
                    if (mark.Name == HaKit.Replication.Storage.OutdatedFile.PeerOutdated)
                    {
                        _disk.PeerOutdated = mark.Position;
                    }
                    else if (mark.Name == HaKit.Replication.Storage.OutdatedFile.AwaitingSnapshot)
                    {
                        _disk.AwaitingSnapshot = mark.Position;
                    }
                    else if (mark.Name == HaKit.Replication.Storage.OutdatedFile.CatchUp)
                    {
                        _disk.CatchUp = mark.Position;
                    }
                    else
                    {
                        _disk.Outdated = mark.Position;
                    }

                    _sim.Record(_node.Name, "repl", $"mark {mark.Name} {(mark.Position == LogPosition.Zero ? "cleared" : $"set at {mark.Position}")}");
                    break;
                case PublishMarkCommand publish:
                    WantMark(publish.Position);
                    break;
                case SendSnapshotChunkCommand chunk:
                    SendChunk(chunk);
                    break;
                case EndSnapshotSendCommand:
                    _sending = null;
                    break;
                case WriteSnapshotChunkCommand write:
                    if (write.Offset == 0)
                    {
                        _sim.Record(_node.Name, "repl", $"receiving the snapshot at {write.Position} ({Core.SnapshotTransfer.Total} bytes) in chunks");
                    }

                    _disk.WriteIncoming(write.Offset, write.Data.Span);
                    break;
                case DiscardSnapshotCommand:
                    _sim.Record(_node.Name, "repl", $"partial snapshot discarded ({_disk.IncomingLength} bytes)");
                    _disk.DiscardIncoming();
                    break;
                case InstallSnapshotCommand install:
                    Install(install);
                    break;
                case CompactCommand compact:
                    _disk.Compact(compact.UpToIndex);
                    break;
                default:
                    // Compaction (no snapshots here), and commands the simulator does not model (trace only).
                    if (outputs[i] is not CompactCommand)
                    {
                        _sim.Record(_node.Name, "repl", $"not simulated: {outputs[i]}");
                    }

                    break;
            }
        }

        outputs.Clear();
        if (_installedState is { } installed)
        {
            // The installed state's entries, as applied (after the divergence callback heard what the snapshot replaced).
            _installedState = null;
            foreach (var entry in installed)
            {
                _world.Applied(_node, entry);
            }
        }
    }

    /// <summary>The owner's driver: one chunk of the snapshot file being sent, with its CRC-32C.</summary>
    private void SendChunk(SendSnapshotChunkCommand chunk)
    {
        if (_sending?.Position != chunk.Position)
        {
            _sending = _disk.Snapshot is { } s && s.Position == chunk.Position ? s
                : chunk.Position == LogPosition.Zero ? (LogPosition.Zero, SimulatedReplicaDisk.EncodeSnapshot(LogPosition.Zero, [])) : null;
            if (_sending is null)
            {
                Core.SnapshotUnavailable();
                return;
            }

            _sim.Record(_node.Name, "repl", $"sending the snapshot at {chunk.Position} ({chunk.TotalBytes} bytes) in chunks of {Core.SnapshotChunkBytes}");
        }

        var data = _sending.Value.File.AsSpan((int)chunk.Offset, chunk.Count).ToArray();
        if (StreamId != 0)
        {
            _world.Send(_node, StreamId, new SnapshotChunkMessage(chunk.Epoch, chunk.Position, chunk.Offset, chunk.TotalBytes, data, HaKit.Replication.Storage.Crc32C.Compute(data)));
        }
    }

    /// <summary>The standby's driver: the complete incoming file is checked, made the newest snapshot, the state machine restored
    /// from it and the log reset after it; a file that does not check out is deleted and the owner asked again.</summary>
    private void Install(InstallSnapshotCommand install)
    {
        var file = _disk.TakeIncoming();
        var state = file.Length == install.TotalBytes ? SimulatedReplicaDisk.DecodeSnapshot(file, install.Position) : null;
        if (state is null)
        {
            _sim.Record(_node.Name, "repl", $"the snapshot at {install.Position} does not check out ({file.Length} of {install.TotalBytes} bytes): not installed");
            Core.SnapshotInstallFailed();
            return;
        }

        // ReplicatedLog.InstallSnapshotAsync's order: what the snapshot replaces is reported first, the catch-up mark written, the
        // log cut to what the snapshot keeps, the file put in place, the log started over after it unless the plan keeps it.
        var plan = Core.PlanSnapshotInstall(install.Position);
        if (plan.Diverged is { } diverged)
        {
            ReportDiverged(diverged);
        }

        if (plan.CatchUp != LogPosition.Zero)
        {
            _disk.CatchUp = plan.CatchUp;
        }

        _disk.Snapshot = (install.Position, file);
        if (plan.KeepsLog)
        {
            _disk.TruncateAfter(plan.KeepThrough.Index);
        }
        else
        {
            _disk.Reset(install.Position);
        }

        _state = state;
        _smApplied = install.Position.Index;
        _installedState = state;
        _world.SnapshotsInstalled++;
        _sim.Record(_node.Name, "repl", $"installed the owner's snapshot at {install.Position} ({file.Length} bytes){(plan.KeepsLog && plan.KeepThrough.Index > install.Position.Index ? $", log kept through {plan.KeepThrough}" : "")}");
        Core.SnapshotInstalled(plan, file.Length);
        if (plan.KeepsLog && plan.KeepThrough.Index > install.Position.Index)
        {
            RequestFlush();
        }
    }

    private void ReportDiverged(DivergedEntries diverged)
    {
        if (!_world.PlantDropDivergence)
        {
            _world.Diverged(_node, diverged);
        }

        _sim.Record(_node.Name, "repl", $"divergence callback: {diverged.Entries.Count} entries ({diverged.Kind}, owner epoch {diverged.OwnerEpoch})"
            + (diverged.UnavailableThrough is { } through ? $", and entries compacted into its snapshot from index {diverged.UnavailableFrom?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"} through {through}: not available" : ""));
    }

    /// <summary>The simulated arbiters answer synchronously (the delays are the simulator's): the result of a completed call.</summary>
    private static T Complete<T>(ValueTask<T> call) =>
        call.IsCompleted ? call.GetAwaiter().GetResult() : throw new InvalidOperationException("the simulated arbiter must answer synchronously");

    private void ApplyUpTo(long upTo)
    {
        if (upTo > Core.Log.Last.Index)
        {
            throw new InvalidOperationException($"node {_node.Name}: the core asks to apply up to index {upTo} (state machine at {_smApplied}) but its log ends at {Core.Log.Last}");
        }

        if (_state.Count > _smApplied)
        {
            _state.RemoveRange((int)_smApplied, _state.Count - (int)_smApplied);
        }

        for (var index = _smApplied + 1; index <= upTo; index++)
        {
            var entry = Core.Log.Get(index);
            _state.Add(entry);
            _world.Applied(_node, entry);
        }

        _smApplied = Math.Max(_smApplied, upTo);
    }
}
