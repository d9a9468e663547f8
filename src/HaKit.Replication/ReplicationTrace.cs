namespace HaKit.Replication;

/// <summary>
/// A timeline of one write through both replicas, for the replication benchmark (<c>REPLBENCH_TIMELINE=1</c>): timestamps of
/// points on the path (append handled, written, sent, received, fdatasync done, acknowledged, completed) in a fixed buffer.
/// Off (one static read-only check, folded by the JIT) unless the environment variable is set when the process starts.
/// </summary>
internal static class ReplicationTrace
{
    /// <summary>Whether tracing is on.</summary>
    public static readonly bool On = Environment.GetEnvironmentVariable("REPLBENCH_TIMELINE") == "1";

    private const int Capacity = 1 << 20;
    private static readonly long[] Ticks = On ? new long[Capacity] : [];
    private static readonly long[] Points = On ? new long[Capacity] : [];
    private static readonly int[] Count = new int[1];

    /// <summary>Records <paramref name="point"/> (a small number naming the place) for <paramref name="index"/>.</summary>
    public static void Mark(int point, long index)
    {
        if (!On)
        {
            return;
        }

        var i = Interlocked.Increment(ref Count[0]) - 1;
        if (i < Capacity)
        {
            Ticks[i] = TimeProvider.System.GetTimestamp();
            Points[i] = ((long)point << 48) | (index & 0xFFFF_FFFF_FFFF);
        }
    }

    /// <summary>Starts over.</summary>
    public static void Clear() => Volatile.Write(ref Count[0], 0);

    /// <summary>The recorded (timestamp, point, index) triples.</summary>
    public static IEnumerable<(long Ticks, int Point, long Index)> Read()
    {
        var n = Math.Min(Volatile.Read(ref Count[0]), Capacity);
        for (var i = 0; i < n; i++)
        {
            yield return (Ticks[i], (int)(Points[i] >> 48), Points[i] & 0xFFFF_FFFF_FFFF);
        }
    }
}
