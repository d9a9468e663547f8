using Microsoft.Extensions.Logging;

namespace HaKit.Witness;

/// <summary>Source-generated log messages of the witness server (event ids 5001–5020).</summary>
internal static partial class WitnessLog
{
    [LoggerMessage(5001, LogLevel.Information, "witness {Name} listening on udp {Listen} for {ClusterCount} cluster(s): {Clusters}; leases of up to {MaxTtlMs} ms; quiet for the first {MaxTtlMs} ms (grants nothing until then: it may have granted a lease before it started that it no longer remembers)")]
    public static partial void Started(ILogger logger, string name, string listen, int clusterCount, string clusters, double maxTtlMs);

    [LoggerMessage(5002, LogLevel.Information, "cluster {Cluster}: nodes {Nodes}, incarnation {Incarnation}, {GroupCount} group epoch(s) loaded from {Path}")]
    public static partial void ClusterLoaded(ILogger logger, string cluster, string nodes, ulong incarnation, int groupCount, string path);

    [LoggerMessage(5003, LogLevel.Information, "witness {Name} stopped")]
    public static partial void Stopped(ILogger logger, string name);

    [LoggerMessage(5004, LogLevel.Information, "cluster {Cluster}: granted group {Group} to {Node} with epoch {Epoch} for {TtlMs} ms")]
    public static partial void Granted(ILogger logger, string cluster, string group, string node, ulong epoch, uint ttlMs);

    [LoggerMessage(5005, LogLevel.Debug, "cluster {Cluster}: renewed group {Group} for {Node} with epoch {Epoch} for {TtlMs} ms")]
    public static partial void Renewed(ILogger logger, string cluster, string group, string node, ulong epoch, uint ttlMs);

    [LoggerMessage(5006, LogLevel.Information, "cluster {Cluster}: refused group {Group} to {Node} (epoch {Epoch}, renew {Renew}): {Reason}")]
    public static partial void Refused(ILogger logger, string cluster, string group, string node, ulong epoch, bool renew, string reason);

    [LoggerMessage(5007, LogLevel.Information, "cluster {Cluster}: {Node} released group {Group} (epoch {Epoch})")]
    public static partial void Released(ILogger logger, string cluster, string group, string node, ulong epoch);

    [LoggerMessage(5008, LogLevel.Debug, "cluster {Cluster}: ignored a release of group {Group} epoch {Epoch} from {Node} (it holds no such lease here)")]
    public static partial void ReleaseIgnored(ILogger logger, string cluster, string group, string node, ulong epoch);

    [LoggerMessage(5009, LogLevel.Debug, "dropped a datagram from {From} (cluster {Cluster}): {Reason}; {Suppressed} other drop(s) not logged since the last message (see the per-cluster counters)")]
    public static partial void Dropped(ILogger logger, string from, string cluster, string reason, long suppressed);

    [LoggerMessage(5010, LogLevel.Error, "cluster {Cluster}: could not store epoch {Epoch} of group {Group} durably in {Path}; the grant to {Node} is withdrawn and refused")]
    public static partial void PersistFailed(ILogger logger, string cluster, string group, ulong epoch, string node, string path, Exception exception);

    [LoggerMessage(5011, LogLevel.Warning, "receive on {Listen} failed")]
    public static partial void ReceiveFailed(ILogger logger, string listen, Exception exception);

    [LoggerMessage(5012, LogLevel.Debug, "reply to {To} failed")]
    public static partial void SendFailed(ILogger logger, string to, Exception exception);

    [LoggerMessage(5013, LogLevel.Warning, "cluster {Cluster}: the reply to {Node} for group {Group} does not fit in one datagram and is not sent")]
    public static partial void ReplyTooLarge(ILogger logger, string cluster, string node, string group);

    [LoggerMessage(5014, LogLevel.Error, "cluster {Cluster}: handling a datagram failed")]
    public static partial void HandleFailed(ILogger logger, string cluster, Exception exception);

    [LoggerMessage(5015, LogLevel.Information, "cluster {Cluster}: {Count} outdated mark(s) loaded from {Path}")]
    public static partial void MarksLoaded(ILogger logger, string cluster, int count, string path);

    [LoggerMessage(5016, LogLevel.Warning, "cluster {Cluster}: outdated mark of {Node} in group {Group}: {Operation} by {Owner} stored (epoch {Epoch}, index {Index})")]
    public static partial void MarkStored(ILogger logger, string cluster, string group, string node, string owner, string operation, long epoch, long index);

    [LoggerMessage(5017, LogLevel.Information, "cluster {Cluster}: outdated mark of {Node} in group {Group}: {Operation} by {Requester} refused: {Reason}")]
    public static partial void MarkRefused(ILogger logger, string cluster, string group, string node, string requester, string operation, string reason);

    [LoggerMessage(5018, LogLevel.Error, "cluster {Cluster}: could not store the outdated mark of {Node} in group {Group} (from {Requester}) durably in {Path}; refused")]
    public static partial void MarkPersistFailed(ILogger logger, string cluster, string group, string node, string requester, string path, Exception exception);
}
