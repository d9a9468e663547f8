using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Replication;

/// <summary>
/// The replicated log of one group on one node: the owner appends entries and awaits their acknowledgement in the group's
/// <see cref="ReplicationMode"/>; the standby receives, persists and applies them in order to the host's
/// <see cref="IReplicatedStateMachine"/>. One loop per group runs the deterministic protocol core and executes what it asks
/// (disk writes, sends, applies); a flusher makes writes durable with one fdatasync for every append waiting (group commit).
/// Connect it to the peer with a <see cref="ReplicationTransport"/> (gRPC).
/// </summary>
public sealed partial class ReplicatedLog : IAsyncDisposable
{
    private readonly ReplicationOptions _options;
    private readonly IReplicatedStateMachine _stateMachine;
    private readonly ILogger _logger;
    private readonly SegmentLog _segments;
    private readonly SnapshotStore _snapshots;
    private readonly ReplicationCore _core;
    private readonly Channel<object> _inputs = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    // No spinning before the flusher sleeps (SemaphoreSlim spins with sched_yield: 7 % of a pipelined run's CPU on 2 cores).
    private readonly ManualResetEventSlim _flushSignal = new(false, spinCount: 0);
    private readonly Queue<IAppend> _pending = new();
    private readonly ConcurrentQueue<PooledAppend> _appendPool = new();
    private readonly EntryArena _arena = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ReplicationMetrics _metrics;
    private Func<object, bool>? _peerSend;
    private Stream? _sendingSnapshot; // only the loop: the snapshot file being sent in chunks
    private LogPosition _sendingPosition;
    private long _appendedSinceMetrics;
    private long _smApplied;

    /// <summary>Bumped whenever the state machine's state is replaced by a restore: a background snapshot captured before it is
    /// not put in place.</summary>
    private long _stateGeneration;

    /// <summary>The background snapshot write in progress, if any (<see cref="IBackgroundSnapshots"/>).</summary>
    private Task<WrittenSnapshot>? _snapshotWrite;
    private long _written;
    private long _flushRequested;
    private long _lastFlushStart; // only the flusher: when its last fdatasync started (_time's timestamp)
    private volatile bool _paceFlushes; // written by the loop: Received and not degraded (the flusher spaces its fdatasyncs)
    private readonly ManualResetEventSlim _paced = new(false, spinCount: 0); // the flusher's paced wait on a non-system clock
    private ITimer? _paceTimer; // only the flusher (then disposed after it): sets _paced
    private Task _loop = Task.CompletedTask;
    private Task _flusher = Task.CompletedTask;
    private Exception? _failure;
    private volatile ReplicationStatus _status;
    private bool _draining; // only the loop reads and writes it
    private bool _flushInline; // only the loop: a Durable standby wrote entries its loop makes durable after the batch
    private readonly TimeProvider _time;
    private readonly long _started;
    private ITimer? _tickTimer;
    private string? _forceReason;

    private ReplicatedLog(ReplicationOptions options, IReplicatedStateMachine stateMachine, ILogger logger, SegmentLog segments,
        SnapshotStore snapshots, ReplicationCore core, IMeterFactory? meterFactory)
    {
        _options = options;
        _stateMachine = stateMachine;
        _logger = logger;
        _segments = segments;
        _snapshots = snapshots;
        _core = core;
        _written = segments.Last.Index;
        _smApplied = core.Snapshot.Index;
        _time = options.Time;
        _started = _time.GetTimestamp();
        _status = BuildStatus();
        _metrics = new ReplicationMetrics(meterFactory, this);
    }

    /// <summary>How long the owner waits for any answer to entries sent on a live stream before sending them again (see
    /// <see cref="ReplicationCore.ResendAfter"/>).</summary>
    internal static readonly TimeSpan ResendAfter = TimeSpan.FromSeconds(2);

    // Never disposed (it has no timer): the transport may still read its token after the log is disposed.
    private readonly CancellationTokenSource _faulted = new();

    /// <summary>Cancelled when the replica stops on an error: the transport ends its streams, so the peer sees it down instead of a
    /// live stream that never answers.</summary>
    internal CancellationToken FaultedToken => _faulted.Token;

    /// <summary>Raised (on the replica's loop) when the role, the peer's connection or the log's history changes: a divergence,
    /// a snapshot installed. Poll <see cref="Status"/> for progress and lag.</summary>
    public event EventHandler<ReplicationStatus>? StatusChanged;

    /// <summary>The group's name.</summary>
    public string Group => _options.Group;

    /// <summary>Whether the replica stopped on an error (a disk error): appends fail until the log is reopened.</summary>
    public bool IsFaulted => _failure is not null;

    /// <summary>The replica's progress, updated after every batch of work.</summary>
    public ReplicationStatus Status => _status;

    /// <summary>The group's <see cref="ReplicationOptions.DrainTimeout"/>.</summary>
    internal TimeSpan DrainTimeout => _options.DrainTimeout;

    /// <summary>The segment files (benchmarks and tests: preallocation's state and counters).</summary>
    internal SegmentLog Storage => _segments;

    /// <summary>Tests: called after each crash-relevant step of installing an owner's snapshot (a test throws to stop there, as a
    /// crash would, and reopens the directory).</summary>
    internal Action<SnapshotInstallStep>? InstallStep { get; set; }

    /// <summary>
    /// Opens the group's log in <see cref="ReplicationOptions.Directory"/>: restores the newest snapshot into
    /// <paramref name="stateMachine"/>, reads the segments (truncating a torn tail), applies the entries after the snapshot and
    /// starts as <see cref="ReplicaRole.Standby"/>.
    /// </summary>
    /// <param name="options">The group's settings (validated).</param>
    /// <param name="stateMachine">The host's state.</param>
    /// <param name="loggerFactory">Logging; none if <see langword="null"/>.</param>
    /// <param name="meterFactory">Metrics (meter <c>HaKit</c>, instruments <c>hakit.replication.*</c>); a plain meter if <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the restore.</param>
    /// <returns>The open log.</returns>
    /// <exception cref="HaKitConfigurationException">The options are invalid.</exception>
    /// <exception cref="ReplicationLogCorruptException">A file is corrupt other than at its torn tail.</exception>
    public static async Task<ReplicatedLog> OpenAsync(ReplicationOptions options, IReplicatedStateMachine stateMachine,
        ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stateMachine);
        options.Validate();
        Directory.CreateDirectory(options.Directory);
        var snapshots = new SnapshotStore(options.Directory);
        snapshots.RemoveLeftovers();
        var snapshot = snapshots.Latest();
        await RestoreAsync(stateMachine, snapshot, cancellationToken).ConfigureAwait(false);
        var entries = new List<LogEntry>();
        // The log from its compaction point on, not from the snapshot's position: entries between the two are in the snapshot,
        // but a later history may still cut them (a deposed owner's tail, a split brain), and the divergence callback must get them.
        var awaiting = OutdatedFile.Read(options.Directory, OutdatedFile.AwaitingSnapshot);
        var segments = SegmentLog.Open(options.Directory, options.SegmentBytes, snapshot.Position, entries, options.PreallocateSegments, fromCompactionPoint: true,
            keepShortLog: awaiting != LogPosition.Zero);
        var core = new ReplicationCore(options.Mode, snapshot.Position, entries, EpochFile.Read(options.Directory), options.MaxBatchBytes, options.MaxInFlightBytes,
            OwnedEpochFile.Read(options.Directory), snapshot.Bytes, segments.Base)
        {
            SnapshotChunkBytes = options.SnapshotChunkBytes,
            DegradeAfter = options.DegradeAfter,
            MaxLagOnFailover = options.MaxLagOnFailover,
            MaxLagOnFailoverBytes = options.MaxLagOnFailoverBytes,
            ResendAfter = ResendAfter,
            ArbiterMarks = options.ArbiterMarks is not null,
        };
        core.RestoreMarks(OutdatedFile.Read(options.Directory, OutdatedFile.PeerOutdated), OutdatedFile.Read(options.Directory, OutdatedFile.Outdated));
        core.RestoreAwaitingSnapshot(awaiting);
        core.RestoreCatchUp(OutdatedFile.Read(options.Directory, OutdatedFile.CatchUp));
        var (knownAcknowledged, knownLagBytes) = KnownLagFile.Read(options.Directory);
        core.RestoreKnownOwnerAcknowledged(knownAcknowledged, knownLagBytes);
        var log = new ReplicatedLog(options, stateMachine, (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ReplicatedLog>(), segments, snapshots, core, meterFactory);
        if (segments.TornTail is { } torn)
        {
            ReplicationLog.TornBatchCut(log._logger, options.Group, torn.Path, torn.Offset, torn.What, torn.BytesCut);
        }

        await log.ExecuteAsync(cancellationToken).ConfigureAwait(false);
        log._status = log.BuildStatus();
        log._loop = Task.Run(log.RunAsync, CancellationToken.None);
        log._flusher = Task.Factory.StartNew(log.FlushLoop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (options.ArbiterMarks is { } arbiter)
        {
            log._markPublisher = Task.Run(() => log.PublishMarksAsync(arbiter), CancellationToken.None);
        }

        // Ticks drive degrading (DegradeAfter) and the owner's resend of entries the peer answered nothing for (ResendAfter).
        var tickEvery = ResendAfter / 4;
        if (options.DegradeAfter is { } degradeAfter)
        {
            tickEvery = TimeSpan.FromTicks(Math.Min(tickEvery.Ticks, Math.Clamp(degradeAfter.Ticks / 4, TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(1).Ticks)));
        }

        log._tickTimer = options.Time.CreateTimer(static state => ((ReplicatedLog)state!)._inputs.Writer.TryWrite(TickInput.Instance), log, tickEvery, tickEvery);

        return log;
    }

    /// <summary>
    /// Appends an entry (owner only) and completes once it is acknowledged in the group's mode: Async after the local fdatasync,
    /// Received once written locally (not yet fdatasynced) and held by the peer, Durable when the peer also wrote it to disk.
    /// </summary>
    /// <param name="data">The entry's bytes (copied).</param>
    /// <param name="cancellationToken">Stops waiting; the entry may still be replicated and applied.</param>
    /// <remarks>The task completes on a thread-pool thread that completes a share of one acknowledged batch in order (at least 32
    /// appends, at most one work item per processor), running their continuations inline: do not block in a continuation of this
    /// task, or the appends acknowledged after it in that batch complete late.</remarks>
    /// <returns>The entry's position.</returns>
    /// <exception cref="InvalidOperationException">This node is not the owner, or it stopped owning the group before the entry was acknowledged.</exception>
    public Task<LogPosition> AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        // One object per append besides the copy of its bytes: the input is its own completion.
        var append = new AppendInput(_arena.Copy(data.Span));
        if (!_inputs.Writer.TryWrite(append))
        {
            append.TrySetException(Stopped());
        }

        return cancellationToken.CanBeCanceled ? append.Task.WaitAsync(cancellationToken) : append.Task;
    }

    /// <summary>
    /// <see cref="AppendAsync"/> for callers that append at a high rate: the same semantics, but the returned
    /// <see cref="ValueTask{TResult}"/> is backed by a completion object that the log reuses once the result was read, so an append
    /// allocates only the copy of its bytes (no task, no completion). Like every pooled <see cref="ValueTask{TResult}"/>, it must
    /// be awaited (or its result read) exactly once, and not after that. A cancellable <paramref name="cancellationToken"/> falls
    /// back to <see cref="AppendAsync"/> (a task).
    /// </summary>
    /// <param name="data">The entry's bytes (copied).</param>
    /// <param name="cancellationToken">Stops waiting; the entry may still be replicated and applied.</param>
    /// <returns>The entry's position.</returns>
    /// <exception cref="InvalidOperationException">This node is not the owner, or it stopped owning the group before the entry was acknowledged.</exception>
    public ValueTask<LogPosition> AppendPooledAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (cancellationToken.CanBeCanceled)
        {
            return new ValueTask<LogPosition>(AppendAsync(data, cancellationToken));
        }

        if (!_appendPool.TryDequeue(out var append))
        {
            append = new PooledAppend(_appendPool);
        }

        var task = append.Start(_arena.Copy(data.Span));
        if (!_inputs.Writer.TryWrite(append))
        {
            append.Fail(Stopped());
        }

        return task;
    }

    /// <summary>Takes the group over in <paramref name="epoch"/> (the group's fencing token from HaKit's ownership).</summary>
    /// <param name="epoch">The epoch; it must not be lower than any epoch this node has seen.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when this node is owner.</returns>
    /// <exception cref="InvalidOperationException"><paramref name="epoch"/> is lower than an epoch already seen, or equal to an epoch in
    /// which this node followed another owner (or that it saw before a restart): one epoch has one owner.</exception>
    public Task BecomeOwnerAsync(long epoch, CancellationToken cancellationToken) => Post(new RoleInput(epoch), cancellationToken);

    /// <summary>Gives the group up: appends still waiting fail; the node follows the next owner.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when this node is standby.</returns>
    public Task BecomeStandbyAsync(CancellationToken cancellationToken) => Post(new RoleInput(null), cancellationToken);

    /// <summary>
    /// The operator's override (<c>hakit takeover --force</c>): the next time this node is made owner it does so even if it is
    /// marked outdated or lags more than <see cref="ReplicationOptions.MaxLagOnFailover"/>, logged as a critical message naming the
    /// reason, the time and what may be lost. Consumed by the next <see cref="BecomeOwnerAsync"/>.
    /// </summary>
    /// <param name="reason">Who forces it and why (logged).</param>
    public void AllowOutdatedPromotionOnce(string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        Volatile.Write(ref _forceReason, reason);
    }

    /// <summary>Writes a snapshot of the state machine at the applied position and compacts the segments it covers.</summary>
    /// <param name="cancellationToken">Stops waiting.</param>
    /// <returns>A task that completes when the snapshot is durable.</returns>
    public Task TakeSnapshotAsync(CancellationToken cancellationToken) => Post(new SnapshotInput(), cancellationToken);

    /// <summary>Stops the loop and the flusher, and closes the files. Waiting appends fail.</summary>
    /// <returns>A task that completes when everything is closed.</returns>
    public async ValueTask DisposeAsync()
    {
        _inputs.Writer.TryComplete();
        if (_tickTimer is not null)
        {
            await _tickTimer.DisposeAsync().ConfigureAwait(false);
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            await _flusher.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await AbandonSnapshotWriteAsync().ConfigureAwait(false);

        try
        {
            await _markPublisher.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        FailAllPending(Stopped());
        CloseSnapshotSend();
        _snapshots.DiscardIncoming();
        _segments.Dispose();
        _metrics.Dispose();
        _stop.Dispose();
        _paceTimer?.Dispose();
        _paced.Dispose();
        _flushSignal.Dispose();
        _markSignal.Dispose();
    }

    /// <summary>The transport's stream to the peer came up; <paramref name="send"/> queues a message on it.</summary>
    internal void PeerUp(Func<object, bool> send) => _inputs.Writer.TryWrite(new PeerInput(send));

    /// <summary>The transport's stream to the peer went down.</summary>
    internal void PeerDown(Func<object, bool> send) => _inputs.Writer.TryWrite(new PeerInput(send, Down: true));

    /// <summary>A message arrived from the peer. The records of an append are copied into the log's <see cref="EntryArena"/> (the
    /// entries the log keeps are slices of them; the frame's own array then dies young).</summary>
    internal void Deliver(ReplicationMessage message)
    {
        if (message is AppendMessage { Batch.Count: > 0 } append && append.Batch.Records.Length <= EntryArena.MaxCarved)
        {
            message = append with { Batch = append.Batch.WithRecords(_arena.Copy(append.Batch.Records.Span)) };
        }

        _inputs.Writer.TryWrite(message);
    }

    private Task Post(object input, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var request = new Request(input, completion);
        if (!_inputs.Writer.TryWrite(request))
        {
            completion.TrySetException(Stopped());
        }

        return completion.Task.WaitAsync(cancellationToken);
    }

    private InvalidOperationException Stopped() =>
        new($"the replicated log of group {_options.Group} is stopped", _failure);

    private async Task RunAsync()
    {
        var reader = _inputs.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                var count = 0;
                while (count++ < 4096 && reader.TryRead(out var input))
                {
                    if (input is IAppend append && !_draining && _core.Role == ReplicaRole.Owner)
                    {
                        // The common input, without the async calls (the core's append emits no command).
                        Accept(append);
                        continue;
                    }

                    await HandleAsync(input).ConfigureAwait(false);
                    await ExecuteAsync(_stop.Token).ConfigureAwait(false);
                }

                if (_appendedSinceMetrics > 0)
                {
                    _metrics.Appended(_appendedSinceMetrics);
                    _appendedSinceMetrics = 0;
                }

                _core.Pump();
                await ExecuteAsync(_stop.Token).ConfigureAwait(false);
                while (_flushInline)
                {
                    await FlushInlineAsync().ConfigureAwait(false);
                }

                if (_options.SnapshotEveryEntries > 0 && _core.Applied - _core.Snapshot.Index >= _options.SnapshotEveryEntries)
                {
                    await SnapshotAsync(background: true, _stop.Token).ConfigureAwait(false);
                }

                _status = BuildStatus();
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            _failure = ex;
            ReplicationLog.LoopFailed(_logger, ex, _options.Group);
            _inputs.Writer.TryComplete(ex);
            FailAllPending(Stopped());
            Fault();
        }
    }

    private async Task HandleAsync(object input)
    {
        switch (input)
        {
            case IAppend append when _draining:
                Fail(append, new InvalidOperationException($"group {_options.Group} is being handed over to its peer: write to the new owner"));
                return;
            case IAppend append:
                if (_core.Role != ReplicaRole.Owner)
                {
                    Fail(append, new InvalidOperationException($"this node is not the owner of group {_options.Group}"));
                    return;
                }

                Accept(append);
                break;
            case FlushedInput flushed:
                ReplicationTrace.Mark(_core.Role == ReplicaRole.Owner ? 18 : 10, flushed.Index);
                if (flushed.Generation == _segments.Generation)
                {
                    _core.LocalDurable(flushed.Index);
                }

                if (_written > flushed.Index || flushed.Generation != _segments.Generation)
                {
                    RequestFlush();
                }

                break;
            case ReplicationMessage message:
                if (ReplicationTrace.On)
                {
                    ReplicationTrace.Mark(message is AppendMessage ? 6 : 15, message is AppendMessage a ? a.LastIndex : message is AckMessage k ? k.Received : 0);
                }

                _core.Receive(message);
                break;
            case MarkPublishedInput published:
                _core.MarkPublished(published.Position);
                break;
            case SnapshotWrittenInput written:
                await FinishSnapshotAsync(written.Write, _stop.Token).ConfigureAwait(false);
                break;
            case TickInput:
                var wasDegraded = _core.Degraded;
                _core.Tick(_time.GetElapsedTime(_started));
                if (_core.Degraded && !wasDegraded)
                {
                    // The local outdated mark (a command of this tick) is written before the status says degraded.
                    await ExecuteAsync(_stop.Token).ConfigureAwait(false);
                    ReplicationLog.Degraded(_logger, _options.Group, _core.Mode, _core.DegradeAfter ?? TimeSpan.Zero);
                    RaiseStatus();
                }

                break;
            case PeerInput peer when peer.Down:
                if (_peerSend == peer.Send)
                {
                    _peerSend = null;
                    _core.PeerDown();
                    ReplicationLog.PeerState(_logger, _options.Group, "down");
                    RaiseStatus();
                }

                break;
            case PeerInput peer:
                _peerSend = peer.Send;
                _core.PeerUp();
                ReplicationLog.PeerState(_logger, _options.Group, "up");
                RaiseStatus();
                break;
            case Request request:
                try
                {
                    await HandleRequestAsync(request.Input).ConfigureAwait(false);
                    request.Completion.TrySetResult();
                }
                catch (Exception ex) when (ex is InvalidOperationException or IOException)
                {
                    request.Completion.TrySetException(ex);
                }

                break;
        }
    }

    private void Accept(IAppend append)
    {
        append.Position = _core.Append(append.Data);
        ReplicationTrace.Mark(1, append.Position.Index);
        _pending.Enqueue(append);
        _appendedSinceMetrics++;
    }

    private async Task HandleRequestAsync(object input)
    {
        switch (input)
        {
            case DrainInput:
                _draining = _core.Role == ReplicaRole.Owner;
                break;
            case RoleInput { Epoch: { } epoch }:
                var clearArbiterMark = false;
                if (_core.Role != ReplicaRole.Owner && epoch >= _core.SeenEpoch)
                {
                    // Ownership waits for data: everything this node holds is made durable and applied before it owns.
                    _core.Pump();
                    await ExecuteAsync(_stop.Token).ConfigureAwait(false);
                    var (generation, index) = _segments.Flush();
                    if (generation == _segments.Generation)
                    {
                        _core.LocalDurable(index);
                    }

                    await ExecuteAsync(_stop.Token).ConfigureAwait(false);
                    var (arbiterRefusal, arbiterMarked) = await ArbiterRefusalAsync(epoch).ConfigureAwait(false);
                    var force = Interlocked.Exchange(ref _forceReason, null);
                    if ((_core.PromotionRefusal() ?? arbiterRefusal) is { } refusal)
                    {
                        if (force is null)
                        {
                            ReplicationLog.PromotionRefused(_logger, _options.Group, epoch, refusal);
                            throw new InvalidOperationException($"group {_options.Group}: cannot own it in epoch {epoch}: {refusal}");
                        }

                        ReplicationLog.ForcedPromotion(_logger, _options.Group, epoch, _time.GetUtcNow(), force, refusal, _core.Last.Index);
                    }

                    clearArbiterMark = arbiterMarked;
                }

                if (!_core.BecomeOwner(epoch))
                {
                    if (epoch == _core.SeenEpoch)
                    {
                        throw new EpochTakenException($"group {_options.Group}: cannot own it in epoch {epoch}: another node owns that epoch (this node followed it, or saw it before a restart); it can own the group in a later epoch");
                    }

                    throw new InvalidOperationException($"group {_options.Group}: cannot own it in epoch {epoch}: this node has seen epoch {_core.SeenEpoch}");
                }

                // The owned-epoch and outdated files are durable before the start completes.
                _draining = false;
                await ExecuteAsync(_stop.Token).ConfigureAwait(false);
                if (clearArbiterMark)
                {
                    await ClearOwnArbiterMarkAsync().ConfigureAwait(false);
                }

                ReplicationLog.RoleChanged(_logger, _options.Group, ReplicaRole.Owner, epoch);
                RaiseStatus();
                break;
            case RoleInput:
                _core.BecomeStandby("this node gave the group up");
                ReplicationLog.RoleChanged(_logger, _options.Group, ReplicaRole.Standby, _core.Epoch);
                RaiseStatus();
                break;
            case SnapshotInput:
                await SnapshotAsync(background: false, _stop.Token).ConfigureAwait(false);
                break;
        }
    }

    private void RaiseStatus()
    {
        _status = BuildStatus();
        StatusChanged?.Invoke(this, _status);
    }

    private ReplicationStatus BuildStatus() => new(
        _options.Group, _core.Role, _core.Mode, _core.Epoch, _core.SeenEpoch, _core.Last, _core.Durable, _core.Applied,
        _core.Acknowledged, _core.PeerConnected, _core.PeerReceived, _core.PeerDurable, _core.Snapshot)
    {
        Degraded = _core.Degraded,
        PeerOutdated = _core.PeerOutdatedAt != LogPosition.Zero,
        Outdated = _core.OutdatedUntil != LogPosition.Zero,
        KnownLagEntries = _core.KnownLagEntries,
        KnownLagBytes = _core.KnownLagBytes,
        SnapshotTransferBytes = _core.SnapshotTransfer.Bytes,
        SnapshotTransferTotal = _core.SnapshotTransfer.Total,
        Resends = _core.Resends,
    };
}
