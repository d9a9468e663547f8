using Microsoft.Extensions.Logging;

namespace HaKit.Hosting;

/// <summary>Source-generated log messages of the hosting integration.</summary>
internal static partial class HostingLog
{
    [LoggerMessage(101, LogLevel.Information, "raised HostOptions.ShutdownTimeout from {Configured} to {Required} so that a graceful handover fits: stop timeouts {Stops} + 2 x dead time {DeadTimes} + 5 s")]
    public static partial void ShutdownTimeoutRaised(ILogger logger, TimeSpan configured, TimeSpan required, TimeSpan stops, TimeSpan deadTimes);

    [LoggerMessage(102, LogLevel.Information, "host stopping: node {Node} hands over {Groups}")]
    public static partial void HandingOver(ILogger logger, string node, string groups);

    [LoggerMessage(107, LogLevel.Warning, "the host's shutdown timeout ran out before node {Node} handed every group over; stopping now (peers take over after their dead time)")]
    public static partial void ShutdownTimedOut(ILogger logger, string node);

    [LoggerMessage(108, LogLevel.Error, "node {Node} failed to start: {Error}")]
    public static partial void StartFailed(ILogger logger, string node, string error);

    [LoggerMessage(109, LogLevel.Information, "node {Node}: admin API on {Endpoint}")]
    public static partial void AdminListening(ILogger logger, string node, string endpoint);

    [LoggerMessage(110, LogLevel.Warning, "node {Node}: FORCED takeover of group {Group} by {Caller} at {At:O}: {Count} resource(s) may start although this node's data is behind (writes acknowledged by the old owner beyond this node's log are lost); failures cleared")]
    public static partial void ForcedTakeover(ILogger logger, string node, string group, string caller, DateTimeOffset at, int count);
}
