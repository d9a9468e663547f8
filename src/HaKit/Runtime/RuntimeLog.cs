using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>Source-generated log messages, worded the way an HA admin reads Heartbeat's and Pacemaker's logs.</summary>
internal static partial class RuntimeLog
{
    [LoggerMessage(1, LogLevel.Information, "node {Node} started: cluster {Cluster}, incarnation {Incarnation}, links [{Links}], groups [{Groups}], arbiter {Arbiter}")]
    public static partial void Started(ILogger logger, string node, string cluster, ulong incarnation, string links, string groups, string arbiter);

    [LoggerMessage(2, LogLevel.Warning, "node {Peer} is dead (no heartbeat for {Seconds:0.00} s on {Links}): {Detail}")]
    public static partial void PeerDead(ILogger logger, string peer, double seconds, string links, string detail);

    [LoggerMessage(3, LogLevel.Warning, "node {Peer} is dead (never heard within the initial dead time): {Detail}")]
    public static partial void PeerNeverHeard(ILogger logger, string peer, string detail);

    [LoggerMessage(4, LogLevel.Warning, "node {Peer} is late (no heartbeat for {Seconds:0.00} s): {Detail}")]
    public static partial void PeerSuspect(ILogger logger, string peer, double seconds, string detail);

    [LoggerMessage(5, LogLevel.Information, "node {Peer} is alive: {Detail}")]
    public static partial void PeerAlive(ILogger logger, string peer, string detail);

    [LoggerMessage(6, LogLevel.Warning, "link {Link} to node {Peer} is down ({Detail})")]
    public static partial void LinkDown(ILogger logger, string link, string peer, string detail);

    [LoggerMessage(7, LogLevel.Information, "link {Link} to node {Peer} is {Health} ({Detail})")]
    public static partial void LinkChanged(ILogger logger, string link, string peer, string health, string detail);

    [LoggerMessage(8, LogLevel.Information, "group {Group}: acquiring, epoch {Epoch} ({Why})")]
    public static partial void Acquiring(ILogger logger, string group, ulong epoch, string why);

    [LoggerMessage(9, LogLevel.Information, "group {Group}: takeover complete in {Milliseconds:0} ms (epoch {Epoch}, {Reason})")]
    public static partial void TakeoverComplete(ILogger logger, string group, double milliseconds, ulong epoch, string reason);

    [LoggerMessage(10, LogLevel.Information, "group {Group}: {From} -> {To}, epoch {Epoch} ({Why})")]
    public static partial void RoleChanged(ILogger logger, string group, string from, string to, ulong epoch, string why);

    [LoggerMessage(11, LogLevel.Error, "group {Group}: SPLIT BRAIN: {Local} (epoch {LocalEpoch}) and {Peer} (epoch {PeerEpoch}) both run it; {Winner} keeps it, the other stops")]
    public static partial void SplitBrain(ILogger logger, string group, string local, ulong localEpoch, string peer, ulong peerEpoch, string winner);

    [LoggerMessage(12, LogLevel.Warning, "group {Group}: takeover delayed: {Reason}")]
    public static partial void TakeoverDelayed(ILogger logger, string group, string reason);

    [LoggerMessage(13, LogLevel.Warning, "fencing node {Node}: {Result} ({Explanation})")]
    public static partial void Fence(ILogger logger, string node, string result, string explanation);

    [LoggerMessage(14, LogLevel.Error, "group {Group}: failed ({Kind}) at resource {Resource}: {Message}")]
    public static partial void GroupFailed(ILogger logger, string group, string kind, string? resource, string? message);

    [LoggerMessage(15, LogLevel.Warning, "group {Group}: {Outcome} at resource {Resource}: {Message} ({Restarts} restart(s) in the failure window)")]
    public static partial void GroupHealth(ILogger logger, string group, string outcome, string? resource, string? message, int restarts);

    [LoggerMessage(16, LogLevel.Warning, "this node was stalled for {Milliseconds:0} ms (GC, CPU starvation or a suspended VM); the stall is not counted against peers")]
    public static partial void LocalPause(ILogger logger, double milliseconds);

    [LoggerMessage(1204, LogLevel.Information, "this node's first tick came {Milliseconds:0} ms late (slow start-up probes, or the machine stalled while it started); peers not heard yet get their initial dead time from now")]
    public static partial void FirstTickLate(ILogger logger, double milliseconds);

    [LoggerMessage(17, LogLevel.Information, "node {Peer} restarted (incarnation {Previous} -> {Incarnation})")]
    public static partial void PeerRestarted(ILogger logger, string peer, ulong previous, ulong incarnation);

    [LoggerMessage(18, LogLevel.Error, "group {Group}: cannot persist epoch {Epoch}: {Error}")]
    public static partial void PersistFailed(ILogger logger, string group, ulong epoch, string error);

    [LoggerMessage(19, LogLevel.Debug, "group {Group}: {Action} {Resource}: {Result} in {Milliseconds:0} ms")]
    public static partial void ResourceAction(ILogger logger, string group, string action, string resource, string result, double milliseconds);

    [LoggerMessage(20, LogLevel.Information, "node {Node}: every group released, ready to exit")]
    public static partial void ShutdownReady(ILogger logger, string node);

    [LoggerMessage(21, LogLevel.Warning, "link {Link}: transport fault: {Message}")]
    public static partial void TransportFault(ILogger logger, string link, string message);

    [LoggerMessage(22, LogLevel.Error, "internal error in the cluster loop (the node keeps running)")]
    public static partial void LoopError(ILogger logger, Exception exception);

    [LoggerMessage(23, LogLevel.Error, "group {Group}: BLOCKED on this node ({Why}); it will not start elsewhere until this node is fenced or cleaned up")]
    public static partial void Blocked(ILogger logger, string group, string why);

    [LoggerMessage(24, LogLevel.Error, "event subscriber threw; the event is still delivered to other subscribers")]
    public static partial void SubscriberError(ILogger logger, Exception exception);

    [LoggerMessage(26, LogLevel.Information, "timing ({Preset} preset, interval {IntervalMs:0} ms, dead time {DeadMs:0} ms): {Budget}")]
    public static partial void TimingBudget(ILogger logger, string preset, double intervalMs, double deadMs, string budget);

    [LoggerMessage(27, LogLevel.Information, "node {Peer} left the cluster (graceful shutdown): {Detail}")]
    public static partial void PeerLeft(ILogger logger, string peer, string detail);

    [LoggerMessage(1201, LogLevel.Warning, "ipfail: moving group {Group} to {Node}: this node reaches {Score} of {Targets} ping targets, {Node} reaches {PeerScore}; lost: {Lost}")]
    public static partial void IpfailMove(ILogger logger, string group, string node, int score, int targets, int peerScore, string lost);

    [LoggerMessage(1202, LogLevel.Warning, "ipfail: ping targets reached {Score} of {Targets} (was {Previous}); unreachable: {Lost}")]
    public static partial void ReachabilityChanged(ILogger logger, int score, int targets, int previous, string lost);

    [LoggerMessage(1203, LogLevel.Information, "ipfail: probing {Targets} ping target(s) every {IntervalMs} ms, moving a group after {Rounds} rounds below a peer: {List}")]
    public static partial void IpfailStarted(ILogger logger, int targets, double intervalMs, int rounds, string list);

    [LoggerMessage(28, LogLevel.Information, "group {Group} handed over to {Node}")]
    public static partial void HandedOver(ILogger logger, string group, string node);

    [LoggerMessage(29, LogLevel.Information, "real-time scheduling: every thread runs SCHED_RR priority {Priority}")]
    public static partial void RealtimeApplied(ILogger logger, int priority);

    [LoggerMessage(30, LogLevel.Warning, "real-time scheduling not applied: {Reason}")]
    public static partial void RealtimeNotApplied(ILogger logger, string reason);

    [LoggerMessage(31, LogLevel.Debug, "warm-up: {Prepared} methods compiled ahead of a takeover ({Failed} skipped) in {Ms:0} ms")]
    public static partial void WarmedUp(ILogger logger, int prepared, int failed, double ms);

    [LoggerMessage(32, LogLevel.Debug, "warm-up stopped early ({Error}: {Message}); the first takeover may be slower")]
    public static partial void WarmUpFailed(ILogger logger, string error, string message);

    [LoggerMessage(33, LogLevel.Debug, "arbiter reports group {Group} free (its key was deleted): a waiting takeover asks again now")]
    public static partial void ArbiterFreed(ILogger logger, string group);

    [LoggerMessage(34, LogLevel.Warning, "arbiter watch ended ({Error}); free groups are noticed at the next retry")]
    public static partial void ArbiterWatchFailed(ILogger logger, string error);

    [LoggerMessage(25, LogLevel.Information, "node {Node} stopped")]
    public static partial void Stopped(ILogger logger, string node);

    [LoggerMessage(35, LogLevel.Warning, "node {Node} disposed without StopAsync: stopping gracefully (owned groups are handed over, for at most {Seconds:0.#} s); call StopAsync first to choose the bound, or AbortAsync to stop without handing over")]
    public static partial void DisposedWhileRunning(ILogger logger, string node, double seconds);

    [LoggerMessage(36, LogLevel.Warning, "node {Node} aborted: stopping without handing groups over (peers take over after the dead time)")]
    public static partial void Aborted(ILogger logger, string node);

    [LoggerMessage(50, LogLevel.Warning, "crash hint: node {Peer}'s process is gone ({Evidence}); shortens the takeover of [{Groups}]: {Why}")]
    public static partial void CrashHinted(ILogger logger, string peer, string evidence, string groups, string why);

    [LoggerMessage(51, LogLevel.Information, "link {Link}: {Evidence} (node {Peer}); the core weighs it against the other links")]
    public static partial void CrashHintReceived(ILogger logger, string link, string peer, string evidence);

    [LoggerMessage(37, LogLevel.Information, "admin: {What} of group {Group} forwarded to its owner {Owner}")]
    public static partial void AdminForwarded(ILogger logger, string what, string group, string owner);

    [LoggerMessage(38, LogLevel.Information, "admin: {What} of group {Group} asked by {Requester}: {Outcome}: {Message}")]
    public static partial void AdminRequestHandled(ILogger logger, string what, string group, string requester, string outcome, string message);

    [LoggerMessage(60, LogLevel.Warning, "Link {Link}: dropping datagrams ({Reason}); counted in the node's WireStats, further drops summarized every {Seconds} s")]
    public static partial void DatagramsDropping(ILogger logger, string link, string reason, double seconds);

    [LoggerMessage(61, LogLevel.Error, "the heartbeat sender thread failed; heartbeats now go out only from the node's loop")]
    public static partial void HeartbeatSenderFailed(ILogger logger, Exception error);

    [LoggerMessage(65, LogLevel.Warning, "a heartbeat sender thread could not be pinned to CPU {Cpu}; it runs wherever the scheduler puts it")]
    public static partial void HeartbeatSenderUnpinned(ILogger logger, int cpu);

    [LoggerMessage(62, LogLevel.Warning, "{Count} event log lines dropped: the log sink fell {Capacity} lines behind (events, metrics and subscribers still saw every event)")]
    public static partial void EventLinesDropped(ILogger logger, long count, int capacity);
}
