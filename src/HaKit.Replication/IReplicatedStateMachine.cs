namespace HaKit.Replication;

/// <summary>
/// The application's state that a <see cref="ReplicatedLog"/> keeps in step on both nodes. The log calls it from one thread at a
/// time, in log order: <see cref="Apply"/> for each entry (on the owner once the entry is acknowledged in the group's mode, on the
/// standby once it is durable locally), <see cref="WriteSnapshotAsync"/> to compact the log, <see cref="RestoreSnapshotAsync"/> at
/// start, when a snapshot is installed from the owner, and when entries it applied were cut by a divergence.
/// </summary>
public interface IReplicatedStateMachine
{
    /// <summary>Applies one entry. Must be deterministic: both nodes apply the same entries in the same order.</summary>
    /// <param name="entry">The entry. Its <see cref="LogEntry.Data"/> is a slice of a buffer the log shares between many entries
    /// (1 MiB blocks): copy the bytes you keep, holding the slice keeps the whole buffer alive.</param>
    void Apply(in LogEntry entry);

    /// <summary>Writes the whole state (everything applied so far) to <paramref name="destination"/>.</summary>
    /// <param name="destination">Where to write.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the state is written.</returns>
    ValueTask WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken);

    /// <summary>Replaces the whole state with the one in <paramref name="source"/> (empty: the initial state, before any entry).</summary>
    /// <param name="source">A snapshot written by <see cref="WriteSnapshotAsync"/>, or an empty stream.</param>
    /// <param name="cancellationToken">Cancels the restore.</param>
    /// <returns>A task that completes when the state is restored.</returns>
    ValueTask RestoreSnapshotAsync(Stream source, CancellationToken cancellationToken);
}
