using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace HaKit.Replication;

/// <summary>What the log's loop reads from its queue, besides the peer's messages.</summary>
public sealed partial class ReplicatedLog
{
    /// <summary>
    /// An append waiting for the loop, and then for its acknowledgement: the input is its own completion. Its continuations run
    /// synchronously when it completes, so it is only ever completed on a thread-pool thread (<see cref="CompletionBatch"/>,
    /// <see cref="Fail"/>), never on the loop.
    /// </summary>
    private interface IAppend
    {
        /// <summary>The copy of the entry's bytes.</summary>
        ReadOnlyMemory<byte> Data { get; }

        /// <summary>The entry's position, set by the loop when the core appended it.</summary>
        LogPosition Position { get; set; }

        /// <summary>Completes the append with <see cref="Position"/> (runs its continuations inline).</summary>
        void Succeed();

        /// <summary>Fails the append (runs its continuations inline).</summary>
        void Fail(Exception error);
    }

    /// <summary>An append of <see cref="AppendAsync"/>: its own <see cref="Task"/>'s completion.</summary>
    private sealed class AppendInput(ReadOnlyMemory<byte> data) : TaskCompletionSource<LogPosition>(TaskCreationOptions.None), IAppend
    {
        public ReadOnlyMemory<byte> Data { get; } = data;

        public LogPosition Position { get; set; }

        public void Succeed() => TrySetResult(Position);

        public void Fail(Exception error) => TrySetException(error);
    }

    /// <summary>An append of <see cref="AppendPooledAsync"/>: a reusable <see cref="IValueTaskSource{TResult}"/>, back in its log's
    /// pool once its result was read (the <see cref="ValueTask{TResult}"/> may be awaited once only).</summary>
    private sealed class PooledAppend(ConcurrentQueue<PooledAppend> pool) : IAppend, IValueTaskSource<LogPosition>
    {
        private ManualResetValueTaskSourceCore<LogPosition> _source; // continuations run inline: completed off the loop only

        public ReadOnlyMemory<byte> Data { get; private set; }

        public LogPosition Position { get; set; }

        public ValueTask<LogPosition> Start(ReadOnlyMemory<byte> data)
        {
            Data = data;
            return new ValueTask<LogPosition>(this, _source.Version);
        }

        public void Succeed() => _source.SetResult(Position);

        public void Fail(Exception error) => _source.SetException(error);

        public LogPosition GetResult(short token)
        {
            try
            {
                return _source.GetResult(token);
            }
            finally
            {
                Data = default;
                Position = default;
                _source.Reset();
                pool.Enqueue(this);
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _source.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _source.OnCompleted(continuation, state, token, flags);
    }

    private sealed record FlushedInput(long Generation, long Index);

    private sealed record PeerInput(Func<object, bool> Send, bool Down = false);

    private sealed record RoleInput(long? Epoch);

    private sealed record SnapshotInput;

    /// <summary>A background snapshot write ended (<see cref="ReplicatedLog.FinishSnapshotAsync"/>).</summary>
    private sealed record SnapshotWrittenInput(Task<WrittenSnapshot> Write);

    private sealed record TickInput
    {
        public static readonly TickInput Instance = new();
    }

    private sealed record Request(object Input, TaskCompletionSource Completion);
}
