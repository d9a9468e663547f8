namespace HaKit.Arbitration;

/// <summary>
/// A node's arbiter that holds HaKit.Replication's outdated marks besides the votes (Witness mode: the witness server). The mark
/// outlives the owner's lease; only the current holder of the group's grant at the arbiter sets or clears it (a deposed owner
/// cannot), and any node of the cluster reads it. Get one from <see cref="ClusterNode.OutdatedMarks"/>.
/// </summary>
/// <remarks>Every member completes, or throws <see cref="TimeoutException"/> (the arbiter did not answer or could not store the
/// mark: the outcome is unknown, try again), <see cref="NotSupportedException"/> (this arbiter cannot hold marks, e.g. a witness
/// of an earlier release) or <see cref="OperationCanceledException"/>.</remarks>
public interface IOutdatedMarkArbiter
{
    /// <summary>Where the marks live, for logs.</summary>
    string Name { get; }

    /// <summary>Marks <paramref name="node"/> outdated in <paramref name="group"/> since (<paramref name="epoch"/>, <paramref name="index"/>),
    /// stored durably before this returns <see langword="true"/>, only if this node holds the group's grant at the arbiter.</summary>
    /// <param name="group">The group.</param>
    /// <param name="node">The node marked (this node's peer).</param>
    /// <param name="epoch">This node's epoch as owner.</param>
    /// <param name="index">This node's acknowledged index when it marks.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns><see langword="false"/>: this node does not hold the group's grant at the arbiter.</returns>
    ValueTask<bool> SetOutdatedAsync(string group, string node, long epoch, long index, CancellationToken cancellationToken);

    /// <summary>Clears <paramref name="node"/>'s mark in <paramref name="group"/> (absent already: done), only if this node holds the
    /// group's grant at the arbiter.</summary>
    /// <param name="group">The group.</param>
    /// <param name="node">The node whose mark is cleared.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns><see langword="false"/>: this node does not hold the group's grant at the arbiter.</returns>
    ValueTask<bool> ClearOutdatedAsync(string group, string node, CancellationToken cancellationToken);

    /// <summary>Reads <paramref name="node"/>'s mark in <paramref name="group"/>.</summary>
    /// <param name="group">The group.</param>
    /// <param name="node">The node.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The mark, or <see langword="null"/> when there is none.</returns>
    ValueTask<OutdatedMark?> GetOutdatedAsync(string group, string node, CancellationToken cancellationToken);
}
