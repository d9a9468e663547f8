using System.Globalization;

namespace HaKit.Integration.Load;

/// <summary>The machine's CPU time counters (the <c>cpu</c> line of <c>/proc/stat</c>): busy and idle (idle + iowait), in clock ticks.</summary>
/// <param name="Busy">Ticks spent in user, nice, system, irq, softirq and steal.</param>
/// <param name="Idle">Ticks spent idle or waiting for I/O.</param>
public sealed record MachineCpu(long Busy, long Idle)
{
    /// <summary>Reads <c>/proc/stat</c>.</summary>
    public static MachineCpu Read()
    {
        var line = File.ReadLines("/proc/stat").First(l => l.StartsWith("cpu ", StringComparison.Ordinal));
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        // user nice system idle iowait irq softirq steal
        return new MachineCpu(f[0] + f[1] + f[2] + f[5] + f[6] + f[7], f[3] + f[4]);
    }

    /// <summary>The share of CPU time that was busy between <paramref name="before"/> and this reading (0..1).</summary>
    public double BusyShareSince(MachineCpu before)
    {
        var busy = Busy - before.Busy;
        var total = busy + (Idle - before.Idle);
        return total <= 0 ? 0 : (double)busy / total;
    }
}
