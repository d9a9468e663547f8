using System.Globalization;
using System.Text;
using System.Text.Json;
using HaKit.Detection;
using HaKit.Ownership;

namespace HaKit.Notifications;

/// <summary>
/// One cluster event as the outside is told of it: a kind (<c>role-change</c>, <c>split-brain</c>, <c>fence</c>, <c>failure</c>,
/// <c>peer</c>, <c>ipfail</c>), the group (or node) it is about, a state in keepalived's spirit (<c>active</c>, <c>standby</c>, <c>blocked</c>, ...),
/// and the details, as JSON and as <c>HAKIT_*</c> environment variables.
/// </summary>
internal sealed class Notification
{
    private readonly List<KeyValuePair<string, string>> _fields = [];

    private Notification(string kind, string name, string state)
    {
        Kind = kind;
        Name = name;
        State = state;
    }

    /// <summary>The kind of event.</summary>
    public string Kind { get; }

    /// <summary>The group (or, for fence and peer events, the node) the event is about.</summary>
    public string Name { get; }

    /// <summary>The state it reached.</summary>
    public string State { get; }

    /// <summary>The details, in order (also the environment variables, upper-cased with a <c>HAKIT_</c> prefix).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fields => _fields;

    /// <summary>The notification of <paramref name="e"/>, or null for an event the outside is not told of.</summary>
    /// <param name="e">The event.</param>
    /// <param name="cluster">The cluster name.</param>
    /// <param name="node">This node.</param>
    /// <param name="at">Wall-clock time of the event.</param>
    public static Notification? From(ClusterEvent e, string cluster, string node, DateTimeOffset at)
    {
        Notification? n = e switch
        {
            RoleChanged r => new Notification("role-change", r.Group, Lower(r.To))
                .With("group", r.Group).With("from", Lower(r.From)).With("to", Lower(r.To)).With("epoch", r.Epoch).With("why", r.Why.ToString()),
            SplitBrainDetected s => new Notification("split-brain", s.Group, s.Winner == node ? "winner" : "loser")
                .With("group", s.Group).With("peer", s.PeerNode).With("epoch", s.LocalEpoch).With("peer_epoch", s.PeerEpoch).With("winner", s.Winner),
            FenceCompleted f => new Notification("fence", f.Node, f.Result.Succeeded ? "fenced" : "failed")
                .With("target", f.Node).With("why", f.Result.Explanation),
            GroupFailed g => new Notification("failure", g.Group, Lower(g.Kind))
                .With("group", g.Group).With("resource", g.Resource ?? "").With("why", g.Message ?? ""),
            GroupHealthReported h => new Notification("health", h.Group, Lower(h.Outcome))
                .With("group", h.Group).With("resource", h.Resource ?? "").With("why", h.Message ?? ""),
            ReachabilityMove m => new Notification("ipfail", m.Group, "moving")
                .With("group", m.Group).With("to", m.To).With("score", (ulong)m.Score).With("peer_score", (ulong)m.PeerScore).With("targets", (ulong)m.Targets)
                .With("lost", string.Join(",", m.Lost)),
            PeerHealthChanged p when p.To == PeerHealth.Dead || p.From == PeerHealth.Dead
                => new Notification("peer", p.Peer, Lower(p.To)).With("peer", p.Peer).With("from", Lower(p.From)).With("to", Lower(p.To)),
            _ => null,
        };
        return n?.Prepend(cluster, node, at);
    }

    /// <summary>The event as one JSON object: kind, name, state, cluster, node, time, then the details.</summary>
    public byte[] ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("event", Kind);
            json.WriteString("name", Name);
            json.WriteString("state", State);
            foreach (var (key, value) in _fields)
            {
                json.WriteString(key, value);
            }

            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>A line for logs: <c>role-change web active</c>.</summary>
    public override string ToString() => $"{Kind} {Name} {State}";

    private Notification Prepend(string cluster, string node, DateTimeOffset at)
    {
        _fields.InsertRange(0, [new("cluster", cluster), new("node", node), new("time", at.ToString("O", CultureInfo.InvariantCulture))]);
        return this;
    }

    private Notification With(string key, string value)
    {
        _fields.Add(new(key, value));
        return this;
    }

    private Notification With(string key, ulong value) => With(key, value.ToString(CultureInfo.InvariantCulture));

    private static string Lower<T>(T value)
        where T : struct, Enum
    {
        var text = value.ToString();
        var sb = new StringBuilder(text.Length + 4);
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsUpper(text[i]) && i > 0)
            {
                sb.Append('-');
            }

            sb.Append(char.ToLowerInvariant(text[i]));
        }

        return sb.ToString();
    }
}
