using Microsoft.Extensions.Logging;

namespace HaKit.Resources;

/// <summary>Source-generated log messages of the resources area.</summary>
internal static partial class ResourcesLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "group {Group}: {Action} {Resource} ok in {ElapsedMs} ms")]
    public static partial void ActionSucceeded(ILogger logger, string group, string action, string resource, long elapsedMs);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "group {Group}: monitor {Resource} running ({ElapsedMs} ms)")]
    public static partial void MonitorRunning(ILogger logger, string group, string resource, long elapsedMs);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "group {Group}: monitor {Resource} degraded: {Reason}")]
    public static partial void MonitorDegraded(ILogger logger, string group, string resource, string? reason);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "group {Group}: {Action} {Resource} failed ({Kind}: {Reason}) in {ElapsedMs} ms")]
    public static partial void ActionFailed(ILogger logger, string group, string action, string resource, ResourceFailureKind kind, string? reason, long elapsedMs, Exception? exception);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "group {Group}: {Action} {Resource} timed out after {Timeout}")]
    public static partial void ActionTimedOut(ILogger logger, string group, string action, string resource, TimeSpan timeout);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "group {Group}: {Action} {Resource} failed ({Kind}: {Reason}), restarting ({Count}/{Max} in {Window})")]
    public static partial void Restarting(ILogger logger, string group, string action, string resource, string kind, string? reason, int count, int max, TimeSpan window);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Error, Message = "group {Group}: {Resource} failed ({Kind}: {Reason}), restart budget exhausted ({Max} in {Window}); the group must move")]
    public static partial void BudgetExhausted(ILogger logger, string group, string resource, ResourceFailureKind kind, string? reason, int max, TimeSpan window);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Error, Message = "group {Group}: {Resource} failed ({Kind}: {Reason}); the group cannot run on this node")]
    public static partial void GroupFailed(ILogger logger, string group, string resource, ResourceFailureKind kind, string? reason);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Critical, Message = "group {Group}: stop {Resource} failed ({Reason}); the group is blocked until this node is fenced or the failure is cleared")]
    public static partial void GroupBlocked(ILogger logger, string group, string resource, string? reason);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Error, Message = "group {Group}: an ActionCompleted handler threw")]
    public static partial void HandlerFailed(ILogger logger, string group, Exception exception);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "group {Group}: orphan probe: {Resource} was {Status} on this node, which does not own the group (left by an earlier process: a crash, a kill); stopped it ({Detail})")]
    public static partial void OrphanStopped(ILogger logger, string group, string resource, ResourceStatus status, string detail);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Critical, Message = "group {Group}: orphan probe: {Resource} was {Status} on this node, which does not own the group, and could not be stopped ({Reason}); stop it by hand before this node takes the group")]
    public static partial void OrphanNotStopped(ILogger logger, string group, string resource, ResourceStatus status, string reason);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Information, Message = "group {Group}: {Resource} announced again (a split brain resolved in this node's favour)")]
    public static partial void Reannounced(ILogger logger, string group, string resource);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Warning, Message = "group {Group}: announcing {Resource} again failed: {Reason}")]
    public static partial void ReannounceFailed(ILogger logger, string group, string resource, string reason);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "{Resource}: {Line}")]
    public static partial void ProcessStdout(ILogger logger, string resource, string line);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "{Resource}: {Line}")]
    public static partial void ProcessStderr(ILogger logger, string resource, string line);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Information, Message = "{Resource}: started process {Pid} ({FileName})")]
    public static partial void ProcessStarted(ILogger logger, string resource, int pid, string fileName);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Information, Message = "{Resource}: process {Pid} exited with code {ExitCode}")]
    public static partial void ProcessExited(ILogger logger, string resource, int pid, int exitCode);

    [LoggerMessage(EventId = 3024, Level = LogLevel.Warning, Message = "{Resource}: process {Pid} did not exit within {Grace} after SIGTERM; killing the process tree")]
    public static partial void ProcessKilling(ILogger logger, string resource, int pid, TimeSpan grace);
}
