using System.Globalization;

namespace HaKit.Integration.Harness;

/// <summary>
/// One stdout line of the TwoNode sample: <c>&lt;ISO-8601 UTC ts&gt; &lt;kind&gt; key=value ...</c>, e.g.
/// <c>2026-01-01T10:00:00.123Z role group=web from=Standby to=Active epoch=2 reason=failover takeover_ms=12</c>.
/// </summary>
/// <param name="Raw">The whole line as printed.</param>
/// <param name="Timestamp">The node's UTC timestamp (millisecond resolution).</param>
/// <param name="Kind"><c>ready</c>, <c>role</c>, <c>peer</c>, <c>http listening</c>, <c>http stopped</c>, <c>exit</c>, or whatever else was printed.</param>
/// <param name="Fields">The <c>key=value</c> tokens.</param>
/// <param name="ReceivedTicks">When the harness read the line (<see cref="System.Diagnostics.Stopwatch"/> ticks).</param>
public sealed record SampleLine(string Raw, DateTimeOffset Timestamp, string Kind, IReadOnlyDictionary<string, string> Fields, long ReceivedTicks)
{
    /// <summary>A field's value, or null.</summary>
    public string? this[string key] => Fields.TryGetValue(key, out var v) ? v : null;

    /// <summary><c>ready node=..</c>.</summary>
    public bool IsReady => Kind == "ready";

    /// <summary><c>exit</c>.</summary>
    public bool IsExit => Kind == "exit";

    /// <summary><c>http listening address=.. epoch=..</c>.</summary>
    public bool IsHttpListening => Kind == "http listening";

    /// <summary><c>http stopped address=..</c>.</summary>
    public bool IsHttpStopped => Kind == "http stopped";

    /// <summary><c>role group=.. from=.. to=.. epoch=.. reason=.. takeover_ms=..</c>.</summary>
    public bool IsRole => Kind == "role";

    /// <summary><c>peer node=.. health=..</c>.</summary>
    public bool IsPeer => Kind == "peer";

    /// <summary>The <c>epoch</c> field, or null.</summary>
    public ulong? Epoch => ulong.TryParse(this["epoch"], NumberStyles.None, CultureInfo.InvariantCulture, out var e) ? e : null;

    /// <summary>The <c>takeover_ms</c> field of a role line, or null when it is <c>-</c> or absent.</summary>
    public double? TakeoverMs => double.TryParse(this["takeover_ms"], NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) ? ms : null;

    /// <summary>A role line for group <paramref name="group"/> going to <paramref name="to"/>.</summary>
    public bool IsRoleTo(string to, string group = "web") => IsRole && this["group"] == group && this["to"] == to;

    /// <summary>Parses a line; null when it does not follow the contract (no leading timestamp).</summary>
    public static SampleLine? TryParse(string raw, long receivedTicks)
    {
        var space = raw.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || !DateTimeOffset.TryParseExact(raw[..space], "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var ts))
        {
            return null;
        }

        var tokens = raw[(space + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var kind = new List<string>();
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var token in tokens)
        {
            var eq = token.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                fields[token[..eq]] = token[(eq + 1)..];
            }
            else if (fields.Count == 0)
            {
                kind.Add(token);
            }
        }

        return new SampleLine(raw, ts, string.Join(' ', kind), fields, receivedTicks);
    }

    /// <inheritdoc />
    public override string ToString() => Raw;
}
