using System.ComponentModel;
using System.Diagnostics;

namespace HaKit.Resources;

/// <summary>What every child process HaKit runs (a process resource, a fence script) needs at its end.</summary>
internal static class ChildProcess
{
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
