namespace HaKit.Ownership;

/// <summary>One probe round of this node's ping targets (ipfail), as the runtime feeds it to <see cref="OwnershipCore.OnReachability"/>.</summary>
/// <param name="Targets">Every target probed, in configuration order (<c>icmp 10.0.0.1</c>).</param>
/// <param name="Reached">Whether each target answered, index for index.</param>
internal sealed record ReachabilityRound(IReadOnlyList<string> Targets, IReadOnlyList<bool> Reached)
{
    /// <summary>How many targets answered.</summary>
    public int Score => Reached.Count(r => r);

    /// <summary>The targets that did not answer.</summary>
    public IEnumerable<string> Lost => Targets.Where((_, i) => !Reached[i]);
}

/// <summary>
/// ipfail's hysteresis: this node's last <see cref="Size"/> probe rounds. <see cref="Sustained"/> (the worst round) is what the
/// node announces, <see cref="Best"/> (the best round) is what it compares as an owner: a group moves only when even the owner's
/// best recent round is below the peer's worst, so one lost (or one lucky) round moves nothing.
/// </summary>
/// <remarks>Invariant: <see cref="Sustained"/> and <see cref="Best"/> are null until <see cref="Size"/> rounds were recorded.</remarks>
internal sealed class ReachabilityWindow(int size)
{
    private readonly Queue<ReachabilityRound> _rounds = new();

    /// <summary>The window size in rounds (0: ipfail off).</summary>
    public int Size { get; } = size;

    /// <summary>The latest round (null: none yet).</summary>
    public ReachabilityRound? Latest { get; private set; }

    /// <summary>Whether the window holds <see cref="Size"/> rounds.</summary>
    public bool Full => Size > 0 && _rounds.Count == Size;

    /// <summary>The fewest targets reached in the window (null until it is full).</summary>
    public int? Sustained => Full ? _rounds.Min(r => r.Score) : null;

    /// <summary>The most targets reached in the window (null until it is full).</summary>
    public int? Best => Full ? _rounds.Max(r => r.Score) : null;

    /// <summary>How many targets are probed.</summary>
    public int Targets => Latest?.Targets.Count ?? 0;

    /// <summary>Targets that answered in no round of the window (the ones this node lost), in configuration order.</summary>
    public IReadOnlyList<string> LostThroughout()
    {
        if (Latest is null)
        {
            return [];
        }

        var lost = new List<string>();
        for (var i = 0; i < Latest.Targets.Count; i++)
        {
            if (_rounds.All(r => i < r.Reached.Count && !r.Reached[i]))
            {
                lost.Add(Latest.Targets[i]);
            }
        }

        return lost;
    }

    /// <summary>Adds a round, dropping the oldest beyond <see cref="Size"/>. Returns whether the announced score changed.</summary>
    /// <param name="round">The round.</param>
    public bool Add(ReachabilityRound round)
    {
        if (Size == 0)
        {
            return false;
        }

        var before = Sustained;
        _rounds.Enqueue(round);
        while (_rounds.Count > Size)
        {
            _rounds.Dequeue();
        }

        Latest = round;
        return before != Sustained;
    }
}
