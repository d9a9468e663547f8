namespace HaKit.Testing;

/// <summary>
/// The network fault model's cut links: how many faults cut each directed link (from node, to node, link index) right now.
/// A link is cut while its count is above zero; overlapping faults on one link end one at a time, a heal ends them all.
/// </summary>
internal sealed class LinkCuts
{
    private readonly Dictionary<(int From, int To, int Link), int> _counts = [];

    /// <summary>How many faults cut the link (like a dictionary lookup: <see langword="false"/> when none ever did or it healed).</summary>
    public bool TryGetValue((int From, int To, int Link) key, out int count) => _counts.TryGetValue(key, out count);

    /// <summary>Whether the link is cut now.</summary>
    public bool IsCut((int From, int To, int Link) key) => _counts.TryGetValue(key, out var c) && c > 0;

    /// <summary>One more fault cuts the link.</summary>
    public void Cut((int From, int To, int Link) key) => _counts[key] = _counts.GetValueOrDefault(key) + 1;

    /// <summary>One fault that cut the link ends (the link stays cut while another still does).</summary>
    public void Release((int From, int To, int Link) key)
    {
        if (_counts.TryGetValue(key, out var c))
        {
            if (c <= 1)
            {
                _counts.Remove(key);
            }
            else
            {
                _counts[key] = c - 1;
            }
        }
    }

    /// <summary>The link heals, whatever cut it.</summary>
    public void Heal((int From, int To, int Link) key) => _counts.Remove(key);

    /// <summary>Every link heals.</summary>
    public void Clear() => _counts.Clear();
}
