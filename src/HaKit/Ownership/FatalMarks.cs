namespace HaKit.Ownership;

/// <summary>
/// A fatal resource failure of a group, shared by the whole cluster: while <see cref="Mark"/> is above <see cref="Cleared"/>
/// every node stops the group and none starts it.
/// </summary>
/// <remarks>
/// Both numbers only grow and travel in every heartbeat (<c>fatal_mark</c>, <c>fatal_cleared</c>); a receiver max-merges
/// them, so a mark raised on one node and a clear made on any node reach every node, in any order.
/// </remarks>
internal sealed class FatalMarks
{
    /// <summary>The highest epoch at which a fatal failure was reported (0: never).</summary>
    public ulong Mark { get; private set; }

    /// <summary>The highest mark an operator cleared.</summary>
    public ulong Cleared { get; private set; }

    /// <summary>Whether a fatal failure is in force.</summary>
    public bool IsFatal => Mark > Cleared;

    /// <summary>Marks a fatal failure at <paramref name="epoch"/> (at least 1, so that epoch 0 still marks).</summary>
    /// <param name="epoch">The owner's epoch.</param>
    public void Raise(ulong epoch) => Mark = Math.Max(Mark, Math.Max(epoch, 1));

    /// <summary>Clears every mark raised so far (operator cleanup).</summary>
    public void Clear() => Cleared = Math.Max(Cleared, Mark);

    /// <summary>Merges a peer's announced marks.</summary>
    /// <param name="mark">The peer's <c>fatal_mark</c>.</param>
    /// <param name="cleared">The peer's <c>fatal_cleared</c>.</param>
    public void Merge(ulong mark, ulong cleared)
    {
        Mark = Math.Max(Mark, mark);
        Cleared = Math.Max(Cleared, cleared);
    }
}
