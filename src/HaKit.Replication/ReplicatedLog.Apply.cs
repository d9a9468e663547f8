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

    private async Task SnapshotAsync(CancellationToken cancellationToken)
    {
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

        // Streamed into the snapshot file (never whole in memory).
        var position = new LogPosition(_core.Log.EpochAt(applied), applied);
        var file = await _snapshots.SaveAsync(position, _stateMachine.WriteSnapshotAsync, cancellationToken).ConfigureAwait(false);
        _core.SnapshotTaken(position, file.Bytes);
        await ExecuteAsync(cancellationToken).ConfigureAwait(false);
    }

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
