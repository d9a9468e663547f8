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
public sealed record DivergedEntries(DivergenceKind Kind, IReadOnlyList<LogEntry> Entries, long OwnerEpoch);
