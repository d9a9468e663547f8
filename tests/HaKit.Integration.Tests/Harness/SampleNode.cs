using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace HaKit.Integration.Harness;

/// <summary>
/// One real process (normally <c>dotnet TwoNode.Console.dll --node X ...</c>): stdout lines parsed as they arrive, stderr kept
/// for diagnostics, bounded waits, SIGKILL / SIGTERM. Disposing always kills what still runs and reaps it.
/// </summary>
public sealed partial class SampleNode : IAsyncDisposable
{
    private const int SigKill = 9;
    private const int SigTerm = 15;
    private const int SigStop = 19;
    private const int SigCont = 18;
    private const int MaxStderrChars = 256 * 1024;
    private readonly Process _process;
    private readonly List<SampleLine> _lines = [];
    private readonly List<string> _unparsed = [];
    private readonly StringBuilder _stderr = new();
    private readonly Lock _gate = new();
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _stdoutClosed;
    private bool _disposed;
    private bool _exitedAtDispose;
    private int? _exitCodeAtDispose;

    private SampleNode(string name, Process process, string commandLine)
    {
        Name = name;
        _process = process;
        CommandLine = commandLine;
        StartedTicks = Stopwatch.GetTimestamp();
        Pid = process.Id;
        _stdoutPump = Task.Run(PumpStdoutAsync);
        _stderrPump = Task.Run(PumpStderrAsync);
    }

    /// <summary>A label for messages (the node name, e.g. <c>a</c>).</summary>
    public string Name { get; }

    /// <summary>The process id.</summary>
    public int Pid { get; }

    /// <summary>What was started, for messages.</summary>
    public string CommandLine { get; }

    /// <summary>When the process was started (<see cref="Stopwatch"/> ticks, taken right after <see cref="Process.Start()"/>).</summary>
    public long StartedTicks { get; }

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _disposed ? _exitedAtDispose : _process.HasExited;

    /// <summary>The exit code once exited, otherwise null.</summary>
    public int? ExitCode => _disposed ? _exitCodeAtDispose : _process.HasExited ? _process.ExitCode : null;

    /// <summary>The parsed stdout lines so far.</summary>
    public IReadOnlyList<SampleLine> Lines
    {
        get
        {
            lock (_gate)
            {
                return [.. _lines];
            }
        }
    }

    /// <summary>Stdout lines that did not follow the contract (no leading timestamp).</summary>
    public IReadOnlyList<string> UnparsedLines
    {
        get
        {
            lock (_gate)
            {
                return [.. _unparsed];
            }
        }
    }

    /// <summary>Stderr so far (the first 256 KiB).</summary>
    public string Stderr
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts <c>dotnet TwoNode.Console.dll</c> with <paramref name="args"/>.</summary>
    public static SampleNode StartSample(string name, IEnumerable<string> args) => StartDll(name, SampleProgram.DllPath, args);

    /// <summary>Starts <c>dotnet &lt;dll&gt;</c> with <paramref name="args"/>, stdout and stderr redirected.</summary>
    /// <param name="name">A label for messages.</param>
    /// <param name="dll">The program.</param>
    /// <param name="args">Its arguments.</param>
    /// <param name="networkNamespace">Run it inside this network namespace (<c>ip netns exec NS dotnet ...</c>; <c>ip</c> execs in
    /// place, so <see cref="Pid"/> is the program's own and signals reach it), or null for the caller's.</param>
    public static SampleNode StartDll(string name, string dll, IEnumerable<string> args, string? networkNamespace = null)
    {
        var info = new ProcessStartInfo(networkNamespace is null ? SampleProgram.DotnetHost : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true, // keeps the child away from the caller's terminal (no Ctrl-C from it)
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (networkNamespace is not null)
        {
            info.ArgumentList.Add("netns");
            info.ArgumentList.Add("exec");
            info.ArgumentList.Add(networkNamespace);
            info.ArgumentList.Add(SampleProgram.DotnetHost);
        }

        info.ArgumentList.Add(dll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        // A test host's own settings must not leak into the node (e.g. an environment name that picks other appsettings).
        info.Environment.Remove("DOTNET_ENVIRONMENT");
        info.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {info.FileName} {dll}");
        return new SampleNode(name, process, $"{info.FileName} {string.Join(' ', info.ArgumentList)}");
    }

    /// <summary>Sends SIGKILL to the process and every child it has. Does nothing once it has exited.</summary>
    public void Kill()
    {
        if (_disposed)
        {
            return;
        }

        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // already exited
        }
    }

    /// <summary>
    /// Sends SIGKILL to this process alone, at once: a crash as the kernel delivers it (<c>kill -9</c>, the OOM killer). Use it when
    /// the time from the signal matters: <see cref="Kill"/> (<see cref="Process.Kill(bool)"/> with the whole tree) first sends
    /// SIGSTOP and walks <c>/proc</c> for the children, and only then SIGKILL; that took 25–33 ms median here (2026-12-07, the
    /// TwoNode sample, 2 cores), during which the process is frozen but its kernel has closed nothing. The sample's resources
    /// are in-process or die with it; disposing still kills whatever is left.
    /// </summary>
    public void Crash()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            throw new PlatformNotSupportedException("SIGKILL of one process needs a POSIX system");
        }

        if (!_disposed && !_process.HasExited && SysKill(Pid, SigKill) != 0 && !_process.HasExited)
        {
            throw new InvalidOperationException($"kill({Pid}, SIGKILL) failed with errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Sends SIGTERM (a graceful stop request) to the process.</summary>
    public void Terminate()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            throw new PlatformNotSupportedException("SIGTERM needs a POSIX system");
        }

        if (!_process.HasExited && SysKill(Pid, SigTerm) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (!_process.HasExited)
            {
                throw new InvalidOperationException($"kill({Pid}, SIGTERM) failed with errno {errno}");
            }
        }
    }

    /// <summary>
    /// Sends SIGSTOP: the process freezes with every socket open (no reset, no refusal: what a host that lost power looks like
    /// to its peer). Disposing still kills it.
    /// </summary>
    public void Pause()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("SIGSTOP needs Linux here");
        }

        if (!_process.HasExited && SysKill(Pid, SigStop) != 0 && !_process.HasExited)
        {
            throw new InvalidOperationException($"kill({Pid}, SIGSTOP) failed with errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Sends SIGCONT: a process stopped by <see cref="Pause"/> runs again.</summary>
    public void Continue()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("SIGCONT needs Linux here");
        }

        if (!_process.HasExited && SysKill(Pid, SigCont) != 0 && !_process.HasExited)
        {
            throw new InvalidOperationException($"kill({Pid}, SIGCONT) failed with errno {Marshal.GetLastPInvokeError()}");
        }
    }

    /// <summary>Waits at most <paramref name="timeout"/> for the process to exit; its exit code, or null when it still runs.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }

        // Let the pumps read what the process wrote last (bounded: the pipes close when the process is gone).
        await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken).ConfigureAwait(false);
        return _process.ExitCode;
    }

    /// <summary>
    /// The first stdout line (including those already read) for which <paramref name="predicate"/> holds.
    /// Throws <see cref="TimeoutException"/> (with this node's transcript) after <paramref name="timeout"/> or when stdout closes first.
    /// </summary>
    public async Task<SampleLine> WaitForLineAsync(Func<SampleLine, bool> predicate, TimeSpan timeout, string what, CancellationToken cancellationToken = default) =>
        await TryWaitForLineAsync(predicate, timeout, cancellationToken).ConfigureAwait(false)
        ?? throw new TimeoutException($"node {Name}: no stdout line '{what}' within {timeout.TotalSeconds:0.###} s" +
                                      (HasExited ? $" (the process exited with code {ExitCode})" : "") + "\n" + Transcript());

    /// <summary>Like <see cref="WaitForLineAsync"/>, but returns null instead of throwing.</summary>
    public async Task<SampleLine?> TryWaitForLineAsync(Func<SampleLine, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                foreach (var line in _lines)
                {
                    if (predicate(line))
                    {
                        return line;
                    }
                }

                if (_stdoutClosed)
                {
                    return null;
                }

                changed = _changed.Task;
            }

            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (Stopwatch.GetTimestamp() >= deadline)
            {
                return null;
            }

            try
            {
                await changed.WaitAsync(left, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // look once more, then give up
            }
        }
    }

    /// <summary>The command line, every stdout line and stderr: for a failing test's output.</summary>
    public string Transcript()
    {
        var text = new StringBuilder();
        text.Append("----- node ").Append(Name).Append(" (pid ").Append(Pid).Append(")")
            .Append(HasExited ? $", exit code {ExitCode}" : ", running").Append(" -----\n");
        text.Append("$ ").Append(CommandLine).Append('\n');
        text.Append("stdout:\n");
        lock (_gate)
        {
            foreach (var line in _lines)
            {
                text.Append("  ").Append(line.Raw).Append('\n');
            }

            foreach (var line in _unparsed)
            {
                text.Append("  (unparsed) ").Append(line).Append('\n');
            }

            text.Append("stderr:\n").Append(_stderr);
        }

        return text.ToString();
    }

    /// <summary>Kills the process tree if it still runs, waits (bounded) until it is reaped, and releases the process handle.</summary>
    public async ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Reported by the caller's assertions; never hang a test run on a zombie.
        }
        finally
        {
            _exitedAtDispose = _process.HasExited;
            _exitCodeAtDispose = _exitedAtDispose ? _process.ExitCode : null;
            _disposed = true;
            _process.Dispose();
        }
    }

    private async Task PumpStdoutAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } raw)
            {
                var parsed = SampleLine.TryParse(raw, Stopwatch.GetTimestamp());
                lock (_gate)
                {
                    if (parsed is null)
                    {
                        _unparsed.Add(raw);
                    }
                    else
                    {
                        _lines.Add(parsed);
                    }

                    Signal();
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _stdoutClosed = true;
                Signal();
            }
        }
    }

    private async Task PumpStderrAsync()
    {
        var buffer = new char[4096];
        int n;
        while ((n = await _process.StandardError.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            lock (_gate)
            {
                if (_stderr.Length < MaxStderrChars)
                {
                    _stderr.Append(buffer, 0, Math.Min(n, MaxStderrChars - _stderr.Length));
                }
            }
        }
    }

    private void Signal()
    {
        var previous = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        previous.TrySetResult();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}

/// <summary>Where the sample program and the <c>dotnet</c> host are.</summary>
public static class SampleProgram
{
    private const string Dll = "TwoNode.Console.dll";

    // Looked up on first use, not in the type initialiser: the takeover benchmark shares this harness and has no witness,
    // and a throwing static initialiser would make every member of this class unusable.
    private static readonly Lazy<string> WitnessDll =
        new(() => Locate("HaKit.Witness.dll", "HaKit.Witness.OutputDirectory", "dotnet build src/HaKit.Witness", ownOutputFirst: true));

    private static readonly Lazy<string> CliDll =
        new(() => Locate("HaKit.Cli.dll", "HaKit.Cli.OutputDirectory", "dotnet build src/HaKit.Cli", ownOutputFirst: true));

    private static readonly Lazy<string> SampleDll =
        new(() => Locate(Dll, "TwoNode.Console.OutputDirectory", "dotnet build samples/TwoNode.Console"));

    /// <summary>
    /// <c>HaKit.Witness.dll</c> (the witness server), from its own output directory first (metadata <c>HaKit.Witness.OutputDirectory</c>):
    /// a test project that references HaKit.Hosting runs on the ASP.NET Core shared framework, so its output lacks the Microsoft.Extensions
    /// assemblies the witness, a plain console program, loads from its own directory. Located on first use.
    /// </summary>
    public static string WitnessDllPath => WitnessDll.Value;

    /// <summary><c>HaKit.Cli.dll</c> (the <c>hakit</c> tool), from its own output directory first (metadata <c>HaKit.Cli.OutputDirectory</c>).</summary>
    public static string CliDllPath => CliDll.Value;

    /// <summary>
    /// <c>TwoNode.Console.dll</c>: next to the calling assembly when the project references the sample (the build copies it there),
    /// otherwise in the sample's own output directory recorded at build time (assembly metadata <c>TwoNode.Console.OutputDirectory</c>).
    /// </summary>
    public static string DllPath => SampleDll.Value;

    /// <summary>The <c>dotnet</c> host: <c>DOTNET_HOST_PATH</c> (set by the SDK for child processes), this process when it is <c>dotnet</c>, else <c>dotnet</c> on PATH.</summary>
    public static string DotnetHost { get; } =
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";

    /// <param name="ownOutputFirst">
    /// Look in the program's own output directory before the caller's: the witness (a plain console app) must not run from a
    /// directory built for the sample, whose ASP.NET framework reference (HaKit.Grpc) leaves out the package copies of
    /// assemblies that framework provides (Microsoft.Extensions.Hosting).
    /// </param>
    private static string Locate(string file, string metadataKey, string build, bool ownOutputFirst = false)
    {
        var candidates = new List<string> { AppContext.BaseDirectory };
        foreach (var assembly in new[] { Assembly.GetEntryAssembly(), typeof(SampleProgram).Assembly })
        {
            var dir = assembly?.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == metadataKey)?.Value;
            if (dir is { Length: > 0 })
            {
                candidates.Insert(ownOutputFirst ? 0 : candidates.Count, dir);
            }
        }

        foreach (var dir in candidates)
        {
            var dll = Path.Combine(dir, file);
            if (File.Exists(dll) && File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")))
            {
                return dll;
            }
        }

        throw new FileNotFoundException(
            $"{file} with its runtimeconfig.json was not found in {string.Join(" or ", candidates)}; build it first: {build}");
    }
}
