namespace HaKit.Replication;

/// <summary>
/// A state machine whose snapshots are written while the log goes on applying entries, so that a snapshot does not stop the
/// group's writes for as long as the state takes to serialize and sync. The log calls <see cref="CaptureSnapshot"/> on its loop,
/// between two <see cref="IReplicatedStateMachine.Apply"/> calls, and runs the writer it returns on another thread; the
/// snapshot is put in place (and the log compacted) only if nothing replaced the state meanwhile (a divergence's roll-back, an
/// installed snapshot: the write is then dropped). A state machine without this interface is snapshotted on the loop by
/// <see cref="IReplicatedStateMachine.WriteSnapshotAsync"/>, which holds the group's appends meanwhile.
/// </summary>
public interface IBackgroundSnapshots : IReplicatedStateMachine
{
    /// <summary>
    /// Captures the state as it is now (everything applied so far) and returns the writer of that captured state. Called on the
    /// log's loop: keep it short (copy references to immutable values, take a copy-on-write view), and never let the writer read
    /// state that later <see cref="IReplicatedStateMachine.Apply"/> calls change.
    /// </summary>
    /// <returns>Writes the captured state to a stream (in the format <see cref="IReplicatedStateMachine.RestoreSnapshotAsync"/>
    /// reads), on another thread while entries go on being applied.</returns>
    Func<Stream, CancellationToken, ValueTask> CaptureSnapshot();
}
