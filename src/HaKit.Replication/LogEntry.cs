namespace HaKit.Replication;

/// <summary>One entry of a replicated log: its position and the bytes the owner appended.</summary>
/// <param name="Position">Where the entry is: the epoch of the owner that appended it and its index.</param>
/// <param name="Data">The entry's bytes, as given to <see cref="ReplicatedLog.AppendAsync"/> (never changed afterwards).</param>
public readonly record struct LogEntry(LogPosition Position, ReadOnlyMemory<byte> Data)
{
    /// <summary>The entry's index (<see cref="LogPosition.Index"/>).</summary>
    public long Index => Position.Index;

    /// <summary>The entry's epoch (<see cref="LogPosition.Epoch"/>).</summary>
    public long Epoch => Position.Epoch;
}
