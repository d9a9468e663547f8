using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Resources;

/// <summary>
/// A resource that runs one child process while its group is active (a daemon in the foreground, like a systemd <c>simple</c> service).
/// </summary>
/// <remarks>
/// <para><b>Start</b> launches the child (on Linux through <c>setpriv --pdeathsig KILL</c>, so that it dies with this process: <see cref="DiesWithProcess"/>) with redirected standard output and error; each output line is logged with the resource
/// name (Information for stdout, Warning for stderr). The child gets <c>HAKIT_GROUP</c>, <c>HAKIT_EPOCH</c>, <c>HAKIT_NODE</c> and
/// <c>HAKIT_RESOURCE</c> in its environment. A missing executable or working directory is
/// <see cref="ResourceFailureKind.PermanentOnNode"/> (<c>OCF_ERR_INSTALLED</c>), a permission error too (<c>OCF_ERR_PERM</c>).
/// Starting while the child runs succeeds without launching another. With <see cref="ProcessResourceOptions.StartupGrace"/>,
/// a child that exits within the grace fails the start (Transient).</para>
/// <para><b>Monitor</b>: alive is <see cref="ResourceStatus.Running"/>; exited is <see cref="ResourceStatus.NotRunning"/> ("exited with code N").</para>
/// <para><b>Stop</b> sends <c>SIGTERM</c> (on Windows, where there is none, it kills the process tree at once), waits up to
/// <see cref="ProcessResourceOptions.StopTimeout"/> on the <see cref="TimeProvider"/>, then kills the whole process tree and waits
/// for the exit (bounded by the stop's token). It succeeds once the child has exited, or when no child runs. When the stop's token
/// is cancelled (the group's stop time-out) before the child exited, the tree is killed at once and the stop succeeds if the child
/// is gone within a short moment; otherwise it reports the cancellation.</para>
/// <para>Exit is detected by the <see cref="Process.Exited"/> event, not by the end of the output streams, so a grandchild that keeps
/// the pipes open does not delay a stop. Disposing kills a still-running child.</para>
/// </remarks>
public sealed class ProcessResource : IResource, IAsyncDisposable
{
    private const int SigTerm = 15;
    private const int Esrch = 3;
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(2);

    private readonly ProcessResourceOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private Child? _child;
    private bool _disposed;

    /// <summary>Creates the resource.</summary>
    /// <param name="options">What to run. Read at every start (a copy of the arguments and environment is taken then).</param>
    /// <param name="logger">Receives the child's output lines and lifecycle messages; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for the startup grace and the stop timeout; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException"><see cref="ProcessResourceOptions.Name"/> or <see cref="ProcessResourceOptions.FileName"/> is empty.</exception>
    public ProcessResource(ProcessResourceOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Name, nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.FileName, nameof(options));
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        Name = options.Name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>
    /// On Linux with util-linux's <c>setpriv</c> (always on Debian): <see langword="true"/>: the child is started as
    /// <c>setpriv --pdeathsig KILL -- FileName args</c>, from one long-lived thread, so the kernel kills it the moment this process
    /// dies (a crash, SIGKILL). Elsewhere <see langword="false"/>. Only the child itself is covered: a program that forks a daemon
    /// of its own and lets it run on is not (keep such programs in the foreground, as a supervisor would).
    /// </summary>
    public bool DiesWithProcess => ChildProcess.ParentDeathWrapper is not null;

    /// <summary>The process id of the running child, or <see langword="null"/> when none runs.</summary>
    public int? ProcessId => _child is { } child && !child.Exited.IsCompleted ? child.Pid : null;

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_child is { } running)
            {
                if (!running.Exited.IsCompleted)
                {
                    return ResourceResult.Success;
                }

                ReleaseChild();
            }

            if (_options.WorkingDirectory is { } dir && !Directory.Exists(dir))
            {
                return ResourceResult.PermanentOnNode($"working directory '{dir}' does not exist (OCF_ERR_INSTALLED)");
            }

            if (_options.FileName.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal) && !File.Exists(_options.FileName))
            {
                return ResourceResult.PermanentOnNode($"executable '{_options.FileName}' not found (OCF_ERR_INSTALLED)");
            }

            var child = Launch(context, out var failure);
            if (child is null)
            {
                return failure;
            }

            _child = child;
            ResourcesLog.ProcessStarted(_logger, Name, child.Pid, _options.FileName);

            TimeSpan grace = _options.StartupGrace;
            if (grace > TimeSpan.Zero && await WaitForExitAsync(child, grace, cancellationToken).ConfigureAwait(false))
            {
                return ResourceResult.Transient(string.Create(CultureInfo.InvariantCulture, $"exited with code {child.ExitCode} within the startup grace of {grace}"));
            }

            return ResourceResult.Success;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        var child = _child;
        if (child is null)
        {
            return new ValueTask<MonitorResult>(MonitorResult.NotRunning("not running"));
        }

        return new ValueTask<MonitorResult>(child.Exited.IsCompleted
            ? MonitorResult.NotRunning(string.Create(CultureInfo.InvariantCulture, $"exited with code {child.ExitCode}"))
            : MonitorResult.Running);
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var child = _child;
            if (child is null)
            {
                return ResourceResult.Success;
            }

            if (!child.Exited.IsCompleted)
            {
                bool exited;
                try
                {
                    if (OperatingSystem.IsWindows() || !SendTerm(child.Pid))
                    {
                        KillTree(child);
                    }

                    exited = await WaitForExitAsync(child, _options.StopTimeout, cancellationToken).ConfigureAwait(false);
                    if (!exited)
                    {
                        ResourcesLog.ProcessKilling(_logger, Name, child.Pid, _options.StopTimeout);
                        KillTree(child);
                        exited = await WaitForExitAsync(child, Timeout.InfiniteTimeSpan, cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // The stop ran out of time: do not leave the child behind silently.
                    KillTree(child);
                    if (!await WaitForExitAsync(child, KillWait, CancellationToken.None).ConfigureAwait(false))
                    {
                        throw;
                    }

                    exited = true;
                }

                if (!exited)
                {
                    return ResourceResult.Transient($"process {child.Pid} did not exit");
                }
            }

            await ChildProcess.DrainOutputAsync(child.Process).ConfigureAwait(false);
            ReleaseChild();
            return ResourceResult.Success;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Kills a still-running child (and its process tree) and releases the process handle.</summary>
    /// <returns>A task that completes once the child is gone (or after a short bounded wait).</returns>
    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_child is { } child)
            {
                if (!child.Exited.IsCompleted)
                {
                    KillTree(child);
                    await WaitForExitAsync(child, KillWait, CancellationToken.None).ConfigureAwait(false);
                }

                ReleaseChild();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private Child? Launch(ResourceContext context, out ResourceResult failure)
    {
        // On Linux the child is started through setpriv with a parent-death signal: it dies with this process (DiesWithProcess).
        var wrapper = ChildProcess.ParentDeathWrapper;
        string? executable = _options.FileName;
        if (wrapper is not null && (executable = ChildProcess.FindInPath(_options.FileName)) is null)
        {
            failure = ResourceResult.PermanentOnNode($"executable '{_options.FileName}' not found in PATH (OCF_ERR_INSTALLED)");
            return null;
        }

        var psi = new ProcessStartInfo(wrapper ?? _options.FileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            CreateNoWindow = true,
        };
        if (wrapper is not null)
        {
            psi.ArgumentList.Add("--pdeathsig");
            psi.ArgumentList.Add("KILL");
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(executable!);
        }

        foreach (string argument in _options.Arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        if (_options.WorkingDirectory is { } dir)
        {
            psi.WorkingDirectory = dir;
        }

        foreach (var (key, value) in _options.Environment)
        {
            if (value is null)
            {
                psi.Environment.Remove(key);
            }
            else
            {
                psi.Environment[key] = value;
            }
        }

        psi.Environment["HAKIT_GROUP"] = context.Group;
        psi.Environment["HAKIT_EPOCH"] = context.Epoch.ToString(CultureInfo.InvariantCulture);
        psi.Environment["HAKIT_NODE"] = context.Node;
        psi.Environment["HAKIT_RESOURCE"] = Name;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var child = new Child(process, _logger, Name);
        process.Exited += child.OnExited;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                ResourcesLog.ProcessStdout(_logger, Name, line);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                ResourcesLog.ProcessStderr(_logger, Name, line);
            }
        };

        try
        {
            ChildProcess.StartFromSpawnThread(process);
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            failure = ex.NativeErrorCode switch
            {
                2 => ResourceResult.PermanentOnNode($"executable '{_options.FileName}' not found (OCF_ERR_INSTALLED): {ex.Message}", ex),
                13 => ResourceResult.PermanentOnNode($"executable '{_options.FileName}' is not executable (OCF_ERR_PERM): {ex.Message}", ex),
                _ => ResourceResult.Transient($"could not start '{_options.FileName}': {ex.Message}", ex),
            };
            return null;
        }

        child.Pid = process.Id;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        failure = ResourceResult.Success;
        return child;
    }

    /// <summary>Waits until the child exited or <paramref name="timeout"/> passed on the clock; true when it exited.</summary>
    private async Task<bool> WaitForExitAsync(Child child, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (child.Exited.IsCompleted)
        {
            return true;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task delay = timeout == Timeout.InfiniteTimeSpan
            ? Task.Delay(Timeout.InfiniteTimeSpan, _timeProvider, cts.Token)
            : Task.Delay(timeout < TimeSpan.Zero ? TimeSpan.Zero : timeout, _timeProvider, cts.Token);
        await Task.WhenAny(child.Exited, delay).ConfigureAwait(false);
        bool exited = child.Exited.IsCompleted;
        await cts.CancelAsync().ConfigureAwait(false);
        if (!exited)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }

        return exited;
    }

    /// <summary>Sends SIGTERM; false when it could not be sent for a reason other than the process being gone.</summary>
    private static bool SendTerm(int pid)
    {
        if (NativeMethods.Kill(pid, SigTerm) == 0)
        {
            return true;
        }

        return Marshal.GetLastPInvokeError() == Esrch;
    }

    private static void KillTree(Child child) => ChildProcess.KillTree(child.Process);

    private void ReleaseChild()
    {
        if (_child is { } child)
        {
            _child = null;
            child.Process.Exited -= child.OnExited;
            child.Process.Dispose();
        }
    }

    private sealed class Child(Process process, ILogger logger, string name)
    {
        private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Process Process { get; } = process;

        public int Pid { get; set; }

        public int ExitCode { get; private set; }

        public Task Exited => _exited.Task;

        public void OnExited(object? sender, EventArgs e)
        {
            int pid = -1;
            try
            {
                pid = Process.Id;
                ExitCode = Process.ExitCode;
            }
            catch (InvalidOperationException)
            {
                ExitCode = -1;
            }

            ResourcesLog.ProcessExited(logger, name, pid, ExitCode);

            _exited.TrySetResult();
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Kill(int pid, int signal);
    }
}
