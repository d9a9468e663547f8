namespace HaKit.Cli;

/// <summary>The tool's exit codes (docs/operations.md).</summary>
internal static class ExitCodes
{
    /// <summary>The command was done (or the node accepted it).</summary>
    public const int Done = 0;

    /// <summary>The node refused the command (its reason is printed), or a checked configuration is invalid.</summary>
    public const int Refused = 1;

    /// <summary>The command line is wrong (unknown command or option, a missing argument, an unusable endpoint or file).</summary>
    public const int Usage = 2;

    /// <summary>The node could not be reached: no socket, connection refused, a failed TLS handshake, or no answer within the timeout.</summary>
    public const int Unreachable = 3;
}

/// <summary>Ends a command with an exit code and a message for standard error.</summary>
/// <param name="exitCode">One of <see cref="ExitCodes"/>.</param>
/// <param name="message">What went wrong and, where there is one, the fix.</param>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    /// <summary>The exit code.</summary>
    public int ExitCode { get; } = exitCode;
}

/// <summary>Where the tool writes: standard output and error, and whether the output is an interactive terminal.</summary>
/// <param name="Out">Results (tables, JSON, events).</param>
/// <param name="Error">Refusals, errors, warnings and notices.</param>
/// <param name="Terminal">Standard output is an interactive terminal (colours, a live display for <c>status --watch</c>).</param>
internal sealed record CliConsole(TextWriter Out, TextWriter Error, bool Terminal)
{
    /// <summary>The process's console.</summary>
    public static CliConsole FromProcess() => new(Console.Out, Console.Error, !Console.IsOutputRedirected);
}
