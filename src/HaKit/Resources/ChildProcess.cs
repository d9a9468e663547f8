using System.ComponentModel;
using System.Diagnostics;

namespace HaKit.Resources;

/// <summary>What every child process HaKit runs (a process resource, a fence script) needs at its end.</summary>
internal static class ChildProcess
{
    private static readonly Lazy<string?> SetPriv = new(() => FindInPath("setpriv"));
    private static readonly Lazy<SpawnThread> Spawner = new(() => new SpawnThread());

    /// <summary>
    /// util-linux's <c>setpriv</c> (always on Debian), or <see langword="null"/>: on Linux a child started through
    /// <c>setpriv --pdeathsig KILL -- cmd args</c> gets SIGKILL from the kernel the moment its parent dies.
    /// </summary>
    public static string? ParentDeathWrapper => OperatingSystem.IsLinux() ? SetPriv.Value : null;

    /// <summary>The full path of <paramref name="file"/> found in <c>PATH</c> (a path with a directory is returned as it is), or <see langword="null"/>.</summary>
    /// <param name="file">A file name or path.</param>
    public static string? FindInPath(string file)
    {
        if (file.Contains(Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return File.Exists(file) ? file : null;
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, file);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>
    /// Starts <paramref name="process"/> from one dedicated thread that lives as long as this process. The kernel's parent-death
    /// signal (PR_SET_PDEATHSIG) fires when the <em>thread</em> that forked the child exits, not only the process: a child forked
    /// from a thread-pool thread would be killed when the pool retires that idle thread.
    /// </summary>
    /// <param name="process">The configured process.</param>
    public static void StartFromSpawnThread(Process process) => Spawner.Value.Run(process);

    /// <summary>The one long-lived thread every child is forked from.</summary>
    private sealed class SpawnThread
    {
        private readonly System.Collections.Concurrent.BlockingCollection<(Process Process, TaskCompletionSource Done)> _work = [];

        public SpawnThread()
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = "HaKit child spawner" };
            thread.Start();
        }

        public void Run(Process process)
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _work.Add((process, done));
            done.Task.GetAwaiter().GetResult();
        }

        private void Loop()
        {
            foreach (var (process, done) in _work.GetConsumingEnumerable())
            {
                try
                {
                    process.Start();
                    done.SetResult();
                }
                catch (Exception ex)
                {
                    done.SetException(ex);
                }
            }
        }
    }

    /// <summary>How long the output readers may take to deliver a child's last lines after it exited.</summary>
    public static readonly TimeSpan OutputDrainWait = TimeSpan.FromMilliseconds(500);

    /// <summary>Kills the child and every descendant; a child that already exited (or is exiting right now) is not an error.</summary>
    /// <param name="process">The started child.</param>
    public static void KillTree(Process process)
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
            // Exiting right now, or not ours to kill; the caller's exit wait decides.
        }
    }

    /// <summary>
    /// After the child exited: lets the output readers deliver its last lines (a trap's goodbye, a script's error message),
    /// bounded by <see cref="OutputDrainWait"/> in real time (the pipes are real whatever clock drives the caller), so a
    /// grandchild that keeps the pipes open does not hold the caller.
    /// </summary>
    /// <param name="process">The child, with redirected output being read asynchronously.</param>
    /// <returns>A task that completes when the output ended or the wait ran out.</returns>
    public static async Task DrainOutputAsync(Process process)
    {
        using var bound = new CancellationTokenSource(OutputDrainWait);
        try
        {
            await process.WaitForExitAsync(bound.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // A descendant still holds the pipes; its later output is not waited for.
        }
        catch (InvalidOperationException)
        {
            // The process handle is no longer associated with a process.
        }
    }
}
