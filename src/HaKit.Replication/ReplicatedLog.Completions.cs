namespace HaKit.Replication;

/// <summary>
/// Completing appends off the loop, many per thread-pool work item: an acknowledgement of a batch of N entries used to queue N
/// continuations (one thread-pool work item, and often a thread wake-up, per entry); it now queues at most one work item per
/// processor, each completing at least <see cref="CompletionChunk"/> entries in index order and running their continuations
/// inline. The loop never runs an appender's continuation itself (it would block the replication of every group member on the
/// host's code).
/// </summary>
public sealed partial class ReplicatedLog
{
    /// <summary>The fewest appends one work item completes (fewer only at the end of a batch): large enough to make the dispatch
    /// cost per entry small. A batch is split in at most <see cref="Environment.ProcessorCount"/> work items, so that every
    /// processor can run continuations while no more thread-pool workers are woken than can run (a woken worker that finds no
    /// work spins before it sleeps again: that spinning was a fifth of the CPU time of a pipelined run on 2 cores).</summary>
    internal const int CompletionChunk = 32;

    private IAppend[]? _completing;
    private int _completingCount;
    private int _chunk = CompletionChunk;

    /// <summary>Sizes the work items for an acknowledgement of <paramref name="count"/> appends (about).</summary>
    private void BeginCompletions(long count) =>
        _chunk = (int)Math.Clamp((count + Environment.ProcessorCount - 1) / Environment.ProcessorCount, CompletionChunk, 1 << 16);

    /// <summary>Queues <paramref name="append"/>'s success at its <see cref="IAppend.Position"/>; <see cref="FlushCompletions"/>
    /// hands the queued ones to the thread pool.</summary>
    private void Complete(IAppend append)
    {
        if (_completing is null || (_completingCount == 0 && _completing.Length < _chunk))
        {
            _completing = new IAppend[_chunk];
        }

        _completing[_completingCount++] = append;
        if (_completingCount == _chunk)
        {
            FlushCompletions();
        }
    }

    /// <summary>Fails <paramref name="append"/> with <paramref name="error"/> on a thread-pool thread (a rare path: one work item
    /// each), not inline.</summary>
    private static void Fail(IAppend append, Exception error) =>
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Append.Fail(state.Error), (Append: append, Error: error), preferLocal: false);

    private void FlushCompletions()
    {
        if (_completingCount == 0)
        {
            return;
        }

        var chunk = _completing!;
        var count = _completingCount;
        _completing = null;
        _completingCount = 0;
        ThreadPool.UnsafeQueueUserWorkItem(new CompletionBatch(chunk, count), preferLocal: false);
    }

    /// <summary>Completes up to <see cref="CompletionChunk"/> appends on a thread-pool thread.</summary>
    private sealed class CompletionBatch(IAppend[] appends, int count) : IThreadPoolWorkItem
    {
        public void Execute()
        {
            for (var i = 0; i < count; i++)
            {
                ReplicationTrace.Mark(20, appends[i].Position.Index);
                appends[i].Succeed();
            }
        }
    }
}
