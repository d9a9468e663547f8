namespace HaKit.Replication;

/// <summary>
/// <see cref="ReplicatedLog.BecomeOwnerAsync"/> refused an epoch that another node owns: this node followed an owner in it (or
/// saw it before a restart). Two owners in one epoch would write different entries under the same positions.
/// </summary>
/// <param name="message">What was refused and why.</param>
internal sealed class EpochTakenException(string message) : InvalidOperationException(message);
