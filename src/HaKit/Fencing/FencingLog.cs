using Microsoft.Extensions.Logging;

namespace HaKit.Fencing;

/// <summary>Source-generated log messages of the built-in fence agents (event ids 4001-4019).</summary>
internal static partial class FencingLog
{
    [LoggerMessage(4001, LogLevel.Information, "fence agent {Agent}: running {Action} {Node} ({Command})")]
    public static partial void ScriptStarting(ILogger logger, string agent, string action, string node, string command);

    [LoggerMessage(4002, LogLevel.Information, "fence agent {Agent}: {Line}")]
    public static partial void ScriptStdout(ILogger logger, string agent, string line);

    [LoggerMessage(4003, LogLevel.Warning, "fence agent {Agent}: {Line}")]
    public static partial void ScriptStderr(ILogger logger, string agent, string line);

    [LoggerMessage(4004, LogLevel.Information, "fence agent {Agent}: {Action} {Node} exited with code {ExitCode} in {ElapsedMs:0} ms")]
    public static partial void ScriptExited(ILogger logger, string agent, string action, string node, int exitCode, double elapsedMs);

    [LoggerMessage(4005, LogLevel.Warning, "fence agent {Agent}: {Action} {Node} cancelled (timeout or shutdown); killed process tree {Pid}")]
    public static partial void ScriptKilled(ILogger logger, string agent, string action, string node, int pid);

    [LoggerMessage(4006, LogLevel.Information, "fence agent {Agent}: {Method} {Url} answered {Status} in {ElapsedMs:0} ms")]
    public static partial void HttpAnswered(ILogger logger, string agent, string method, string url, int status, double elapsedMs);

    [LoggerMessage(4007, LogLevel.Warning, "fence agent {Agent}: {Result}")]
    public static partial void Failed(ILogger logger, string agent, string result);

    [LoggerMessage(4008, LogLevel.Information, "fence agent {Agent}: {Result}")]
    public static partial void Succeeded(ILogger logger, string agent, string result);
}
