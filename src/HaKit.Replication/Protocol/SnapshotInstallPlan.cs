namespace HaKit.Replication.Protocol;

/// <summary>
/// What installing the owner's snapshot replaces, as <see cref="ReplicationCore.PlanSnapshotInstall"/> computed it before the
/// driver changes anything on disk.
/// </summary>
/// <param name="Position">The snapshot's position.</param>
/// <param name="OwnerEpoch">The epoch of the owner that sent it.</param>
/// <param name="Diverged">The entries (or, below the log's base, the range) the snapshot replaces without their being confirmed to
/// match the owner's history: handed to the callback before the log is cut; <see langword="null"/>: none.</param>
/// <param name="KeepThrough">The last entry the log keeps: everything after it is in <paramref name="Diverged"/>.</param>
/// <param name="KeepsLog">The log holds the snapshot's position in the owner's epoch: it is cut after
/// <paramref name="KeepThrough"/> and goes on from there (entries up to the snapshot are in it, those after it follow it).
/// Otherwise the log starts over after the snapshot.</param>
/// <param name="CatchUp">The position the node must hold again before it may own the group (history it held matched and the
/// snapshot does not cover); <see cref="LogPosition.Zero"/>: none.</param>
/// <param name="PreviousSnapshot">The position of the node's newest snapshot before this one: an emptied log continues after it
/// until the new file is in place.</param>
internal sealed record SnapshotInstallPlan(LogPosition Position, long OwnerEpoch, DivergedEntries? Diverged, LogPosition KeepThrough, bool KeepsLog,
    LogPosition CatchUp, LogPosition PreviousSnapshot)
{
    /// <summary>The log must be emptied before the snapshot is put in place: cut after <see cref="KeepThrough"/> it would not be a
    /// log a restart can read after this snapshot (it would resume past the snapshot's position with entries missing, or hold
    /// another history at it), so the driver deletes it while the old snapshot still covers what it keeps.</summary>
    public bool ClearsLog => !KeepsLog && KeepThrough.Index >= Position.Index;
}

/// <summary>The steps of installing an owner's snapshot after which a crash leaves a different state on disk (tests).</summary>
internal enum SnapshotInstallStep
{
    /// <summary>What the snapshot replaces went to the divergence callback; nothing on disk changed yet.</summary>
    Reported,

    /// <summary>The catch-up mark is written and the log cut (or emptied); the old snapshot is still the newest.</summary>
    LogCut,

    /// <summary>The new snapshot file is in place; the log is not yet reset after it.</summary>
    Published,
}
