using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// Every arbiter mode: never two nodes running a group's resources at once, unless the node that began running them last could
/// not know the other still ran them. A node runs a group from the moment its core has it Starting until its stop is reported
/// finished (Stopping counts) and, beyond that, while any of its resources runs (<see cref="SimulatedNode.IsRunning"/>: started,
/// half started, or a stop that failed). Stopping counts: a node that starts while its peer is still stopping the same resources
/// runs them twice. (An operator's cleanup that retries the stop of a blocked group whose resources all stopped begins no run.)
/// </summary>
/// <remarks>
/// <para>The one excuse: the node that began running last, since it began that takeover (its last move to Acquiring), heard
/// nothing from the other that said the other ran the group (Starting, Active, Stopping or Blocked); "heard" is its newest
/// heartbeat from the other's current process, by announcement number, so a reordered older heartbeat does not count. That covers
/// every link cut (TwoNode mode dual-active), a one-way cut towards the starter, and a stalled (silent) peer. A peer that was
/// fenced is powered off, and an operator's accepted <see cref="ConfirmNodeDownCommand"/> on the starter after that news replaces
/// the fence, so both excuse too. How long an excused overlap lasts is bounded by the split-brain rule
/// (<see cref="TwoNodeDualActiveInvariant"/>, <see cref="SplitBrainRuleInvariant"/>) and the stop time-out.</para>
/// <para>Lease modes (Etcd, Witness): an old owner whose lease ran out while it is still stopping is an overlap like any other. The
/// lease bounds when an owner <em>begins</em> to stop (a drift margin before the arbiter's own expiry, checked by
/// <see cref="SingleActiveOwnerInvariant"/>), not when its stop ends; a new owner that can hear the old one still stopping must
/// wait for the stop to finish, lease or not. Only a new owner that cannot hear the old one relies on the lease alone: the
/// remaining overlap (the old owner's stop tail, within its stop time-out) is excused as above.</para>
/// </remarks>
public sealed class ResourcesNeverOverlapInvariant : IInvariant
{
    private readonly Dictionary<(string Node, string Group), TimeSpan> _acquiringSince = [];
    // Per (node index, group index), node-major: since when the node runs the group (null: it does not).
    private TimeSpan?[] _runningSince = [];
    // Per (receiver index, sender index): the receiver's newest news of the sender (null: none from its current process).
    private News?[] _news = [];
    private string[] _nodeNames = [];
    private readonly Dictionary<(string At, string Down), TimeSpan> _confirmedDown = [];
    // Per (node index a, node index b > a, group index): whether the pair overlaps (judged when it began).
    private bool[] _overlapping = [];
    // Whether the previous check scanned every pair and found nothing (a quiet step may then skip the scan: nothing it reads changed).
    private bool _clean;

    /// <inheritdoc />
    public string Name => "resources-never-overlap";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        if (!ReferenceEquals(_nodeNames, simulation.NodeNameArray))
        {
            _nodeNames = simulation.NodeNameArray;
            _news = new News?[_nodeNames.Length * _nodeNames.Length];
        }

        foreach (var e in simulation.StepEventList)
        {
            switch (e)
            {
                case CoreEventObserved { Event: RoleChanged { To: GroupRole.Acquiring } r }:
                    _acquiringSince[(e.Node, r.Group)] = e.At;
                    break;
                case HeartbeatDelivered h:
                    // Newest by announcement number within the sender's process (a reordered older heartbeat is not news).
                    var pair = h.NodeIndex >= 0 && h.FromIndex >= 0 ? (h.NodeIndex * _nodeNames.Length) + h.FromIndex : Pair(h.Node, h.From);
                    var old = pair >= 0 ? _news[pair] : null;
                    if (pair >= 0 && (old is null || h.Message.Sequence == 0 || h.Message.Sequence >= old.Sequence))
                    {
                        if (old is null)
                        {
                            _news[pair] = new News(h.At, h.Message, h.Message.Sequence);
                        }
                        else
                        {
                            old.At = h.At; // one object per pair, updated in place: no allocation per delivery
                            old.Message = h.Message;
                            old.Sequence = Math.Max(h.Message.Sequence, old.Sequence);
                        }
                    }

                    break;
                case NodeStarted s:
                    var started = Array.IndexOf(_nodeNames, s.Node);
                    for (var other = 0; started >= 0 && other < _nodeNames.Length; other++)
                    {
                        _news[(started * _nodeNames.Length) + other] = null;
                        _news[(other * _nodeNames.Length) + started] = null;
                    }

                    break;
                case AdminObserved { Command: ConfirmNodeDownCommand c, Result.Accepted: true } a:
                    _confirmedDown[(a.Node, c.Node)] = a.At;
                    break;
            }
        }

        if (simulation.QuietStep && _clean)
        {
            return null; // no role, process or resource changed since a scan that found nothing: it would find the same
        }

        _clean = false;
        var nodes = simulation.NodeList;
        var groups = simulation.GroupNames;
        var gc = groups.Count;
        if (_runningSince.Length != nodes.Count * gc)
        {
            _runningSince = new TimeSpan?[nodes.Count * gc];
            _overlapping = new bool[nodes.Count * nodes.Count * gc];
        }

        for (var gi = 0; gi < gc; gi++)
        {
            var g = groups[gi];
            for (var i = 0; i < nodes.Count; i++)
            {
                var slot = (i * gc) + gi;
                if (Runs(nodes[i], gi, _runningSince[slot] is not null))
                {
                    _runningSince[slot] ??= simulation.Now;
                }
                else
                {
                    _runningSince[slot] = null;
                }
            }

            for (var i = 0; i < nodes.Count; i++)
            {
                for (var j = i + 1; j < nodes.Count; j++)
                {
                    var message = CheckPair(nodes[i], nodes[j], g, _runningSince[(i * gc) + gi], _runningSince[(j * gc) + gi], (((i * nodes.Count) + j) * gc) + gi);
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

    /// <summary>Whether the node runs the group: its core has it Starting or Active, or any of its resources runs, or it is still
    /// Stopping a run (a stop that began while it ran; an operator's cleanup of a blocked group whose resources all stopped is no run).</summary>
    private static bool Runs(SimulatedNode n, int g, bool wasRunning)
    {
        if (!n.IsUp)
        {
            return false;
        }

        var role = n.RoleAt(g);
        return role is GroupRole.Starting or GroupRole.Active || n.IsRunningAt(g) || (wasRunning && role == GroupRole.Stopping);
    }

    private static bool SaysRunning(GroupAnnouncement? a) => a?.Role is GroupRole.Starting or GroupRole.Active or GroupRole.Stopping or GroupRole.Blocked;

    private string? CheckPair(SimulatedNode a, SimulatedNode b, string g, TimeSpan? runningSinceA, TimeSpan? runningSinceB, int pair)
    {
        if (runningSinceA is not { } sinceA || runningSinceB is not { } sinceB)
        {
            _overlapping[pair] = false;
            return null;
        }

        if (_overlapping[pair])
        {
            return null; // judged when it began
        }

        _overlapping[pair] = true;

        // Began now: the node that began running last started while the other ran the group.
        var (late, early) = sinceA >= sinceB ? (a, b) : (b, a);
        var began = late == a ? sinceA : sinceB;
        var takeover = _acquiringSince.TryGetValue((late.Name, g), out var t) && t <= began ? t : began;
        if (_news[Pair(late.Name, early.Name)] is not { } news || news.At < takeover)
        {
            return null; // it heard nothing from the other since its takeover began
        }

        var ann = Invariants.Announcement(news.Message, g);
        if (!SaysRunning(ann) || (_confirmedDown.TryGetValue((late.Name, early.Name), out var confirmed) && confirmed >= news.At))
        {
            return null;
        }

        return $"group {g}: node {late.Name} runs it since {Invariants.S(began)} (takeover began {Invariants.S(takeover)}) while {early.Name} still runs it ({early.Role(g)}, resources {(early.IsRunning(g) ? "running" : "not running")}), although {late.Name}'s latest news of {early.Name}, at {Invariants.S(news.At)}, said {early.Name} was {ann!.Role} with epoch {ann.Epoch}";
    }

    /// <summary>The slot of (receiver, sender) in <see cref="_news"/>; -1 for a name the simulation does not have.</summary>
    private int Pair(string to, string from)
    {
        var t = Array.IndexOf(_nodeNames, to);
        var f = Array.IndexOf(_nodeNames, from);
        return t < 0 || f < 0 ? -1 : (t * _nodeNames.Length) + f;
    }

    private sealed class News(TimeSpan at, HeartbeatMessage message, ulong sequence)
    {
        public TimeSpan At { get; set; } = at;

        public HeartbeatMessage Message { get; set; } = message;

        public ulong Sequence { get; set; } = sequence;
    }
}
