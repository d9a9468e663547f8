namespace HaKit.Testing;

// The network fault model's cut links (LinkCuts) as tests and the chaos schedule drive them: cuts, heals, partitions.
// Loss, duplication, replay and delays are drawn per packet in Transmit and PacketDelay (Simulation.cs).
public sealed partial class Simulation
{
    /// <summary>Whether the directed link is cut now (by a fault or <see cref="Cut"/>).</summary>
    /// <param name="from">Sender.</param>
    /// <param name="to">Receiver.</param>
    /// <param name="link">The link.</param>
    public bool IsCut(string from, string to, string link) => _cuts.IsCut((this[from].Index, this[to].Index, LinkIndex(link)));

    /// <summary>Cuts a directed link (every link when <paramref name="link"/> is null).</summary>
    /// <param name="from">Sender.</param>
    /// <param name="to">Receiver.</param>
    /// <param name="link">The link, or all.</param>
    public void Cut(string from, string to, string? link = null)
    {
        foreach (var l in LinkIndexes(link))
        {
            _cuts.Cut((this[from].Index, this[to].Index, l));
        }

        Record("-", "fault", $"cut {from}->{to} {link ?? "all links"}");
    }

    /// <summary>Heals a directed link (every link when <paramref name="link"/> is null), whatever cut it.</summary>
    /// <param name="from">Sender.</param>
    /// <param name="to">Receiver.</param>
    /// <param name="link">The link, or all.</param>
    public void Heal(string from, string to, string? link = null)
    {
        foreach (var l in LinkIndexes(link))
        {
            _cuts.Heal((this[from].Index, this[to].Index, l));
        }

        Record("-", "fault", $"heal {from}->{to} {link ?? "all links"}");
    }

    /// <summary>Cuts both directions between two nodes.</summary>
    /// <param name="a">One node.</param>
    /// <param name="b">The other.</param>
    /// <param name="link">The link, or all.</param>
    public void CutBoth(string a, string b, string? link = null)
    {
        Cut(a, b, link);
        Cut(b, a, link);
    }

    /// <summary>Heals every link.</summary>
    public void HealAll()
    {
        _cuts.Clear();
        Record("-", "fault", "heal all links");
    }

    /// <summary>Cuts every link in both directions between <paramref name="side"/> and the other nodes.</summary>
    /// <param name="side">The nodes on one side.</param>
    public void Partition(IReadOnlyCollection<string> side)
    {
        ArgumentNullException.ThrowIfNull(side);
        foreach (var a in side)
        {
            foreach (var b in _nodeNames.Where(n => !side.Contains(n)))
            {
                CutBoth(a, b);
            }
        }
    }

    /// <summary>A fault's cut of a link (every link when <paramref name="link"/> is null) ends, one way or both; nothing happens
    /// when faults are over (their end healed every link already).</summary>
    internal void Uncut(string from, string to, string? link, bool oneWay)
    {
        if (!_faultsOn)
        {
            return;
        }

        void One(string x, string y)
        {
            foreach (var l in LinkIndexes(link))
            {
                _cuts.Release((this[x].Index, this[y].Index, l));
            }
        }

        One(from, to);
        if (!oneWay)
        {
            One(to, from);
        }

        Record("-", "fault", $"heal {from}{(oneWay ? "->" : "<->")}{to} {link ?? "all links"}");
    }

    private int LinkIndex(string link)
    {
        var i = Array.IndexOf(_links, link);
        return i >= 0 ? i : throw new ArgumentException($"unknown link '{link}'; the cluster has {string.Join(", ", _links)}", nameof(link));
    }

    private IEnumerable<int> LinkIndexes(string? link) => link is null ? Enumerable.Range(0, _links.Length) : [LinkIndex(link)];
}
