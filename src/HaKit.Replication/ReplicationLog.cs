using Microsoft.Extensions.Logging;

namespace HaKit.Replication;

/// <summary>Source-generated log messages of HaKit.Replication.</summary>
internal static partial class ReplicationLog
{
    [LoggerMessage(EventId = 7001, Level = LogLevel.Error,
        Message = "Group {Group}: {Count} entries ({First}..{LastPosition}) cut from the log ({Kind}, owner epoch {OwnerEpoch}); no divergence callback is set, so they are only logged")]
    public static partial void DivergedWithoutCallback(ILogger logger, string group, int count, LogPosition first, LogPosition lastPosition, DivergenceKind kind, long ownerEpoch);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Group {Group}: {Count} entries cut from the log ({Kind}, owner epoch {OwnerEpoch}) and handed to the divergence callback")]
    public static partial void Diverged(ILogger logger, string group, int count, DivergenceKind kind, long ownerEpoch);

    [LoggerMessage(EventId = 7019, Level = LogLevel.Error,
        Message = "Group {Group}: the owner's history (epoch {OwnerEpoch}) replaces entries this node had already compacted into its own snapshot, from index {From} to {Through} ({Kind}): they are in its applied state but no longer on its disk, so the divergence callback gets their range, not their data; the node takes the owner's snapshot and refuses to own the group until it holds the owner's history there")]
    public static partial void DivergedUnavailable(ILogger logger, string group, long ownerEpoch, string from, LogPosition through, DivergenceKind kind);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Error, Message = "Group {Group}: the divergence callback threw")]
    public static partial void DivergenceCallbackFailed(ILogger logger, Exception exception, string group);

    [LoggerMessage(EventId = 7004, Level = LogLevel.Information, Message = "Group {Group}: role {Role} in epoch {Epoch}")]
    public static partial void RoleChanged(ILogger logger, string group, ReplicaRole role, long epoch);

    [LoggerMessage(EventId = 7005, Level = LogLevel.Information, Message = "Group {Group}: installed the owner's snapshot at {Position} ({Bytes} bytes)")]
    public static partial void SnapshotInstalled(ILogger logger, string group, LogPosition position, long bytes);

    [LoggerMessage(EventId = 7030, Level = LogLevel.Information, Message = "Group {Group}: sending the snapshot at {Position} ({Bytes} bytes) to the peer in chunks")]
    public static partial void SnapshotSendStarted(ILogger logger, string group, LogPosition position, long bytes);

    [LoggerMessage(EventId = 7031, Level = LogLevel.Information, Message = "Group {Group}: receiving the owner's snapshot at {Position} ({Bytes} bytes) in chunks")]
    public static partial void SnapshotTransferStarted(ILogger logger, string group, LogPosition position, long bytes);

    [LoggerMessage(EventId = 7032, Level = LogLevel.Warning, Message = "Group {Group}: the owner's snapshot at {Position} was not installed ({Problem}); the old state is intact, the transfer starts over")]
    public static partial void SnapshotRefused(ILogger logger, string group, LogPosition position, string problem);

    [LoggerMessage(EventId = 7006, Level = LogLevel.Critical, Message = "Group {Group}: the replica stopped on an error; appends fail until it is reopened")]
    public static partial void LoopFailed(ILogger logger, Exception exception, string group);

    [LoggerMessage(EventId = 7007, Level = LogLevel.Information, Message = "Group {Group}: peer stream {State}")]
    public static partial void PeerState(ILogger logger, string group, string state);

    [LoggerMessage(EventId = 7008, Level = LogLevel.Warning, Message = "Group {Group} ({Mode}): the peer confirmed nothing for {DegradeAfter}; this owner goes on writing alone (degraded)")]
    public static partial void Degraded(ILogger logger, string group, ReplicationMode mode, TimeSpan degradeAfter);

    [LoggerMessage(EventId = 7009, Level = LogLevel.Warning, Message = "Group {Group}: outdated mark {Mark} {Action} at {Position} (peer-outdated: this owner acknowledged writes its peer does not hold; outdated: this node must catch up before it may own the group)")]
    public static partial void Mark(ILogger logger, string group, string mark, string action, LogPosition position);

    [LoggerMessage(EventId = 7010, Level = LogLevel.Warning, Message = "Group {Group}: refusing to own the group in epoch {Epoch}: {Reason}")]
    public static partial void PromotionRefused(ILogger logger, string group, long epoch, string reason);

    [LoggerMessage(EventId = 7011, Level = LogLevel.Critical, Message = "Group {Group}: FORCED promotion in epoch {Epoch} at {At:O} by operator ({ForceReason}) although {Refusal}. Writes the old owner acknowledged beyond this node's log (index {Last}) are LOST from the group's history; if the old owner returns they are cut from its log and handed to the divergence callback")]
    public static partial void ForcedPromotion(ILogger logger, string group, long epoch, DateTimeOffset at, string forceReason, string refusal, long last);

    [LoggerMessage(EventId = 7013, Level = LogLevel.Information, Message = "Group {Group}: handover drain ended after {Ms:0} ms: the peer lacks {Missing} entries on disk (peer connected: {Connected}); appends were refused from its start")]
    public static partial void Drained(ILogger logger, string group, long missing, double ms, bool connected);

    [LoggerMessage(EventId = 7014, Level = LogLevel.Warning, Message = "Group {Group}: outdated mark on node {Node} {Action} at {Position} at the arbiter ({Arbiter})")]
    public static partial void ArbiterMark(ILogger logger, string group, string node, string action, LogPosition position, string arbiter);

    [LoggerMessage(EventId = 7015, Level = LogLevel.Error, Message = "Group {Group}: the arbiter ({Arbiter}) refused the outdated mark on node {Node} at {Position}: this node no longer holds the group there; nothing the peer lacks is acknowledged")]
    public static partial void ArbiterMarkRefused(ILogger logger, string group, string node, LogPosition position, string arbiter);

    [LoggerMessage(EventId = 7016, Level = LogLevel.Warning, Message = "Group {Group}: the arbiter ({Arbiter}) cannot be reached for the outdated mark: {Error}; writes the peer lacks wait until it answers")]
    public static partial void ArbiterUnavailable(ILogger logger, string group, string arbiter, string error);

    [LoggerMessage(EventId = 7017, Level = LogLevel.Warning, Message = "Group {Group}: the arbiter ({Arbiter}) cannot hold outdated marks ({Error}); the mark lives only in the two nodes' directories")]
    public static partial void ArbiterMarksUnsupported(ILogger logger, string group, string arbiter, string error);

    [LoggerMessage(EventId = 7018, Level = LogLevel.Warning, Message = "Group {Group}: the log's torn tail in {Path} was cut at offset {Offset}: {What}; {BytesCut} bytes from there on were written but never made durable together (a power failure before the batch's fdatasync), so none of it had been acknowledged. If the machine did not lose power, suspect the disk: a bad record inside data that was synced would look the same")]
    public static partial void TornBatchCut(ILogger logger, string group, string path, long offset, string what, long bytesCut);

    [LoggerMessage(EventId = 7012, Level = LogLevel.Warning, Message = "Replication server {Listen}: refused a client certificate ({Subject}): neither TrustedCaFile nor TrustedThumbprints accepts it")]
    public static partial void ClientCertificateRefused(ILogger logger, string listen, string subject);

    [LoggerMessage(EventId = 7040, Level = LogLevel.Warning, Message = "Replication server {Listen}: refused a connection from {Remote}: {Reason} (repeats are summed up every 10 s)")]
    public static partial void ConnectionRefused(ILogger logger, string listen, string remote, string reason);

    [LoggerMessage(EventId = 7041, Level = LogLevel.Warning, Message = "Group {Group}: nothing heard from node {Peer} on the replication stream for {Seconds} s (frozen, or cut off while its kernel still answers TCP): the stream is closed and dialed again")]
    public static partial void StreamSilent(ILogger logger, string group, string peer, double seconds);

    [LoggerMessage(EventId = 7042, Level = LogLevel.Warning, Message = "Group {Group}: the replication peer {Peer} accepted a connection but the stream did not come up ({Reason}); check that both nodes use the same Replication:Protocol and TLS settings and replicate this group (repeats are summed up every 10 s)")]
    public static partial void HandshakeFailed(ILogger logger, string group, string peer, string reason);
}
