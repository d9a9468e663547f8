using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>
/// Epochs only grow: on each node, the persisted epoch of a group never decreases and the highest epoch the core knows never
/// decreases within a process; every takeover (start) uses an epoch above every epoch the node owned before and above every
/// epoch it heard from peers in its current process; and no resource instance is started with a smaller epoch after a larger one.
/// </summary>
public sealed class EpochsGrowInvariant : IInvariant
{
    // Per (node index, group index), node-major; a missing value is 0, which no later value is below.
    private ulong[] _persisted = [];
    private (ulong Incarnation, ulong Highest)[] _highest = [];
    private readonly Dictionary<(string Node, string Group), ulong> _owned = [];
    private readonly HeardEpochs _heard = new();
    private readonly Dictionary<(string Node, string Group, string Resource), ulong> _resource = [];

    /// <inheritdoc />
    public string Name => "epochs-grow";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        _heard.Bind(simulation);
        foreach (var e in simulation.StepEventList)
        {
            switch (e)
            {
                case NodeStarted s:
                    _heard.Forget(s.Node);
                    break;
                case HeartbeatDelivered h:
                    _heard.Record(h);
                    break;
                case GroupStartIssued st:
                    if (_owned.TryGetValue((st.Node, st.Group), out var owned) && st.Epoch <= owned)
                    {
                        return $"node {st.Node} started group {st.Group} with epoch {st.Epoch}, but it had already owned epoch {owned}: a takeover must raise the epoch";
                    }

                    if (_heard.TryGet(st.Node, st.Group, out var heard) && st.Epoch <= heard.Epoch)
                    {
                        return $"node {st.Node} started group {st.Group} with epoch {st.Epoch}, but it had heard epoch {heard.Epoch} from {heard.From} at {Invariants.S(heard.At)}: a takeover must use an epoch above every epoch it knows";
                    }

                    _owned[(st.Node, st.Group)] = st.Epoch;
                    break;
                case ResourceActionObserved { Record: { Action: ResourceAction.Start, FailureKind: ResourceFailureKind.None } r } ra:
                    if (_resource.TryGetValue((ra.Node, r.Group, r.Resource), out var last) && ra.Epoch < last)
                    {
                        return $"resource {r.Resource} of group {r.Group} on node {ra.Node} was started with epoch {ra.Epoch} after epoch {last}";
                    }

                    _resource[(ra.Node, r.Group, r.Resource)] = ra.Epoch;
                    break;
            }
        }

        if (simulation.QuietStep)
        {
            return null; // no persisted, highest or process changed since the last scan: its values are the ones recorded
        }

        var nodes = simulation.NodeList;
        var groups = simulation.GroupNames;
        if (_persisted.Length != nodes.Count * groups.Count)
        {
            _persisted = new ulong[nodes.Count * groups.Count];
            _highest = new (ulong, ulong)[nodes.Count * groups.Count];
        }

        for (var i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            for (var gi = 0; gi < groups.Count; gi++)
            {
                var g = groups[gi];
                var slot = (i * groups.Count) + gi;
                var persisted = n.PersistedAt(gi);
                var p = _persisted[slot];
                if (persisted < p)
                {
                    return $"node {n.Name}: persisted epoch of group {g} went down from {p} to {persisted}";
                }

                _persisted[slot] = persisted;
                if (!n.IsUp)
                {
                    continue;
                }

                var highest = n.HighestEpochAt(gi);
                var h = _highest[slot];
                if (h.Incarnation == n.Incarnation && highest < h.Highest)
                {
                    return $"node {n.Name}: highest epoch of group {g} went down from {h.Highest} to {highest} within incarnation {n.Incarnation}";
                }

                _highest[slot] = (n.Incarnation, highest);
            }
        }

        return null;
    }
}
