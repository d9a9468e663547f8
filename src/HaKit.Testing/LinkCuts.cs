namespace HaKit.Testing;

/// <summary>
/// The network fault model's cut links: how many faults cut each directed link (from node, to node, link index) right now.
/// A link is cut while its count is above zero; overlapping faults on one link end one at a time, a heal ends them all.
/// Dense by index (every packet sent looks its link up).
/// </summary>
internal sealed class LinkCuts(int nodes, int links)
{
    private readonly int[] _counts = new int[nodes * nodes * links];

    public bool IsCut((int From, int To, int Link) key) => _counts[Slot(key)] > 0;

    public void Cut((int From, int To, int Link) key) => _counts[Slot(key)]++;

    public void Release((int From, int To, int Link) key)
    {
        var slot = Slot(key);
        if (_counts[slot] > 0)
        {
            _counts[slot]--;
        }
    }

    public void Heal((int From, int To, int Link) key) => _counts[Slot(key)] = 0;

    public void Clear() => Array.Clear(_counts);

    /// <summary>The directed link's index in a dense array of every (from, to, link): the simulator keeps its captured packets the same way.</summary>
    public int Slot((int From, int To, int Link) key) => (((key.From * nodes) + key.To) * links) + key.Link;
}
