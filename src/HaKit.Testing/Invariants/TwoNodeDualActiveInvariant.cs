using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// TwoNode mode: two nodes run a group at once (both Starting or Active) only when the node that started last could not hear
/// the other (its latest news of the other, if any arrived since it began the takeover, did not say the other ran the group),
/// and the dual-active ends within <see cref="SimulationBounds.SplitBrainResolution"/> after the split-brain rule's loser hears
/// the winner announce its current ownership (a stale heartbeat from before it took the group does not count). A one-way cut counts as cut when it is the loser who cannot hear: the winner has no way to make it stop.
/// While the loser has the group in maintenance it does not apply the rule (hands off by contract); the bound starts again when it
/// is managed again and hears the winner.
/// </summary>
public sealed class TwoNodeDualActiveInvariant : IInvariant
{
    private readonly Dictionary<(string Node, string Group), TimeSpan> _acquiringSince = [];
    private readonly Dictionary<(string A, string B, string Group), Episode> _episodes = [];
    // Whether the previous check scanned every pair and found nothing.
    private bool _clean;

    /// <inheritdoc />
    public string Name => "two-node-dual-active";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEventList)
        {
            if (e is CoreEventObserved { Event: RoleChanged { To: GroupRole.Acquiring } r })
            {
                _acquiringSince[(e.Node, r.Group)] = e.At;
            }
        }

        if (simulation.QuietStep && _clean && _episodes.Count == 0)
        {
            return null; // no pair ran a group at the last scan and no role or process changed since: no pair does now
        }

        _clean = false;
        var nodes = simulation.NodeList;
        for (var i = 0; i < nodes.Count; i++)
        {
            for (var j = i + 1; j < nodes.Count; j++)
            {
                var groups = simulation.GroupNameArray;
                for (var gi = 0; gi < groups.Length; gi++)
                {
                    var message = CheckPair(simulation, nodes[i], nodes[j], groups[gi], gi);
                    if (message is not null)
                    {
                        return message;
                    }
                }
            }
        }

        _clean = true;
        return null;
    }

    private static bool Runs(SimulatedNode n, int g) => n.IsUp && n.RoleAt(g) is GroupRole.Starting or GroupRole.Active;

    private string? CheckPair(Simulation sim, SimulatedNode a, SimulatedNode b, string g, int gi)
    {
        if (!Runs(a, gi) || !Runs(b, gi))
        {
            if (_episodes.Count > 0)
            {
                _episodes.Remove((a.Name, b.Name, g));
            }

            return null;
        }

        var key = (a.Name, b.Name, g);
        if (!_episodes.TryGetValue(key, out var episode))
        {
            // Began now: the node that began its takeover last started while the other ran the group.
            var (late, early) = _acquiringSince.GetValueOrDefault((a.Name, g)) >= _acquiringSince.GetValueOrDefault((b.Name, g)) ? (a, b) : (b, a);
            var since = _acquiringSince.GetValueOrDefault((late.Name, g));
            if (sim.LastHeartbeat(late.Name, early.Name) is { } heard && heard.At >= since
                && Invariants.Announcement(heard.Message, g) is { Role: GroupRole.Starting or GroupRole.Active } ann)
            {
                return $"group {g}: node {late.Name} started (takeover began {Invariants.S(since)}) although its latest heartbeat from {early.Name}, at {Invariants.S(heard.At)}, said {early.Name} was {ann.Role} with epoch {ann.Epoch}";
            }

            episode = new Episode(sim.Now);
            _episodes[key] = episode;
        }

        var (ea, eb) = (a.Epoch(g), b.Epoch(g));
        var aWins = ea != eb ? ea > eb : Invariants.Outranks(sim, a.Name, b.Name);
        var (winner, loser) = aWins ? (a, b) : (b, a);
        if (loser.InMaintenance(g))
        {
            // Maintenance: the loser neither stops nor fails over the group; the rule applies again once it is managed (and hears the winner).
            episode.Deadline = null;
            return null;
        }

        if (episode.Deadline is null)
        {
            foreach (var e in sim.StepEventList)
            {
                if (e is HeartbeatDelivered h && h.Node == loser.Name && h.From == winner.Name
                    && Invariants.Announcement(h.Message, g) is { Role: GroupRole.Starting or GroupRole.Active } ann
                    && ann.Epoch == winner.Epoch(g))
                {
                    episode.Deadline = sim.Now + sim.Bounds.SplitBrainResolution;
                    episode.HeardAt = sim.Now;
                    break;
                }
            }
        }

        if (episode.Deadline is { } deadline && sim.Now > deadline)
        {
            return $"group {g}: {a.Name} (epoch {ea}) and {b.Name} (epoch {eb}) both run it since {Invariants.S(episode.Since)}; the loser {loser.Name} heard the winner {winner.Name} at {Invariants.S(episode.HeardAt)} but still runs it {Invariants.S(sim.Now - episode.HeardAt)} later (bound {Invariants.S(sim.Bounds.SplitBrainResolution)})";
        }

        return null;
    }

    private sealed class Episode(TimeSpan since)
    {
        public TimeSpan Since { get; } = since;

        public TimeSpan? Deadline { get; set; }

        public TimeSpan HeardAt { get; set; }
    }
}
