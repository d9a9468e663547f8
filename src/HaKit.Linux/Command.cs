using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;

namespace HaKit.Linux;

/// <summary>The outcome of one command.</summary>
/// <param name="ExitCode">The exit code; 127 when the executable was not found, 126 when it could not be executed.</param>
/// <param name="Stdout">Standard output.</param>
/// <param name="Stderr">Standard error.</param>
/// <param name="TimedOut">Whether the command was killed after its time-out.</param>
internal readonly record struct CommandResult(int ExitCode, string Stdout, string Stderr, bool TimedOut)
{
    /// <summary>Not found (ENOENT), as a shell reports it.</summary>
    public const int NotFound = 127;

    /// <summary>Not executable (EACCES), as a shell reports it.</summary>
    public const int NotExecutable = 126;

    /// <summary>The first non-empty line of stderr, else of stdout, for messages.</summary>
    public string Detail => FirstLine(Stderr) ?? FirstLine(Stdout) ?? "no output";

    private static string? FirstLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
}

/// <summary>Runs a program without a shell, with a time-out, capturing (and optionally logging) its output.</summary>
internal static class Command
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="arguments"/> (passed one by one, no shell).</summary>
    /// <param name="file">The executable (a path, or a name in PATH).</param>
    /// <param name="arguments">The arguments.</param>
    /// <param name="timeout">Kills the process tree after this long (a <see cref="CommandResult.TimedOut"/> result).</param>
    /// <param name="logger">Where output lines and the outcome go.</param>
    /// <param name="resource">The resource name (prefixes the lines).</param>
    /// <param name="logOutput">Log each output line (stdout Information, stderr Warning); otherwise only captured.</param>
    /// <param name="cancellationToken">Kills the process tree and throws <see cref="OperationCanceledException"/>.</param>
    /// <param name="environment">Extra environment variables.</param>
    /// <param name="timeoutExpected">The time-out is the normal end (arping -D waiting for an answer that does not come): not logged as a warning.</param>
    /// <returns>The result.</returns>
    public static async Task<CommandResult> RunAsync(string file, IEnumerable<string> arguments, TimeSpan timeout, ILogger logger, string resource,
        bool logOutput, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? environment = null, bool timeoutExpected = false)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            CreateNoWindow = true,
        };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                psi.Environment[key] = value;
            }
        }

        var shown = string.Join(' ', psi.ArgumentList.Prepend(file));
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var exited = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.Exited += (_, _) => exited.TrySetResult();
        process.OutputDataReceived += (_, e) => OnLine(e.Data, stdout, isError: false);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, stderr, isError: true);
        var started = TimeProvider.System.GetTimestamp();
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            return new CommandResult(ex.NativeErrorCode == 13 ? CommandResult.NotExecutable : CommandResult.NotFound, "", $"{file}: {ex.Message}", false);
        }

        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bound.CancelAfter(timeout);
        var timedOut = false;
        try
        {
            // The exit, not the end of the output: a daemon the command started may keep the pipes open.
            await exited.Task.WaitAsync(bound.Token).ConfigureAwait(false);
            using var drain = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            try
            {
                await process.WaitForExitAsync(drain.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // A descendant holds the pipes; its later output is not waited for.
            }
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await exited.Task.WaitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Unkillable (D state): reported as a time-out all the same.
            }

            cancellationToken.ThrowIfCancellationRequested();
            timedOut = true;
            if (!timeoutExpected)
            {
                LinuxLog.CommandTimedOut(logger, resource, shown, timeout);
            }
        }

        int exitCode;
        try
        {
            exitCode = process.HasExited ? process.ExitCode : -1;
        }
        catch (InvalidOperationException)
        {
            exitCode = -1;
        }

        LinuxLog.CommandDone(logger, resource, shown, exitCode, (long)TimeProvider.System.GetElapsedTime(started).TotalMilliseconds);
        lock (stdout)
        {
            lock (stderr)
            {
                return new CommandResult(exitCode, stdout.ToString(), stderr.ToString(), timedOut);
            }
        }

        void OnLine(string? line, StringBuilder into, bool isError)
        {
            if (line is null)
            {
                return;
            }

            lock (into)
            {
                into.Append(line).Append('\n');
            }

            if (logOutput)
            {
                if (isError)
                {
                    LinuxLog.Stderr(logger, resource, line);
                }
                else
                {
                    LinuxLog.Stdout(logger, resource, line);
                }
            }
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (Win32Exception)
        {
            // Exiting right now.
        }
    }
}
