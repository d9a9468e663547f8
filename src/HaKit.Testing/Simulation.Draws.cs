namespace HaKit.Testing;

// The seeded draws every fault, delay and duration comes from (the simulation's one Random), edge-biased when the scenario asks.
public sealed partial class Simulation
{
    /// <summary>The fault profile drawn from (fixed when the simulation was created).</summary>
    internal FaultProfile Faults => _faults;

    internal bool Chance(double p) => p > 0 && Random.NextDouble() < p;

    internal TimeSpan Draw(DurationRange range)
    {
        if (range.Max <= range.Min)
        {
            return range.Min;
        }

        return Chance(_faults.EdgeBias)
            ? Edge(range)
            : range.Min + TimeSpan.FromTicks((long)((range.Max - range.Min).Ticks * Random.NextDouble()));
    }

    /// <summary>An edge of <paramref name="range"/>: one of its ends, or one of the scenario's margins inside it, exactly or 1 ms either side.</summary>
    private TimeSpan Edge(DurationRange range)
    {
        var edges = _edgeScratch;
        edges.Clear();
        edges.Add(range.Min);
        edges.Add(range.Max);
        foreach (var e in _faults.Edges)
        {
            for (var d = -1; d <= 1; d++)
            {
                var t = e + TimeSpan.FromMilliseconds(d);
                if (t >= range.Min && t <= range.Max)
                {
                    edges.Add(t);
                }
            }
        }

        return edges[Random.Next(edges.Count)];
    }

    private readonly List<TimeSpan> _edgeScratch = [];

    /// <summary>A clock rate within the drift bound; at the bound itself (either way) when an edge is drawn.</summary>
    private double DrawRate() =>
        Chance(_faults.EdgeBias)
            ? 1 + (Random.Next(2) == 0 ? -_faults.MaxClockDrift : _faults.MaxClockDrift)
            : 1 + ((Random.NextDouble() * 2) - 1) * _faults.MaxClockDrift;
}
