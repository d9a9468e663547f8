using System.Diagnostics;
using HaKit.Integration.Harness;

namespace HaKit.Integration.Load;

/// <summary>
/// Makes the machine busy for a test: <c>busyLoops</c> shell busy loops (<c>sh -c 'while :; do :; done'</c>) at normal priority and
/// one memory- and syscall-heavy copy (<c>dd if=/dev/zero of=/dev/null bs=64k</c>: tens of thousands of reads and writes a second,
/// each clearing 64 KiB of user memory). Disposing kills and reaps every one of them (bounded).
/// </summary>
public sealed class CpuBurners : IDisposable
{
    private readonly List<Process> _processes = [];

    private CpuBurners()
    {
    }

    /// <summary>The process ids, busy loops first, the copy last.</summary>
    public IReadOnlyList<int> Pids => [.. _processes.Select(p => p.Id)];

    /// <summary>Starts the burners; on a failure kills those already started and rethrows.</summary>
    /// <param name="busyLoops">How many busy loops (e.g. twice the cores).</param>
    public static CpuBurners Start(int busyLoops)
    {
        var burners = new CpuBurners();
        try
        {
            for (var i = 0; i < busyLoops; i++)
            {
                burners.Add("/bin/sh", "-c", "while :; do :; done");
            }

            burners.Add("dd", "if=/dev/zero", "of=/dev/null", "bs=64k");
            return burners;
        }
        catch
        {
            burners.Dispose();
            throw;
        }
    }

    /// <summary>Each burner's CPU time so far (user + system; zero when it cannot be read), in the order of <see cref="Pids"/>.</summary>
    public IReadOnlyList<TimeSpan> CpuTimes() => [.. _processes.Select(p => ProcessCpu.Read(p.Id) ?? TimeSpan.Zero)];

    /// <summary>Whether every burner still runs.</summary>
    public bool AllRunning => _processes.All(p => !p.HasExited);

    /// <summary>Kills every burner and waits (at most 5 s each) until it is reaped.</summary>
    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try
            {
                p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // already exited
            }
        }

        foreach (var p in _processes)
        {
            p.WaitForExit(TimeSpan.FromSeconds(5));
            p.Dispose();
        }

        _processes.Clear();
    }

    private void Add(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file} {string.Join(' ', args)}");
        _processes.Add(process);
        // dd writes its statistics to stderr only when it ends; drain both pipes so nothing ever blocks on them.
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
    }
}
