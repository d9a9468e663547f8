using Microsoft.Extensions.Logging;

namespace HaKit.Linux;

/// <summary>Runs one action of a script resource: bounded by the action's token (the group's time-out) and a backstop, output logged.</summary>
internal static class ScriptRunner
{
    /// <summary>The longest any single script action may run when the caller's token never fires.</summary>
    public static readonly TimeSpan Backstop = TimeSpan.FromMinutes(5);

    /// <summary>Runs <paramref name="file"/> <paramref name="arguments"/> and returns its result; a time-out by the caller's token throws.</summary>
    public static Task<CommandResult> RunAsync(string file, IEnumerable<string> arguments, ILogger logger, string resource, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? environment = null) =>
        Command.RunAsync(file, arguments, Backstop, logger, resource, logOutput: true, cancellationToken, environment);

    /// <summary>Splits Heartbeat's <c>script::arg1::arg2</c> form.</summary>
    public static (string Script, List<string> Arguments) SplitHeartbeatForm(string spec)
    {
        var parts = spec.Split("::");
        return (parts[0], [.. parts.Skip(1)]);
    }
}
