namespace HaKit.Testing;

/// <summary>The highest epoch each node's current process has heard per group (from the peer's heartbeats), with who said it and
/// when. Entries are slots by (node index, group index), node-major: a delivered heartbeat is recorded without hashing names.</summary>
internal sealed class HeardEpochs
{
    private string[] _nodes = [];
    private string[] _groups = [];
    private (ulong Epoch, string From, TimeSpan At)?[] _heard = [];
    private bool[] _changed = [];

    /// <summary>The slots raised since they were last taken out of this list (by <see cref="TakeChanged"/>), each once.</summary>
    public List<int> Changed { get; } = [];

    /// <summary>The simulation's node names, in index order (slot / group count).</summary>
    public string[] Nodes => _nodes;

    /// <summary>Sizes the slots for the simulation's nodes and groups (once; a later call with the same simulation does nothing).</summary>
    public void Bind(Simulation simulation)
    {
        if (ReferenceEquals(_nodes, simulation.NodeNameArray) && ReferenceEquals(_groups, simulation.GroupNameArray))
        {
            return;
        }

        _nodes = simulation.NodeNameArray;
        _groups = simulation.GroupNameArray;
        var slots = _nodes.Length * _groups.Length;
        _heard = new (ulong, string, TimeSpan)?[slots];
        _changed = new bool[slots];
        Changed.Clear();
    }

    /// <summary>The slot of (<paramref name="node"/>, <paramref name="group"/>), or -1 for a name the simulation does not have.</summary>
    public int Slot(string node, string group)
    {
        var ni = Array.IndexOf(_nodes, node);
        var gi = Array.IndexOf(_groups, group);
        return ni < 0 || gi < 0 ? -1 : (ni * _groups.Length) + gi;
    }

    /// <summary>Records the epochs (own and highest seen) a delivered heartbeat announces, keeping the highest per group.</summary>
    public void Record(HeartbeatDelivered h)
    {
        var ni = h.NodeIndex >= 0 ? h.NodeIndex : Array.IndexOf(_nodes, h.Node);
        if (ni < 0)
        {
            return;
        }

        var groups = h.Message.Groups;
        for (var i = 0; i < groups.Count; i++) // indexed: no enumerator allocated per delivery
        {
            var a = groups[i];
            var gi = GroupIndex(a.Group);
            if (gi < 0)
            {
                continue; // a group this cluster does not configure: nothing can start it
            }

            var slot = (ni * _groups.Length) + gi;
            var seen = Math.Max(a.Epoch, a.HighestEpoch);
            if (_heard[slot] is not { } prev || seen > prev.Epoch)
            {
                _heard[slot] = (seen, h.From, h.At);
                if (!_changed[slot])
                {
                    _changed[slot] = true;
                    Changed.Add(slot);
                }
            }
        }
    }

    /// <summary>The index of a group (-1: not configured), comparing ordinally: no comparer dispatch per announcement.</summary>
    private int GroupIndex(string group)
    {
        for (var i = 0; i < _groups.Length; i++)
        {
            if (string.Equals(_groups[i], group, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Forgets what a node heard (its process ended).</summary>
    public void Forget(string node)
    {
        var ni = Array.IndexOf(_nodes, node);
        if (ni < 0)
        {
            return;
        }

        for (var slot = ni * _groups.Length; slot < (ni + 1) * _groups.Length; slot++)
        {
            _heard[slot] = null;
            if (_changed[slot])
            {
                _changed[slot] = false;
                Changed.Remove(slot);
            }
        }
    }

    /// <summary>Takes out of <see cref="Changed"/> every slot <paramref name="done"/> returns true for.</summary>
    public void TakeChanged(Func<int, bool> done)
    {
        var kept = 0;
        for (var i = 0; i < Changed.Count; i++)
        {
            var slot = Changed[i];
            if (done(slot))
            {
                _changed[slot] = false;
            }
            else
            {
                Changed[kept++] = slot;
            }
        }

        Changed.RemoveRange(kept, Changed.Count - kept);
    }

    /// <summary>The highest epoch heard in <paramref name="slot"/>.</summary>
    public bool TryGet(int slot, out (ulong Epoch, string From, TimeSpan At) heard)
    {
        heard = slot >= 0 && _heard[slot] is { } h ? h : default;
        return slot >= 0 && _heard[slot] is not null;
    }

    /// <summary>The highest epoch <paramref name="node"/> heard for <paramref name="group"/>.</summary>
    public bool TryGet(string node, string group, out (ulong Epoch, string From, TimeSpan At) heard) => TryGet(Slot(node, group), out heard);
}
