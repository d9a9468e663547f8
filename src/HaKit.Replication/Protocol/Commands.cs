namespace HaKit.Replication.Protocol;

/// <summary>What the deterministic <see cref="ReplicationCore"/> asks its driver to do (the core itself does no I/O).</summary>
internal abstract record ReplicationCommand;

/// <summary>Write the highest epoch seen durably before acting on anything else (a restarted node must still refuse lower epochs).</summary>
internal sealed record PersistEpochCommand(long Epoch) : ReplicationCommand;

/// <summary>Write the epoch this node owns and the index its own entries follow durably (zeros: it followed another owner in
/// that epoch), with the earlier epochs it owned whose own entries may still be in its log (<paramref name="Earlier"/>), before
/// acting on anything else: a restarted node must still know which entries of those epochs are its own.</summary>
internal sealed record PersistOwnedEpochCommand(long Epoch, long From, IReadOnlyList<(long Epoch, long From)>? Earlier = null) : ReplicationCommand;

/// <summary>Write the entries <paramref name="FromIndex"/>..<paramref name="ToIndex"/> of the core's log to disk, then report
/// <see cref="ReplicationCore.LocalDurable"/> once an fdatasync covers them.</summary>
internal sealed record PersistEntriesCommand(long FromIndex, long ToIndex) : ReplicationCommand;

/// <summary>Cut the on-disk log after <paramref name="NewLast"/> (durably): flushes reported before it no longer count.</summary>
internal sealed record TruncateLogCommand(LogPosition NewLast) : ReplicationCommand;

/// <summary>Send a message to the peer (dropped if not connected: the protocol resends from the peer's position on reconnect).</summary>
internal sealed record SendCommand(ReplicationMessage Message) : ReplicationCommand;

/// <summary>Complete the owner's appends up to <paramref name="UpToIndex"/> (acknowledged in the group's mode).</summary>
internal sealed record AcknowledgeCommand(long UpToIndex) : ReplicationCommand;

/// <summary>Fail the owner's appends after <paramref name="AfterIndex"/> that are still waiting: the node is no longer owner.</summary>
internal sealed record FailPendingCommand(long AfterIndex, string Reason) : ReplicationCommand;

/// <summary>Apply the core's log entries after the state machine's applied index up to <paramref name="UpToIndex"/>, in order.</summary>
internal sealed record ApplyCommand(long UpToIndex) : ReplicationCommand;

/// <summary>The applied state went past the divergence point: restore the local snapshot and re-apply the log up to <paramref name="UpToIndex"/>.</summary>
internal sealed record RestoreLocalSnapshotCommand(long UpToIndex) : ReplicationCommand;

/// <summary>Hand entries cut from the log to the host's divergence callback.</summary>
internal sealed record DivergedCommand(DivergedEntries Diverged) : ReplicationCommand;

/// <summary>Owner: send the peer the chunk <paramref name="Offset"/>..+<paramref name="Count"/> of the snapshot file at
/// <paramref name="Position"/> (<paramref name="TotalBytes"/> in all) as a <see cref="SnapshotChunkMessage"/>. The driver keeps
/// the file open from the first chunk to <see cref="EndSnapshotSendCommand"/> (a newer snapshot may delete it meanwhile); if it
/// cannot open it, it reports <see cref="ReplicationCore.SnapshotUnavailable"/>.</summary>
internal sealed record SendSnapshotChunkCommand(long Epoch, LogPosition Position, long Offset, int Count, long TotalBytes) : ReplicationCommand;

/// <summary>Owner: the snapshot transfer ended (installed, or the stream or the role changed): close the file it read.</summary>
internal sealed record EndSnapshotSendCommand : ReplicationCommand;

/// <summary>Standby: write <paramref name="Data"/> at <paramref name="Offset"/> of the incoming snapshot file (0: a new transfer:
/// the file starts over). Not synced until <see cref="InstallSnapshotCommand"/>.</summary>
internal sealed record WriteSnapshotChunkCommand(LogPosition Position, long Offset, ReadOnlyMemory<byte> Data) : ReplicationCommand;

/// <summary>Standby: delete the partial incoming snapshot file (the transfer was interrupted for good: it is never installed).</summary>
internal sealed record DiscardSnapshotCommand : ReplicationCommand;

/// <summary>Standby: the incoming snapshot file is complete (<paramref name="TotalBytes"/>): sync it and check its header names
/// <paramref name="Position"/> and its CRC-32C holds; then, following <see cref="ReplicationCore.PlanSnapshotInstall"/>, report
/// what it replaces, cut or empty the on-disk log, rename the file into place (directory synced), restore the state machine from
/// it, start the log after it unless the plan keeps it, and report
/// <see cref="ReplicationCore.SnapshotInstalled(SnapshotInstallPlan, long)"/>; if the file does not check out, delete it and
/// report <see cref="ReplicationCore.SnapshotInstallFailed"/> (the old state is intact).</summary>
internal sealed record InstallSnapshotCommand(LogPosition Position, long TotalBytes) : ReplicationCommand;

/// <summary>Delete the on-disk segments whose entries are all at or below <paramref name="UpToIndex"/>.</summary>
internal sealed record CompactCommand(long UpToIndex) : ReplicationCommand;

/// <summary>Write the outdated mark <paramref name="Name"/> at <paramref name="Position"/> durably (<see cref="LogPosition.Zero"/>:
/// delete it durably) before acting on anything else (before acknowledging an entry the peer does not hold).</summary>
internal sealed record PersistMarkCommand(string Name, LogPosition Position) : ReplicationCommand;

/// <summary>Write the owner's acknowledged position last heard (file <c>known-lag</c>; <see cref="LogPosition.Zero"/>: delete it),
/// so that a restarted standby still knows its lag (<see cref="ReplicationCore.RestoreKnownOwnerAcknowledged"/>). Written at most
/// once per tick.</summary>
/// <param name="OwnerAcknowledged">The owner's acknowledged position.</param>
/// <param name="LagBytes">The byte lag last heard (in the same file; both zero: delete it).</param>
internal sealed record PersistKnownLagCommand(LogPosition OwnerAcknowledged, long LagBytes = 0) : ReplicationCommand;

/// <summary>Publish the owner's mark on its peer at the arbiter (<see cref="LogPosition.Zero"/>: clear it), after the local
/// <see cref="PersistMarkCommand"/>; report success with <see cref="ReplicationCore.MarkPublished"/>. Until then the owner
/// acknowledges nothing its peer does not hold.</summary>
internal sealed record PublishMarkCommand(LogPosition Position) : ReplicationCommand;
