namespace HaKit.Replication.Arbiter;

/// <summary>
/// Where an owner publishes that its peer is outdated, beyond the two nodes' own directories: the node's arbiter (the etcd store,
/// the witness), which a standby cut off from the owner can still read before it is promoted (DRBD's <c>fencing resource-only</c>,
/// the fence-peer handler outdating the peer through a third party). One store per node; the writer is this node.
/// </summary>
/// <remarks>Every member completes, or throws <see cref="OutdatedMarkStoreUnavailableException"/> (the arbiter cannot be reached:
/// the outcome is unknown), <see cref="NotSupportedException"/> (this arbiter cannot hold marks: treated as having none) or
/// <see cref="OperationCanceledException"/>.</remarks>
internal interface IOutdatedMarkStore
{
    /// <summary>Where the marks live, for logs.</summary>
    string Name { get; }

    /// <summary>Marks <paramref name="node"/> outdated in <paramref name="group"/> since <paramref name="at"/> (the writer's epoch and
    /// acknowledged index), only if this node still holds the group at the arbiter.</summary>
    /// <returns><see langword="false"/>: this node no longer holds the group there (a deposed owner cannot mark).</returns>
    ValueTask<bool> SetAsync(string group, string node, LogPosition at, CancellationToken cancellationToken);

    /// <summary>Clears <paramref name="node"/>'s mark in <paramref name="group"/>, only if this node holds the group at the arbiter.</summary>
    /// <returns><see langword="false"/>: this node does not hold the group there.</returns>
    ValueTask<bool> ClearAsync(string group, string node, CancellationToken cancellationToken);

    /// <summary>Reads <paramref name="node"/>'s mark in <paramref name="group"/>.</summary>
    /// <returns>The mark (who wrote it and where), or <see langword="null"/> when there is none.</returns>
    ValueTask<ArbiterOutdatedMark?> GetAsync(string group, string node, CancellationToken cancellationToken);
}

/// <summary>A mark read from the arbiter: <see cref="MarkedBy"/> acknowledged writes up to <see cref="At"/> without the marked node.</summary>
/// <param name="At">The marking owner's epoch and acknowledged index when it marked.</param>
/// <param name="MarkedBy">The owner that wrote it.</param>
internal sealed record ArbiterOutdatedMark(LogPosition At, string MarkedBy);

/// <summary>The arbiter holding the outdated marks cannot be reached (the outcome of a write is unknown).</summary>
/// <param name="message">What failed.</param>
/// <param name="inner">The arbiter client's exception.</param>
internal sealed class OutdatedMarkStoreUnavailableException(string message, Exception? inner) : Exception(message, inner);

/// <summary>How a log publishes and reads marks: the store and this node's and its peer's names.</summary>
/// <param name="Store">The arbiter's marks.</param>
/// <param name="Node">This node's name.</param>
/// <param name="Peer">The peer's name (the node an owner marks).</param>
internal sealed record ArbiterMarkBinding(IOutdatedMarkStore Store, string Node, string Peer);
