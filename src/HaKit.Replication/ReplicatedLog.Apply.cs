using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;
using Microsoft.Extensions.Logging;

namespace HaKit.Replication;

/// <summary>The state machine side (applying, snapshots, divergence) and the group commit's flusher, with what stops the log on a fault.</summary>
public sealed partial class ReplicatedLog
{
    private void ApplyUpTo(long upTo)
    {
        for (var index = _smApplied + 1; index <= upTo; index++)
        {
            _stateMachine.Apply(_core.Log.Get(index));
        }

        _smApplied = Math.Max(_smApplied, upTo);
    }

    /// <summary>
    /// Writes a snapshot at the applied position and compacts what it covers. <paramref name="background"/> (the automatic
    /// snapshots) with a state machine that implements <see cref="IBackgroundSnapshots"/>: the state is captured here and written
    /// on another thread while the loop goes on; <see cref="FinishSnapshotAsync"/> puts it in place when it is written. Otherwise
    /// (a manual snapshot, or a state machine without it) written here, holding the loop; a manual snapshot first finishes one
    /// in progress.
    /// </summary>
    private async Task SnapshotAsync(bool background, CancellationToken cancellationToken)
    {
        if (_snapshotWrite is { } inProgress)
        {
            if (background)
            {
                return;
            }

            await FinishSnapshotAsync(inProgress, cancellationToken).ConfigureAwait(false);
        }

        var applied = _smApplied;
        if (applied == _core.Snapshot.Index || _core.AwaitingSnapshot || applied > _core.Log.Last.Index)
        {
            // Nothing new, or a state that holds entries a divergence cut (the owner's snapshot replaces it).
            return;
        }

        if (_written > _core.Durable)
        {
            // A Received owner applies entries written but not yet fdatasynced: make them durable before a snapshot covers them,
            // so a snapshot never runs ahead of the log on disk.
            var (generation, index) = _segments.Flush();
            if (generation == _segments.Generation)
            {
                _core.LocalDurable(index);
                await ExecuteAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        var position = new LogPosition(_core.Log.EpochAt(applied), applied);
        if (background && _stateMachine is IBackgroundSnapshots capturing)
        {
            var write = capturing.CaptureSnapshot();
            var stateGeneration = _stateGeneration;
            var task = Task.Run(async () => new WrittenSnapshot(await _snapshots.WriteAsync(position, write, _stop.Token).ConfigureAwait(false), stateGeneration),
                CancellationToken.None);
            _snapshotWrite = task;
            _ = task.ContinueWith(static (t, s) => ((ReplicatedLog)s!)._inputs.Writer.TryWrite(new SnapshotWrittenInput(t)), this,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return;
        }

        // Streamed into the snapshot file (never whole in memory).
        var file = await _snapshots.SaveAsync(position, _stateMachine.WriteSnapshotAsync, cancellationToken).ConfigureAwait(false);
        _core.SnapshotTaken(position, file.Bytes);
        await ExecuteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A snapshot written in the background is done (or failed: the loop stops on the error, as for a snapshot written on the
    /// loop). It is put in place only if the state it captured is still this node's history: no restore replaced the state
    /// since the capture (a divergence's roll-back, an installed snapshot), the position is still in the log with its epoch and
    /// above the current snapshot, and no owner's snapshot is awaited. Otherwise its file is deleted.
    /// </summary>
    private async Task FinishSnapshotAsync(Task<WrittenSnapshot> write, CancellationToken cancellationToken)
    {
        if (!ReferenceEquals(_snapshotWrite, write))
        {
            return; // already finished (a manual snapshot waited for it)
        }

        _snapshotWrite = null;
        var written = await write.ConfigureAwait(false);
        var position = written.File.Position;
        if (written.StateGeneration != _stateGeneration || _core.AwaitingSnapshot || position.Index <= _core.Snapshot.Index
            || position.Index > _core.Log.Last.Index || _core.Log.EpochAt(position.Index) != position.Epoch)
        {
            SnapshotStore.DiscardWritten(written.File);
            return;
        }

        var file = _snapshots.PublishWritten(written.File);
        _core.SnapshotTaken(position, file.Bytes);
        await ExecuteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for a background snapshot write at shutdown and deletes its file (never put in place).</summary>
    private async Task AbandonSnapshotWriteAsync()
    {
        if (_snapshotWrite is not { } write)
        {
            return;
        }

        _snapshotWrite = null;
        try
        {
            SnapshotStore.DiscardWritten((await write.ConfigureAwait(false)).File);
        }
        catch (Exception)
        {
            // Cancelled by the shutdown, or failed (the state machine's writer threw, the disk refused): its temporary file is
            // already gone, or a restart deletes it. The log is closing either way; its loop reported any earlier failure.
        }
    }

    /// <summary>A snapshot written in the background and the state generation it captured.</summary>
    private sealed record WrittenSnapshot(SnapshotFile File, long StateGeneration);

    private void ReportDiverged(DivergedEntries diverged)
    {
        _metrics.Diverged(diverged.Entries.Count);
        if (diverged.UnavailableThrough is { } through)
        {
            // Never silent: logged whether or not a callback is set, and the callback still gets the range.
            ReplicationLog.DivergedUnavailable(_logger, _options.Group, diverged.OwnerEpoch,
                diverged.UnavailableFrom?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown (at most " + through.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) + ")", through, diverged.Kind);
        }
        else if (diverged.Entries.Count == 0)
        {
            return;
        }

        if (_options.OnDiverged is { } callback)
        {
            ReplicationLog.Diverged(_logger, _options.Group, diverged.Entries.Count, diverged.Kind, diverged.OwnerEpoch);
            try
            {
                callback(diverged);
            }
            catch (Exception ex)
            {
                ReplicationLog.DivergenceCallbackFailed(_logger, ex, _options.Group);
            }
        }
        else if (diverged.Entries.Count > 0)
        {
            ReplicationLog.DivergedWithoutCallback(_logger, _options.Group, diverged.Entries.Count, diverged.Entries[0].Position,
                diverged.Entries[^1].Position, diverged.Kind, diverged.OwnerEpoch);
        }

        RaiseStatus();
    }

    private void RequestFlush()
    {
        if (Interlocked.Exchange(ref _flushRequested, 1) == 0)
        {
            _flushSignal.Set();
        }
    }

    /// <summary>
    /// The group-commit flusher, on its own thread (<see cref="TaskCreationOptions.LongRunning"/>): an fdatasync blocks its thread
    /// for the disk's flush (100 µs–10 ms). On a thread-pool worker it used to take one of the few workers (two on a 2-core
    /// machine) from the transport and the loops for that long, and the owner's and the standby's flushes at once took both: the
    /// peer's ack then waited for a flush to end, and the pool's starvation injection to add a thread.
    /// </summary>
    private void FlushLoop()
    {
        try
        {
            while (true)
            {
                _flushSignal.Wait(_stop.Token);
                PaceFlush();
                _flushSignal.Reset();
                Volatile.Write(ref _flushRequested, 0);

                // One fdatasync covers every append written before it: appends that arrive meanwhile wait for the next one.
                var owner = ReplicationTrace.On && _core.Role == ReplicaRole.Owner;
                ReplicationTrace.Mark(owner ? 16 : 8, Volatile.Read(ref _written));
                _lastFlushStart = _time.GetTimestamp();
                var (generation, index) = _segments.Flush();
                ReplicationTrace.Mark(owner ? 17 : 9, index);
                _inputs.Writer.TryWrite(new FlushedInput(generation, index));
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            _failure = ex;
            ReplicationLog.LoopFailed(_logger, ex, _options.Group);
            _inputs.Writer.TryComplete(ex);
            Fault();
        }
    }

    /// <summary>
    /// Received mode (not degraded): waits until <see cref="ReplicationOptions.ReceivedFlushInterval"/> has passed since the last
    /// fdatasync started. Nothing acknowledged waits for it there, and what is written meanwhile joins the next fdatasync: fewer
    /// fdatasyncs, durable acks from the standby and wake-ups of the loops per second, at the same latency.
    /// </summary>
    private void PaceFlush()
    {
        if (!_paceFlushes || _options.ReceivedFlushInterval <= TimeSpan.Zero)
        {
            return;
        }

        var remaining = _options.ReceivedFlushInterval - _time.GetElapsedTime(_lastFlushStart);
        if (remaining <= TimeSpan.Zero)
        {
            return;
        }

        if (_time == TimeProvider.System)
        {
            // A timed wait of the flusher's own thread (no timer callback on a thread-pool worker); the log's stop ends it.
            _stop.Token.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(Math.Ceiling(remaining.TotalMilliseconds)));
        }
        else
        {
            // Another clock (a test's): the wait follows it.
            _paced.Reset();
            _paceTimer ??= _time.CreateTimer(static s => ((ManualResetEventSlim)s!).Set(), _paced, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _paceTimer.Change(remaining, Timeout.InfiniteTimeSpan);
            _paced.Wait(_stop.Token);
        }

        _stop.Token.ThrowIfCancellationRequested();
    }

    private void Fault()
    {
        try
        {
            _faulted.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void FailAllPending(Exception error)
    {
        // Only the loop touches _pending while it runs; this runs after it stopped.
        if (!_loop.IsCompleted && _failure is null)
        {
            return;
        }

        while (_pending.TryDequeue(out var pending))
        {
            Fail(pending, error);
        }

        while (_inputs.Reader.TryRead(out var input))
        {
            switch (input)
            {
                case IAppend append:
                    Fail(append, error);
                    break;
                case Request request:
                    request.Completion.TrySetException(error);
                    break;
            }
        }
    }

    /// <summary>Restores the state machine from the snapshot file, streamed (never whole in memory).</summary>
    private static async Task RestoreAsync(IReplicatedStateMachine stateMachine, SnapshotFile snapshot, CancellationToken cancellationToken)
    {
        var stream = SnapshotStore.OpenData(snapshot);
        await using (stream.ConfigureAwait(false))
        {
            await stateMachine.RestoreSnapshotAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }
}
