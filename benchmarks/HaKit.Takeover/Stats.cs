using System.Globalization;

namespace HaKit.Takeover;

/// <summary>Order statistics of one measurement (milliseconds).</summary>
/// <param name="Count">Number of samples.</param>
/// <param name="Min">Smallest.</param>
/// <param name="Median">Middle value (mean of the two middle ones for an even count).</param>
/// <param name="P99">99th percentile, nearest rank: the value at rank ceil(0.99 n); equals the maximum below 100 samples.</param>
/// <param name="Max">Largest.</param>
public sealed record Stats(int Count, double Min, double Median, double P99, double Max)
{
    /// <summary>Computes the statistics; null for no samples.</summary>
    public static Stats? Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0)
        {
            return null;
        }

        var n = sorted.Length;
        var median = n % 2 == 1 ? sorted[n / 2] : (sorted[(n / 2) - 1] + sorted[n / 2]) / 2;
        var p99 = sorted[Math.Clamp((int)Math.Ceiling(0.99 * n) - 1, 0, n - 1)];
        return new Stats(n, sorted[0], median, p99, sorted[^1]);
    }

    /// <summary>Milliseconds with one decimal below 10 ms, else whole.</summary>
    public static string Ms(double ms) =>
        ms < 10 ? ms.ToString("0.0", CultureInfo.InvariantCulture) : ms.ToString("0", CultureInfo.InvariantCulture);
}
