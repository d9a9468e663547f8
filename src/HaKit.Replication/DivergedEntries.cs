namespace HaKit.Replication;

/// <summary>Why entries were cut from a node's log.</summary>
public enum DivergenceKind
{
    /// <summary>The current owner's log holds other entries at these positions (written in a higher epoch): these entries were
    /// written by an earlier owner and never replicated. They are not in the group's history.</summary>
    Conflict = 0,

    /// <summary>The owner compacted its log past the point where this node's log may diverge, and this node installed the
    /// owner's snapshot instead. These entries were not confirmed to match the owner's history: some may be in the snapshot,
    /// others lost.</summary>
    ReplacedBySnapshot = 1,
}

/// <summary>
/// Entries cut from this node's log because the group's history went another way (DRBD's after-split-brain, made explicit): the
/// host decides what to do with them (log them, re-submit them, alert an operator). They are never dropped silently.
/// </summary>
/// <param name="Kind">Why they were cut.</param>
/// <param name="Entries">The entries, in index order.</param>
/// <param name="OwnerEpoch">The epoch of the owner whose history replaced them.</param>
public sealed record DivergedEntries(DivergenceKind Kind, IReadOnlyList<LogEntry> Entries, long OwnerEpoch)
{
    /// <summary>
    /// Set when the owner's history also replaces entries that this node had already compacted into its own snapshot: the last
    /// of them (this node's entry there conflicts with the owner's). They are in this node's applied state but no longer on its
    /// disk, so they cannot be handed over as <see cref="Entries"/> (which holds only what follows them); the node replaces its
    /// state with the owner's snapshot. <see langword="null"/>: every cut entry is in <see cref="Entries"/>. This happens only
    /// after a loss the mode allows (an owner that lost acknowledged entries its peer held, then won a split brain) or when both
    /// nodes owned one epoch; see docs/replication.md, "Divergence below a node's own snapshot".
    /// </summary>
    public LogPosition? UnavailableThrough { get; init; }

    /// <summary>
    /// With <see cref="UnavailableThrough"/>: the first index of the unavailable entries when this node knows it (its own
    /// entries of an epoch the owner also wrote in start there); <see langword="null"/> when it does not (the divergence point
    /// lies at or below <see cref="UnavailableThrough"/>, somewhere after the last position both histories share).
    /// </summary>
    public long? UnavailableFrom { get; init; }
}
