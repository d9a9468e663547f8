using System.Globalization;
using HaKit.Ownership;
using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>How the simulator writes trace lines: durations, resource actions, epochs, heartbeats and core events.</summary>
internal static class TraceFormat
{
    internal static string ResourceName(ResourceAction action) => action switch
    {
        ResourceAction.Start => "start",
        ResourceAction.Stop => "stop",
        _ => "monitor",
    };

    internal static string Ms(TimeSpan t) => $"{t.TotalMilliseconds.ToString("0.#", CultureInfo.InvariantCulture)} ms";

    internal static string Describe(IReadOnlyDictionary<string, ulong> epochs) =>
        epochs.Count == 0 ? "none" : string.Join(", ", epochs.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}"));

    internal static string Describe(HeartbeatMessage m) =>
        $"prio {m.Priority}{(m.Leaving ? " leaving" : "")} [{string.Join("; ", m.Groups.Select(g => $"{g.Group} {g.Role} e{g.Epoch} h{g.HighestEpoch}{(g.Eligible ? "" : " ineligible")}{(g.HandoffTo is null ? "" : $" ->{g.HandoffTo}")}{(g.FatalMark > g.FatalCleared ? $" fatal{g.FatalMark}" : "")}"))}]";

    internal static string Describe(ClusterEvent e) => e switch
    {
        RoleChanged r => $"role {r.Group}: {r.From} -> {r.To} epoch {r.Epoch}{(r.Takeover is { } t ? $" ({t})" : "")}: {r.Why.Reason}",
        PeerHealthChanged p => $"peer {p.Peer}: {p.From} -> {p.To}",
        LinkHealthChanged l => $"link {l.Link} to {l.Peer}: {l.From} -> {l.To} ({l.Detail})",
        _ => e.ToString(),
    };
}
