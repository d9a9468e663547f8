using HaKit.Arbitration;

namespace HaKit.Testing;

/// <summary>
/// Fencing tokens are unique: no two nodes ever start a group with the same epoch, over the whole run (every
/// <see cref="GroupStartIssued"/>, across restarts of either node). A repeated epoch means two owners hand the same fencing
/// token to the outside world, for example a handoff target reusing the epoch the old owner released; this invariant names that
/// fault at the start that reuses it, before it shows up as a stall or a missed convergence.
/// </summary>
/// <remarks>
/// The one excuse, TwoNode mode only: the later starter never knew the epoch. While every link is cut both nodes take the
/// group by design, and two nodes that never heard each other (cut from boot) both start at epoch 1; the split-brain rule then
/// breaks the tie by priority. "Knew" means a heartbeat announcing the group with that epoch or a higher one (as its epoch or its
/// highest epoch seen) reached the node's current process, or reached an earlier process that then lived on for the time the core
/// needs to make a learned epoch durable even after a failed write (a retry after the arbiter retry interval, plus two ticks, at
/// the node's clock rate, not stalled): a process that dies sooner may take a learned epoch with it, and nothing can prevent that.
/// In Etcd and Witness modes the arbiter serialises ownership, so there is no excuse. A node repeating its own epoch is
/// <see cref="EpochsGrowInvariant"/>'s business.
/// </remarks>
public sealed class EpochsUniquePerStartInvariant : IInvariant
{
    private readonly Dictionary<(string Group, ulong Epoch), (string Node, TimeSpan At)> _starts = [];
    // Durable knowledge per HeardEpochs slot (node index, group index): what a process learned and lived long enough to persist.
    private (ulong Epoch, string From, TimeSpan At)?[] _known = [];
    private readonly HeardEpochs _current = new();
    private readonly Func<int, bool> _promote;
    private Simulation? _simulation;

    /// <summary>Creates the invariant.</summary>
    public EpochsUniquePerStartInvariant() => _promote = Promote;

    /// <summary>Promotes what a node's live process learned to durable knowledge once it had the time to persist it; true when
    /// the entry needs no more looking at (promoted, or no news over what is known).</summary>
    private bool Promote(int slot)
    {
        if (!_current.TryGet(slot, out var learned))
        {
            return true;
        }

        if (_known[slot] is { } known && learned.Epoch <= known.Epoch)
        {
            return true;
        }

        var n = _simulation!.NodeList[slot / _simulation.GroupNameArray.Length];
        var timing = n.Options.Timing;
        var grace = TimeSpan.FromTicks((long)((n.Options.Arbiter.RetryInterval + (2 * timing.EffectiveTickInterval)).Ticks / n.Rate));
        if (n.IsUp && n.StalledUntil <= _simulation.Now && _simulation.Now >= learned.At + grace)
        {
            _known[slot] = learned;
            return true;
        }

        return false;
    }

    /// <summary>What the node of <paramref name="slot"/> heard of an epoch at least <paramref name="epoch"/>: in its current process,
    /// or durably (null: it never knew that epoch).</summary>
    private (ulong Epoch, string From, TimeSpan At)? Knew(int slot, ulong epoch)
    {
        if (_current.TryGet(slot, out var current) && current.Epoch >= epoch)
        {
            return current;
        }

        return slot >= 0 && _known[slot] is { } known && known.Epoch >= epoch ? known : null;
    }

    /// <inheritdoc />
    public string Name => "epochs-unique-per-start";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        _current.Bind(simulation);
        if (_known.Length != simulation.NodeNameArray.Length * simulation.GroupNameArray.Length)
        {
            _known = new (ulong, string, TimeSpan)?[simulation.NodeNameArray.Length * simulation.GroupNameArray.Length];
        }

        foreach (var e in simulation.StepEventList)
        {
            switch (e)
            {
                case NodeStarted s:
                    _current.Forget(s.Node); // learned by a process that died before it had to be durable
                    break;
                case HeartbeatDelivered h:
                    _current.Record(h);
                    break;
                case GroupStartIssued st:
                    if (_starts.TryGetValue((st.Group, st.Epoch), out var first) && first.Node != st.Node)
                    {
                        var twoNode = simulation.Options.Cluster.Arbiter.Mode == ArbiterMode.TwoNode;
                        var knew = Knew(_current.Slot(st.Node, st.Group), st.Epoch);
                        if (!twoNode || knew is not null)
                        {
                            var why = knew is { } heard
                                ? $"it had heard epoch {heard.Epoch} from {heard.From} at {Invariants.S(heard.At)}"
                                : "the arbiter serialises ownership in this mode";
                            return $"node {st.Node} started group {st.Group} with epoch {st.Epoch}, which node {first.Node} already started at {Invariants.S(first.At)} ({why}): two owners with one fencing token";
                        }
                    }

                    _starts.TryAdd((st.Group, st.Epoch), (st.Node, st.At));
                    break;
            }
        }

        // What a live process learned becomes durable knowledge once it had the time to persist it (with one retry). Only an
        // entry raised since it was last promoted (or found no news) can be promoted: the others are looked at no more.
        if (_current.Changed.Count > 0)
        {
            _simulation = simulation;
            _current.TakeChanged(_promote);
        }

        return null;
    }
}
