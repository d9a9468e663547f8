using HaKit;
using System.Globalization;
using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;

namespace TwoNode;

/// <summary>
/// Writes the sample's machine-readable lines to stdout (and nothing else goes there: logs go to stderr).
/// Every line starts with an ISO-8601 UTC timestamp with milliseconds and is flushed at once.
/// Lines raised before <see cref="Ready"/> are held back and written right after the <c>ready</c> line.
/// </summary>
public sealed class StdoutReporter
{
    private readonly Lock _lock = new();
    private readonly TextWriter _out;
    private List<string>? _held = [];

    /// <summary>Creates a reporter writing to <paramref name="output"/> (default: <see cref="Console.Out"/>).</summary>
    public StdoutReporter(TextWriter? output = null) => _out = output ?? Console.Out;

    /// <summary>
    /// The node is started (links bound): writes <c>ready node=&lt;name&gt; arbiter=&lt;mode&gt; admin=&lt;endpoint&gt;</c> (without
    /// <c>arbiter=</c> when <paramref name="arbiter"/> is null, without <c>admin=</c> when <paramref name="admin"/> is null, e.g. the
    /// admin API is disabled), then any held lines.
    /// </summary>
    public void Ready(string node, string? arbiter = null, string? admin = null)
    {
        lock (_lock)
        {
            var ready = $"ready node={node}" + (arbiter is null ? "" : $" arbiter={arbiter}") + (admin is null ? "" : $" admin={admin}");
            WriteNow(Stamp(ready));
            foreach (var line in _held ?? [])
            {
                WriteNow(line);
            }

            _held = null;
        }
    }

    /// <summary>Right before a graceful exit completes.</summary>
    public void Exit() => Line("exit");

    /// <summary>The HTTP listener of <paramref name="group"/> is bound: <c>http listening group=.. address=.. epoch=..</c>.</summary>
    public void HttpListening(string group, string address, ulong epoch) =>
        Line($"http listening group={group} address={address} epoch={epoch.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>The HTTP listener of <paramref name="group"/> is closed: <c>http stopped group=.. address=..</c>.</summary>
    public void HttpStopped(string group, string address) => Line($"http stopped group={group} address={address}");

    /// <summary>Handler for <c>ClusterNode.EventRaised</c>: role changes, peer health changes and crash hints.</summary>
    public void OnEvent(object? sender, ClusterEvent e)
    {
        switch (e)
        {
            case RoleChanged r:
                var reason = r.Takeover?.ToString().ToLowerInvariant() ?? "-";
                var ms = r.TakeoverDuration is { } d ? Math.Round(d.TotalMilliseconds).ToString("0", CultureInfo.InvariantCulture) : "-";
                Line($"role group={r.Group} from={r.From} to={r.To} epoch={r.Epoch.ToString(CultureInfo.InvariantCulture)} reason={reason} takeover_ms={ms}");
                break;
            case PeerHealthChanged p:
                Line($"peer node={p.Peer} health={p.To}");
                break;
            case PeerCrashHinted h:
                Line($"hint node={h.Peer} link={h.Link} shortened={(h.Shortened.Count == 0 ? "-" : string.Join(',', h.Shortened))}");
                break;
        }
    }

    private void Line(string text)
    {
        var line = Stamp(text);
        lock (_lock)
        {
            if (_held is not null)
            {
                _held.Add(line);
            }
            else
            {
                WriteNow(line);
            }
        }
    }

    private void WriteNow(string line)
    {
        _out.Write(line + "\n");
        _out.Flush();
    }

    private static string Stamp(string text) =>
        TimeProvider.System.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) + " " + text;
}
