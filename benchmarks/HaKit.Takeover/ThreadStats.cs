using System.Globalization;

namespace HaKit.Takeover;

/// <summary>
/// Per-thread CPU time and wake-ups of a process, from <c>/proc/&lt;pid&gt;/task/*</c>: <c>schedstat</c> (CPU ns, runs) and
/// <c>status</c> (voluntary context switches: the times the thread slept and was woken, which does not depend on how loaded the
/// machine is, unlike CPU time per wake-up).
/// </summary>
public static class ThreadStats
{
    /// <summary>One thread at one moment.</summary>
    public readonly record struct Sample(string Name, long CpuNs, long Runs, long Voluntary);

    /// <summary>One thread name over a window (threads alive at both ends, summed by name).</summary>
    public sealed record Row(string Name, int Threads, double CpuMs, double RunsPerSecond, double WakeupsPerSecond);

    /// <summary>Reads every thread of <paramref name="pid"/>; empty when the process is gone.</summary>
    public static Dictionary<int, Sample> Read(int pid)
    {
        var result = new Dictionary<int, Sample>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    var tid = int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture);
                    var name = File.ReadAllText(Path.Combine(dir, "comm")).Trim();
                    var sched = File.ReadAllText(Path.Combine(dir, "schedstat")).Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    long voluntary = 0;
                    foreach (var line in File.ReadLines(Path.Combine(dir, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            voluntary = long.Parse(line["voluntary_ctxt_switches:".Length..].Trim(), CultureInfo.InvariantCulture);
                        }
                    }

                    result[tid] = new Sample(name, long.Parse(sched[0], CultureInfo.InvariantCulture), long.Parse(sched[2], CultureInfo.InvariantCulture), voluntary);
                }
                catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
                {
                    // The thread ended while being read.
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
        }

        return result;
    }

    /// <summary>What each thread name cost between <paramref name="before"/> and <paramref name="after"/>, and how many threads started and ended.</summary>
    public static (IReadOnlyList<Row> Rows, int Started, int Ended) Compare(Dictionary<int, Sample> before, Dictionary<int, Sample> after, double seconds)
    {
        var rows = after.Where(t => before.ContainsKey(t.Key))
            .GroupBy(t => t.Value.Name)
            .Select(g => new Row(
                g.Key,
                g.Count(),
                g.Sum(t => t.Value.CpuNs - before[t.Key].CpuNs) / 1e6,
                g.Sum(t => t.Value.Runs - before[t.Key].Runs) / seconds,
                g.Sum(t => t.Value.Voluntary - before[t.Key].Voluntary) / seconds))
            .Where(r => r.CpuMs > 0 || r.WakeupsPerSecond > 0)
            .OrderByDescending(r => r.WakeupsPerSecond)
            .ToList();
        return (rows, after.Keys.Count(k => !before.ContainsKey(k)), before.Keys.Count(k => !after.ContainsKey(k)));
    }
}
