namespace HaKit.Replication;

/// <summary>
/// Completing appends off the loop, many per thread-pool work item: an acknowledgement of a batch of N entries used to queue N
/// continuations (one thread-pool work item, and often a thread wake-up, per entry); it now queues one work item per
/// <see cref="CompletionChunk"/> entries, which completes them in index order and runs their continuations inline. The loop never
/// runs an appender's continuation itself (it would block the replication of every group member on the host's code).
/// </summary>
public sealed partial class ReplicatedLog
{
    /// <summary>How many appends one work item completes: large enough to make the dispatch cost per entry small, small enough that
    /// one appender's slow continuation delays few others (the next chunks run on other thread-pool threads).</summary>
    internal const int CompletionChunk = 32;

    private IAppend[]? _completing;
    private int _completingCount;

    /// <summary>Queues <paramref name="append"/>'s success at its <see cref="IAppend.Position"/>; <see cref="FlushCompletions"/>
    /// hands the queued ones to the thread pool.</summary>
    private void Complete(IAppend append)
    {
        _completing ??= new IAppend[CompletionChunk];
        _completing[_completingCount++] = append;
        if (_completingCount == CompletionChunk)
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
