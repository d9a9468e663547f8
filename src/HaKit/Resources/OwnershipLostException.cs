namespace HaKit;

/// <summary>
/// Thrown by <see cref="ResourceContext.EnsureOwned"/> when this node does not own the group for the context's epoch at that
/// instant: the ownership token was cancelled, the lease's safe end passed, or (TwoNode) the node was stalled longer than the
/// peer's dead time. A side effect guarded by it must not happen.
/// </summary>
public sealed class OwnershipLostException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="group">The group.</param>
    /// <param name="node">The local node.</param>
    /// <param name="epoch">The epoch the caller acted for.</param>
    /// <param name="reason">Why it is not owned, in words.</param>
    public OwnershipLostException(string group, string node, ulong epoch, string reason)
        : base($"node {node} does not own group {group} at epoch {epoch}: {reason}")
    {
        Group = group;
        Node = node;
        Epoch = epoch;
        Reason = reason;
    }

    /// <summary>The group.</summary>
    public string Group { get; }

    /// <summary>The local node.</summary>
    public string Node { get; }

    /// <summary>The epoch the caller acted for.</summary>
    public ulong Epoch { get; }

    /// <summary>Why the group is not owned, in words.</summary>
    public string Reason { get; }
}
