using Microsoft.Extensions.Logging;

namespace HaKit.Hosting;

/// <summary>Source-generated log messages of the hosting integration.</summary>
internal static partial class HostingLog
{
    [LoggerMessage(101, LogLevel.Information, "raised HostOptions.ShutdownTimeout from {Configured} to {Required} so that a graceful handover fits: stop timeouts {Stops} + 2 x dead time {DeadTimes} + 5 s")]
    public static partial void ShutdownTimeoutRaised(ILogger logger, TimeSpan configured, TimeSpan required, TimeSpan stops, TimeSpan deadTimes);

    [LoggerMessage(102, LogLevel.Information, "host stopping: node {Node} hands over {Groups}")]
    public static partial void HandingOver(ILogger logger, string node, string groups);

    [LoggerMessage(103, LogLevel.Information, "group {Group} handed over to {Owner}")]
    public static partial void HandedOver(ILogger logger, string group, string owner);

    [LoggerMessage(104, LogLevel.Warning, "group {Group}: no peer confirmed the handover within {Seconds:0.00} s; a live peer takes it over once it sees this node dead")]
    public static partial void HandoverUnconfirmed(ILogger logger, string group, double seconds);

    [LoggerMessage(105, LogLevel.Warning, "group {Group}: no live peer to hand it to; it stays stopped until a node can run it")]
    public static partial void NoPeer(ILogger logger, string group);

    [LoggerMessage(106, LogLevel.Error, "group {Group} is Blocked (its stop failed): it is not handed over; fence this node or clean up the resources by hand before another node may start it")]
    public static partial void BlockedAtShutdown(ILogger logger, string group);

    [LoggerMessage(107, LogLevel.Warning, "the host's shutdown timeout ran out before node {Node} handed every group over; stopping now (peers take over after their dead time)")]
    public static partial void ShutdownTimedOut(ILogger logger, string node);

    [LoggerMessage(108, LogLevel.Error, "node {Node} failed to start: {Error}")]
    public static partial void StartFailed(ILogger logger, string node, string error);
}
