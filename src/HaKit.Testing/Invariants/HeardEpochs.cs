namespace HaKit.Testing;

/// <summary>The highest epoch each node's current process has heard per group (from the peer's heartbeats), with who said it and when.</summary>
internal sealed class HeardEpochs
{
    private readonly Dictionary<(string Node, string Group), (ulong Epoch, string From, TimeSpan At)> _heard = [];

    /// <summary>The (node, group) entries raised since their key was last taken out of this set (by its reader).</summary>
    public HashSet<(string Node, string Group)> Changed { get; } = [];

    /// <summary>Every (node, group) entry.</summary>
    public IEnumerable<KeyValuePair<(string Node, string Group), (ulong Epoch, string From, TimeSpan At)>> Entries => _heard;

    /// <summary>Records the epochs (own and highest seen) a delivered heartbeat announces, keeping the highest per group.</summary>
    public void Record(HeartbeatDelivered h)
    {
        var groups = h.Message.Groups;
        for (var i = 0; i < groups.Count; i++) // indexed: no enumerator allocated per delivery
        {
            var a = groups[i];
            var seen = Math.Max(a.Epoch, a.HighestEpoch);
            if (!_heard.TryGetValue((h.Node, a.Group), out var prev) || seen > prev.Epoch)
            {
                _heard[(h.Node, a.Group)] = (seen, h.From, h.At);
                Changed.Add((h.Node, a.Group));
            }
        }
    }

    /// <summary>Forgets what a node heard (its process ended).</summary>
    public void Forget(string node)
    {
        foreach (var key in _heard.Keys.Where(k => k.Node == node).ToArray())
        {
            _heard.Remove(key);
            Changed.Remove(key);
        }
    }

    /// <summary>The highest epoch <paramref name="node"/> heard for <paramref name="group"/>.</summary>
    public bool TryGet(string node, string group, out (ulong Epoch, string From, TimeSpan At) heard) => _heard.TryGetValue((node, group), out heard);
}
