using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace TwoNode;

/// <summary>
/// The sample's points on the takeover timeline (<c>HAKIT_TAKEOVER_TRACE=1</c>, as HaKit's own trace): the listener bound, the
/// first connection accepted and answered after it. Written to stderr half a second after a burst, one line per point:
/// <c>hakit-trace &lt;point&gt; &lt;Stopwatch timestamp&gt;</c> (CLOCK_MONOTONIC on Linux: the benchmark's clock too).
/// Off unless the environment variable is <c>1</c> when the process starts.
/// </summary>
internal static class SampleTrace
{
    /// <summary>Whether tracing is on.</summary>
    public static readonly bool On = Environment.GetEnvironmentVariable("HAKIT_TAKEOVER_TRACE") == "1";

    private static readonly ConcurrentQueue<(string Point, long Ticks)> Marks = new();
    private static readonly Timer? FlushTimer = On ? new Timer(_ => Flush(), null, Timeout.Infinite, Timeout.Infinite) : null;
    private static readonly int[] Armed = new int[1]; // 1 while a flush is due

    /// <summary>Records that the sample reached <paramref name="point"/> now.</summary>
    public static void Mark(string point)
    {
        if (!On)
        {
            return;
        }

        Marks.Enqueue((point, Stopwatch.GetTimestamp()));
        if (Interlocked.CompareExchange(ref Armed[0], 1, 0) == 0)
        {
            _ = FlushTimer!.Change(TimeSpan.FromMilliseconds(500), Timeout.InfiniteTimeSpan);
        }
    }

    private static void Flush()
    {
        Volatile.Write(ref Armed[0], 0);
        var text = new StringBuilder();
        while (Marks.TryDequeue(out var m))
        {
            text.Append("hakit-trace ").Append(m.Point).Append(' ').Append(m.Ticks.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Console.Error.Write(text.ToString());
        Console.Error.Flush();
    }
}
