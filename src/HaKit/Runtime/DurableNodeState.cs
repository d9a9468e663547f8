using HaKit.State;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>The node's durable state: its incarnation and the highest epoch per group, written through the <see cref="IStateStore"/>.</summary>
internal sealed class DurableNodeState(IStateStore store, ILogger logger)
{
    private readonly Dictionary<string, ulong> _epochs = new(StringComparer.Ordinal);

    /// <summary>This process's incarnation (0 before <see cref="Load"/>).</summary>
    public ulong Incarnation { get; private set; }

    /// <summary>The epochs in memory (the core starts from them; it is handed this dictionary).</summary>
    public Dictionary<string, ulong> Epochs => _epochs;

    /// <summary>A copy of the epochs.</summary>
    public Dictionary<string, ulong> CopyEpochs() => new(_epochs, StringComparer.Ordinal);

    /// <summary>Loads the state and starts a new incarnation, written at once.</summary>
    /// <param name="time">The clock (the wall clock makes the incarnation grow even if the state file is lost).</param>
    public void Load(TimeProvider time)
    {
        var state = store.Load();
        foreach (var (group, epoch) in state.Epochs)
        {
            _epochs[group] = epoch;
        }

        // Grows across restarts even if the state file is lost (wall clock), and even if the clock steps back (state file).
        Incarnation = Math.Max(state.Incarnation + 1, (ulong)Math.Max(1, time.GetUtcNow().ToUnixTimeMilliseconds()));
        store.Save(new PersistedState(Incarnation, CopyEpochs()));
    }

    /// <summary>Raises a group's durable epoch (fsynced by the state store); a lower or equal one changes nothing.</summary>
    /// <returns><see langword="null"/>, or why the state could not be written (the epoch in memory is then left as it was).</returns>
    public string? SaveEpoch(string group, ulong epoch)
    {
        var previous = _epochs.TryGetValue(group, out var p) ? p : 0;
        if (epoch <= previous)
        {
            return null;
        }

        _epochs[group] = epoch;
        try
        {
            store.Save(new PersistedState(Incarnation, CopyEpochs()));
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _epochs[group] = previous;
            return ex.Message;
        }
    }

    /// <summary>Witness mode: this node's voter granted its peer a higher epoch; keep it so that after a restart it never grants that epoch again.</summary>
    public void PersistGranted(string group, ulong epoch)
    {
        if (SaveEpoch(group, epoch) is { } error)
        {
            RuntimeLog.LoopError(logger, new IOException($"could not persist epoch {epoch} of group {group} granted to the peer: {error}"));
        }
    }
}
