using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using HaKit.Admin.V1;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace HaKit.Cli;

/// <summary>Renders a node's status and events: a crm_mon-like view of tables, or JSON.</summary>
internal static class StatusRendering
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    /// <summary>A role as a lower-case word: <c>active</c>, <c>standby</c>, ...</summary>
    public static string Word(Role role) => Enum.IsDefined(role) ? role.ToString().ToLowerInvariant() : ((int)role).ToString(CultureInfo.InvariantCulture);

    /// <summary>A health as a lower-case word: <c>alive</c>, <c>suspect</c>, <c>dead</c>, <c>unknown</c>.</summary>
    public static string Word(Health health) => Enum.IsDefined(health) ? health.ToString().ToLowerInvariant() : ((int)health).ToString(CultureInfo.InvariantCulture);

    /// <summary>The status as one JSON object (one line): node, groups, peers and more.</summary>
    public static string Json(StatusReply status) => ToJson(status).ToJsonString(Compact);

    /// <summary>The status as a JSON object.</summary>
    public static JsonObject ToJson(StatusReply status)
    {
        var groups = new JsonArray();
        foreach (var g in status.Groups)
        {
            groups.Add(new JsonObject
            {
                ["name"] = g.Name,
                ["role"] = Word(g.Role),
                ["epoch"] = g.Epoch,
                ["owner"] = g.Owner,
                ["eligible"] = g.Eligible,
                ["banned"] = g.Banned,
                ["maintenance"] = g.Maintenance,
                ["fatalStopped"] = g.FatalStopped,
                ["highestEpoch"] = g.HighestEpoch,
                ["preferredNode"] = g.PreferredNode,
            });
        }

        var peers = new JsonArray();
        foreach (var p in status.Peers)
        {
            var links = new JsonArray();
            foreach (var l in p.Links)
            {
                links.Add(new JsonObject { ["name"] = l.Name, ["health"] = Word(l.Health), ["detail"] = l.Detail });
            }

            peers.Add(new JsonObject
            {
                ["name"] = p.Name,
                ["health"] = Word(p.Health),
                ["links"] = links,
                ["incarnation"] = p.Incarnation,
                ["fenced"] = p.Fenced,
                ["leaving"] = p.Leaving,
            });
        }

        var replication = new JsonArray();
        foreach (var r in status.Replication)
        {
            replication.Add(new JsonObject
            {
                ["group"] = r.Group,
                ["role"] = r.Role,
                ["mode"] = r.Mode,
                ["epoch"] = r.Epoch,
                ["lastAppended"] = r.LastAppended,
                ["lastEpoch"] = r.LastEpoch,
                ["durable"] = r.Durable,
                ["applied"] = r.Applied,
                ["acknowledged"] = r.Acknowledged,
                ["lagEntries"] = r.LagEntries,
                ["knownLagEntries"] = r.KnownLagEntries,
                ["peerConnected"] = r.PeerConnected,
                ["peerReceived"] = r.PeerReceived,
                ["peerDurable"] = r.PeerDurable,
                ["degraded"] = r.Degraded,
                ["peerOutdated"] = r.PeerOutdated,
                ["outdated"] = r.Outdated,
                ["faulted"] = r.Faulted,
                ["resends"] = r.Resends,
            });
        }

        return new JsonObject
        {
            ["node"] = status.Node,
            ["cluster"] = status.Cluster,
            ["incarnation"] = status.Incarnation,
            ["version"] = status.Version,
            ["standby"] = status.Standby,
            ["shuttingDown"] = status.ShuttingDown,
            ["arbiter"] = new JsonObject { ["mode"] = status.Arbiter?.Mode ?? "", ["unavailable"] = status.Arbiter?.Unavailable ?? "" },
            ["budget"] = status.Budget is { } b
                ? new JsonObject
                {
                    ["worstCaseDetectionMs"] = b.WorstCaseDetectionMs,
                    ["worstCaseTakeoverMs"] = b.WorstCaseTakeoverMs,
                    ["tolerableLostHeartbeats"] = b.TolerableLostHeartbeats,
                    ["summary"] = b.Summary,
                }
                : null,
            ["groups"] = groups,
            ["peers"] = peers,
            ["replication"] = replication,
        };
    }

    /// <summary>The crm_mon-like view: the node, its arbiter and budget, a table of groups and a table of peers.</summary>
    public static IRenderable View(StatusReply status)
    {
        var lines = new List<IRenderable>
        {
            new Markup($"[bold]Node {E(status.Node)}[/]  cluster {E(status.Cluster)}  incarnation {status.Incarnation}  HaKit {E(status.Version)}"),
            new Markup($"Standby: {(status.Standby ? "[yellow]on[/]" : "off")}{(status.ShuttingDown ? "  [yellow]shutting down[/]" : "")}"),
            new Markup("Arbiter: " + (status.Arbiter is { } a
                ? E(a.Mode) + (a.Unavailable.Length == 0 ? " (available)" : $" [red]unavailable: {E(a.Unavailable)}[/]")
                : "(not reported)")),
            new Markup("Budget: " + (status.Budget is { } b ? E(b.Summary.Length > 0 ? b.Summary : $"worst-case detection {b.WorstCaseDetectionMs} ms, worst-case takeover {b.WorstCaseTakeoverMs} ms, {b.TolerableLostHeartbeats} heartbeats may be lost") : "(not reported)")),
        };

        var groups = new Table().Title("Groups").AddColumns("Group", "Role", "Epoch", "Owner", "Eligible", "Ban", "Maintenance", "Preferred");
        foreach (var g in status.Groups)
        {
            groups.AddRow(
                E(g.Name),
                RoleMarkup(g.Role) + (g.FatalStopped ? " [red](fatal stop)[/]" : ""),
                g.Epoch.ToString(CultureInfo.InvariantCulture),
                g.Owner.Length == 0 ? "-" : E(g.Owner),
                g.Eligible ? "yes" : "no",
                g.Banned.Length == 0 ? "-" : "[red]" + E(g.Banned) + "[/]",
                g.Maintenance ? "[yellow]on[/]" : "off",
                g.PreferredNode.Length == 0 ? "-" : E(g.PreferredNode));
        }

        lines.Add(groups);
        var peers = new Table().Title("Peers").AddColumns("Peer", "Health", "Links", "Incarnation", "Notes");
        foreach (var p in status.Peers)
        {
            var links = p.Links.Count == 0 ? "-" : string.Join("\n", p.Links.Select(l => $"{E(l.Name)}: {HealthMarkup(l.Health)}{(l.Detail.Length > 0 ? " (" + E(l.Detail) + ")" : "")}"));
            var notes = string.Join(", ", new[] { p.Fenced ? "fenced" : null, p.Leaving ? "leaving" : null }.OfType<string>());
            peers.AddRow(E(p.Name), HealthMarkup(p.Health), links, p.Incarnation == 0 ? "-" : p.Incarnation.ToString(CultureInfo.InvariantCulture), notes.Length == 0 ? "-" : notes);
        }

        lines.Add(peers);
        if (status.Replication.Count > 0)
        {
            lines.Add(ReplicationTable(status));
        }

        return new Rows(lines);
    }

    /// <summary>HaKit.Replication: one row per replicated group (positions, lag, peer, outdated marks).</summary>
    private static Table ReplicationTable(StatusReply status)
    {
        var table = new Table().Title("Replication").AddColumns("Group", "Role", "Mode", "Epoch", "Appended", "Durable", "Applied", "Lag", "Peer", "Marks");
        foreach (var r in status.Replication)
        {
            var owner = r.Role == "Owner";
            var lag = owner ? r.LagEntries : r.KnownLagEntries;
            var marks = string.Join(", ", new[]
            {
                r.Faulted ? "[red]faulted[/]" : null,
                r.Degraded ? "[yellow]degraded (writing alone)[/]" : null,
                r.PeerOutdated ? "[yellow]peer outdated[/]" : null,
                r.Outdated ? "[red]outdated[/]" : null,
            }.OfType<string>());
            var peer = (r.PeerConnected ? "[green]connected[/]" : "[red]disconnected[/]")
                + (owner ? $" (received {r.PeerReceived}, durable {r.PeerDurable}{(r.Resends > 0 ? $", [yellow]resends {r.Resends}[/]" : "")})" : "");
            table.AddRow(
                E(r.Group),
                E(r.Role),
                E(r.Mode),
                r.Epoch.ToString(CultureInfo.InvariantCulture),
                $"{r.LastAppended} (epoch {r.LastEpoch})",
                r.Durable.ToString(CultureInfo.InvariantCulture),
                r.Applied.ToString(CultureInfo.InvariantCulture),
                lag == 0 ? "0" : $"[yellow]{lag}[/]",
                peer,
                marks.Length == 0 ? "-" : marks);
        }

        return table;
    }

    /// <summary>One event as a line of text: <c>#seq time kind [group] [node] text</c>.</summary>
    public static string Line(WatchEvent e)
    {
        var time = DateTimeOffset.FromUnixTimeMilliseconds(e.UnixTimeMs).ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        var about = (e.Group.Length > 0 ? $" group={e.Group}" : "") + (e.Node.Length > 0 ? $" node={e.Node}" : "");
        if (e.Kind == "RoleChanged")
        {
            about += $" role={Word(e.Role)} epoch={e.Epoch}";
        }

        if (e.Snapshot is { } s)
        {
            var groups = s.Groups.Count == 0 ? "no groups" : string.Join(", ", s.Groups.Select(g => $"{g.Name} {Word(g.Role)} epoch {g.Epoch} owner {(g.Owner.Length == 0 ? "-" : g.Owner)}"));
            var peers = s.Peers.Count == 0 ? "no peers" : string.Join(", ", s.Peers.Select(p => $"{p.Name} {Word(p.Health)}"));
            return $"#{e.Sequence} {time} {e.Kind}{(e.Gap ? " (gap)" : "")} node={s.Node} incarnation={e.Incarnation} standby={(s.Standby ? "on" : "off")}: {groups}; peers: {peers}";
        }

        return $"#{e.Sequence} {time} {e.Kind}{about}{(e.Text.Length > 0 ? ": " + e.Text : "")}";
    }

    /// <summary>One event as one JSON object (one line).</summary>
    public static string Json(WatchEvent e)
    {
        var o = new JsonObject
        {
            ["sequence"] = e.Sequence,
            ["incarnation"] = e.Incarnation,
            ["time"] = DateTimeOffset.FromUnixTimeMilliseconds(e.UnixTimeMs).ToString("O", CultureInfo.InvariantCulture),
            ["kind"] = e.Kind,
            ["text"] = e.Text,
            ["group"] = e.Group,
            ["node"] = e.Node,
        };
        if (e.Kind == "RoleChanged")
        {
            o["role"] = Word(e.Role);
            o["epoch"] = e.Epoch;
        }

        if (e.Snapshot is { } s)
        {
            o["gap"] = e.Gap;
            o["snapshot"] = ToJson(s);
        }

        return o.ToJsonString(Compact);
    }

    private static string E(string text) => Markup.Escape(text);

    private static string RoleMarkup(Role role) => role switch
    {
        Role.Active => "[green]active[/]",
        Role.Blocked => "[red]blocked[/]",
        Role.Acquiring or Role.Starting or Role.Stopping => "[yellow]" + Word(role) + "[/]",
        _ => Word(role),
    };

    private static string HealthMarkup(Health health) => health switch
    {
        Health.Alive => "[green]alive[/]",
        Health.Dead => "[red]dead[/]",
        Health.Suspect => "[yellow]suspect[/]",
        _ => Word(health),
    };
}
