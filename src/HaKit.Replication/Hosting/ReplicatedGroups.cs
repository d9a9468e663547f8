using System.Collections.Concurrent;

namespace HaKit.Replication;

/// <summary>The replicated logs a host opened (registered in the container by <c>UseReplication()</c>).</summary>
public sealed class ReplicatedGroups
{
    private readonly ConcurrentDictionary<string, ReplicatedLog> _logs = new(StringComparer.Ordinal);

    /// <summary>The groups whose log is open, in name order.</summary>
    public IReadOnlyList<string> Names => [.. _logs.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The log of <paramref name="group"/>.</summary>
    /// <param name="group">The group.</param>
    /// <returns>The log.</returns>
    /// <exception cref="InvalidOperationException">The group is not replicated, or the host has not started yet (logs are opened
    /// at start-up, before the node starts).</exception>
    public ReplicatedLog GetLog(string group) =>
        _logs.TryGetValue(group, out var log)
            ? log
            : throw new InvalidOperationException($"group {group} has no open replicated log: it is not registered with UseReplication(), or the host has not started yet");

    /// <summary>Looks the log of <paramref name="group"/> up.</summary>
    /// <param name="group">The group.</param>
    /// <param name="log">The log, when open.</param>
    /// <returns>Whether it is open.</returns>
    public bool TryGetLog(string group, out ReplicatedLog log) => _logs.TryGetValue(group, out log!);

    internal void Add(ReplicatedLog log) => _logs[log.Group] = log;

    internal void Clear() => _logs.Clear();
}
