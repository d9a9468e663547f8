using System.Numerics;

namespace HaKit.ReplBench;

/// <summary>
/// Latencies (Stopwatch ticks) counted in log-linear buckets: exact below 256 ticks, then 128 buckets per power of two (under
/// 0.8 % relative error), as HdrHistogram does. A pipelined run records into one histogram per thread (no lock, a few tens of
/// KB each): keeping every sample in a list per writer cost 512 KB per writer (512 MB at 1,024 writers) and a cache miss per
/// write, which the benchmark's CPU per write then counted as replication cost.
/// </summary>
internal sealed class LatencyHistogram
{
    private const int Exact = 256;
    private const int PerOctave = 128;
    private readonly long[] _counts = new long[Exact + (64 - 8) * PerOctave];

    /// <summary>The number of values recorded.</summary>
    public long Count { get; private set; }

    /// <summary>The largest value recorded.</summary>
    public long Max { get; private set; }

    /// <summary>Counts <paramref name="value"/>.</summary>
    public void Record(long value)
    {
        value = Math.Max(0, value);
        _counts[Index(value)]++;
        Count++;
        if (value > Max)
        {
            Max = value;
        }
    }

    /// <summary>Adds <paramref name="other"/>'s counts to this one.</summary>
    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        Count += other.Count;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>The value at quantile <paramref name="q"/> (the upper end of its bucket; <see cref="Max"/> at most).</summary>
    public long At(double q)
    {
        var rank = Math.Max(1, (long)Math.Ceiling(q * Count));
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Math.Min(Max, UpperBound(i));
            }
        }

        return Max;
    }

    private static int Index(long value)
    {
        if (value < Exact)
        {
            return (int)value;
        }

        var shift = 63 - BitOperations.LeadingZeroCount((ulong)value) - 7;
        return Exact + ((shift - 1) * PerOctave) + (int)((value >> shift) - PerOctave);
    }

    private static long UpperBound(int index)
    {
        if (index < Exact)
        {
            return index;
        }

        var shift = ((index - Exact) / PerOctave) + 1;
        var mantissa = PerOctave + ((index - Exact) % PerOctave);
        return ((mantissa + 1L) << shift) - 1;
    }
}
