namespace HaKit.State;

/// <summary>
/// A <see cref="IStateStore"/> kept in memory, for tests and the simulator: it counts saves, snapshots what it is
/// given (later changes to a saved dictionary do not leak in), and can be told to fail the next save so that
/// callers' error paths can be exercised. Thread-safe.
/// </summary>
public sealed class InMemoryStateStore : IStateStore
{
    private readonly Lock _gate = new();
    private PersistedState _state;
    private Exception? _nextSaveFailure;
    private int _saveCount;

    /// <summary>Creates a store holding <paramref name="initial"/> (or <see cref="PersistedState.Empty"/>).</summary>
    /// <param name="initial">The state a node finds on its first load.</param>
    public InMemoryStateStore(PersistedState? initial = null)
    {
        _state = initial is null ? PersistedState.Empty : Snapshot(initial);
    }

    /// <summary>Number of successful saves.</summary>
    public int SaveCount
    {
        get
        {
            lock (_gate)
            {
                return _saveCount;
            }
        }
    }

    /// <summary>The state last saved (or the initial state).</summary>
    public PersistedState Current
    {
        get
        {
            lock (_gate)
            {
                return _state;
            }
        }
    }

    /// <inheritdoc />
    public PersistedState Load()
    {
        lock (_gate)
        {
            return _state;
        }
    }

    /// <inheritdoc />
    /// <exception cref="IOException">The store was told to fail this save (or the exception given to <see cref="FailNextSave"/>).</exception>
    public void Save(PersistedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var snapshot = Snapshot(state);
        lock (_gate)
        {
            if (_nextSaveFailure is { } failure)
            {
                _nextSaveFailure = null;
                throw failure;
            }

            _state = snapshot;
            _saveCount++;
        }
    }

    /// <summary>Makes the next <see cref="Save"/> throw and leave the stored state unchanged.</summary>
    /// <param name="exception">What to throw. <value>Default: an <see cref="IOException"/> saying the failure was injected.</value></param>
    public void FailNextSave(Exception? exception = null)
    {
        lock (_gate)
        {
            _nextSaveFailure = exception ?? new IOException("Injected state store failure.");
        }
    }

    private static PersistedState Snapshot(PersistedState state)
    {
        ArgumentNullException.ThrowIfNull(state.Epochs);
        return new PersistedState(state.Incarnation, new Dictionary<string, ulong>(state.Epochs, StringComparer.Ordinal));
    }
}
