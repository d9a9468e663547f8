namespace HaKit.Replication;

/// <summary>What the log's loop reads from its queue, besides the peer's messages.</summary>
public sealed partial class ReplicatedLog
{
    /// <summary>
    /// An append waiting for the loop, and then for its acknowledgement: the input is its own completion. Its continuations run
    /// synchronously when it completes, so it is only ever completed on a thread-pool thread (<see cref="CompletionBatch"/>,
    /// <see cref="Fail"/>), never on the loop.
    /// </summary>
    private sealed class AppendInput(byte[] data) : TaskCompletionSource<LogPosition>(TaskCreationOptions.None)
    {
        public byte[] Data { get; } = data;

        /// <summary>The entry's position, set by the loop when the core appended it.</summary>
        public LogPosition Position { get; set; }
    }

    private sealed record FlushedInput(long Generation, long Index);

    private sealed record PeerInput(Func<object, bool> Send, bool Down = false);

    private sealed record RoleInput(long? Epoch);

    private sealed record SnapshotInput;

    private sealed record TickInput
    {
        public static readonly TickInput Instance = new();
    }

    private sealed record Request(object Input, TaskCompletionSource Completion);
}
