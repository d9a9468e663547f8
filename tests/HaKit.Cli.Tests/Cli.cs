using System.Diagnostics;

namespace HaKit.Cli.Tests;

/// <summary>Runs the tool in-process with captured output.</summary>
internal static class Cli
{
    /// <summary>Longest any single tool run may take in a test.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    public static Task<CliResult> RunAsync(params string[] args) => RunAsync(CancellationToken.None, args);

    public static async Task<CliResult> RunAsync(CancellationToken cancellationToken, params string[] args)
    {
        var output = new SyncWriter();
        var error = new SyncWriter();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(Bound);
        var watch = Stopwatch.StartNew();
        var code = await CliApp.RunAsync(args, new CliConsole(output, error, Terminal: false), bounded.Token);
        return new CliResult(code, output.Text, error.Text, watch.Elapsed);
    }

    /// <summary>Starts the tool and returns its task and live output (for commands that run until cancelled).</summary>
    public static (Task<int> Run, SyncWriter Out, SyncWriter Error) Start(CancellationToken cancellationToken, params string[] args)
    {
        var output = new SyncWriter();
        var error = new SyncWriter();
        var run = Task.Run(() => CliApp.RunAsync(args, new CliConsole(output, error, Terminal: false), cancellationToken));
        return (run, output, error);
    }

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds.</summary>
    public static async Task Until(Func<bool> condition, string what, TimeSpan? within = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > (within ?? TimeSpan.FromSeconds(15)))
            {
                Assert.Fail($"timed out waiting for {what}");
            }

            await Task.Delay(20);
        }
    }
}

internal sealed record CliResult(int Code, string Out, string Error, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {Code}\n--- stdout\n{Out}\n--- stderr\n{Error}";
}

/// <summary>A thread-safe string writer.</summary>
internal sealed class SyncWriter : TextWriter
{
    private readonly Lock _lock = new();
    private readonly System.Text.StringBuilder _text = new();

    public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

    public string Text
    {
        get
        {
            lock (_lock)
            {
                return _text.ToString();
            }
        }
    }

    public override void Write(char value)
    {
        lock (_lock)
        {
            _text.Append(value);
        }
    }

    public override void Write(string? value)
    {
        lock (_lock)
        {
            _text.Append(value);
        }
    }
}
