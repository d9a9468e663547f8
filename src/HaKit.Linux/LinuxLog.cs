using Microsoft.Extensions.Logging;

namespace HaKit.Linux;

/// <summary>Source-generated log messages of the Linux resources.</summary>
internal static partial class LinuxLog
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "{Resource}: {Line}")]
    public static partial void Stdout(ILogger logger, string resource, string line);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning, Message = "{Resource}: {Line}")]
    public static partial void Stderr(ILogger logger, string resource, string line);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Debug, Message = "{Resource}: {Command} exited with {ExitCode} in {ElapsedMs} ms")]
    public static partial void CommandDone(ILogger logger, string resource, string command, int exitCode, long elapsedMs);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "{Resource}: {Command} did not finish within {Timeout}; killed")]
    public static partial void CommandTimedOut(ILogger logger, string resource, string command, TimeSpan timeout);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "{Resource}: added {Address} on {Interface}")]
    public static partial void AddressAdded(ILogger logger, string resource, string address, string @interface);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Information, Message = "{Resource}: removed {Address} from {Interface}")]
    public static partial void AddressRemoved(ILogger logger, string resource, string address, string @interface);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Warning, Message = "{Resource}: {Address} is still answered by {Mac}, the MAC of cluster peer address {Peer}: a stale copy left by a crash; taking it over (the announcements move the clients)")]
    public static partial void StaleCopyOnPeer(ILogger logger, string resource, string address, string mac, string peer);

    [LoggerMessage(EventId = 4013, Level = LogLevel.Debug, Message = "{Resource}: announced {Address} on {Interface} ({Count} x {Kind})")]
    public static partial void Announced(ILogger logger, string resource, string address, string @interface, int count, string kind);

    [LoggerMessage(EventId = 4014, Level = LogLevel.Warning, Message = "{Resource}: announcing {Address} failed: {Reason}")]
    public static partial void AnnounceFailed(ILogger logger, string resource, string address, string reason);

    [LoggerMessage(EventId = 4020, Level = LogLevel.Warning, Message = "{Resource}: killing process {Pid} ({Command}) that holds {Directory}")]
    public static partial void KillingHolder(ILogger logger, string resource, int pid, string command, string directory);
}
