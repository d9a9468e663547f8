using System.Diagnostics;
using System.Text;

namespace HaKit.Integration.Harness;

/// <summary>The result of one <c>hakit</c> run.</summary>
/// <param name="ExitCode">The tool's exit code.</param>
/// <param name="Stdout">Everything it printed on standard output.</param>
/// <param name="Stderr">Everything it printed on standard error.</param>
public sealed record HakitResult(int ExitCode, string Stdout, string Stderr)
{
    /// <inheritdoc />
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

/// <summary>Runs the <c>hakit</c> tool (<c>dotnet HaKit.Cli.dll ...</c>) as a real process, bounded in time and always reaped.</summary>
public static class HakitTool
{
    /// <summary>Runs <c>hakit <paramref name="args"/></c> and waits for it to exit (killed after <paramref name="timeout"/>).</summary>
    public static async Task<HakitResult> RunAsync(TimeSpan timeout, params string[] args)
    {
        using var process = Start(args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"hakit {string.Join(' ', args)} did not exit within {timeout.TotalSeconds} s; stdout: {await stdout}; stderr: {await stderr}");
        }

        return new HakitResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts <c>hakit <paramref name="args"/></c> with standard output and error redirected; the caller kills and disposes it.</summary>
    public static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo(SampleProgram.DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(SampleProgram.CliDllPath);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        return Process.Start(info) ?? throw new InvalidOperationException("could not start hakit");
    }
}
