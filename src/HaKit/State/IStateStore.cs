namespace HaKit.State;

/// <summary>What a node must remember across restarts: its last incarnation and the highest epoch seen or used per group.</summary>
/// <param name="Incarnation">The incarnation of the last process start (the next start uses a larger one).</param>
/// <param name="Epochs">Highest epoch per group.</param>
public sealed record PersistedState(ulong Incarnation, IReadOnlyDictionary<string, ulong> Epochs)
{
    /// <summary>The state of a node that never ran.</summary>
    public static PersistedState Empty { get; } = new(0, new Dictionary<string, ulong>(StringComparer.Ordinal));
}

/// <summary>Durable node state. <see cref="Save"/> returns only once the state is on stable storage (fsynced).</summary>
public interface IStateStore
{
    /// <summary>Loads the state, or <see cref="PersistedState.Empty"/> if there is none yet. Throws if the stored state is corrupt (a node must not guess its epochs).</summary>
    PersistedState Load();

    /// <summary>Writes the state durably (write to a temporary file, fsync, rename, fsync the directory).</summary>
    /// <param name="state">The state to store.</param>
    void Save(PersistedState state);
}
