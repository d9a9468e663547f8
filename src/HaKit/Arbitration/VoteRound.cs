using System.Globalization;

namespace HaKit.Arbitration;

/// <summary>
/// One round of Witness-mode voting for a group: the asking node's own vote plus the votes of the other voters (its peer
/// and the witness). A majority of all voters grants the lease; the round ends as soon as a majority has granted, or
/// once a majority can no longer be reached, or when the caller gives up waiting (<see cref="Conclude"/>). Pure: no time,
/// no I/O; the runtime and the simulator deliver the votes.
/// </summary>
internal sealed class VoteRound
{
    private readonly Dictionary<string, LeaseVote?> _votes;
    private readonly string _self;

    /// <summary>Starts a round.</summary>
    /// <param name="group">The group.</param>
    /// <param name="self">The asking node (a voter).</param>
    /// <param name="selfVote">Its own grantor's vote.</param>
    /// <param name="others">The other voters, asked at once.</param>
    /// <param name="epoch">The epoch asked for.</param>
    /// <param name="ttl">The lease asked for.</param>
    /// <param name="renew">Whether this renews a lease the node holds.</param>
    public VoteRound(string group, string self, LeaseVote selfVote, IReadOnlyList<string> others, ulong epoch, TimeSpan ttl, bool renew)
    {
        ArgumentNullException.ThrowIfNull(selfVote);
        ArgumentNullException.ThrowIfNull(others);
        Group = group;
        Epoch = epoch;
        Ttl = ttl;
        Renew = renew;
        _self = self;
        _votes = new Dictionary<string, LeaseVote?>(StringComparer.Ordinal) { [self] = selfVote };
        foreach (var o in others)
        {
            _votes[o] = null;
        }

        Majority = (_votes.Count / 2) + 1;
        Evaluate();
    }

    /// <summary>The group.</summary>
    public string Group { get; }

    /// <summary>The epoch asked for.</summary>
    public ulong Epoch { get; }

    /// <summary>The lease asked for.</summary>
    public TimeSpan Ttl { get; }

    /// <summary>Whether this round renews a held lease.</summary>
    public bool Renew { get; }

    /// <summary>How many voters must grant.</summary>
    public int Majority { get; }

    /// <summary>The outcome, once the round is decided.</summary>
    public ArbiterDecision? Decision { get; private set; }

    /// <summary>The voters that granted (to release them when the round failed).</summary>
    public IEnumerable<string> GrantedBy => _votes.Where(v => v.Value is { Granted: true }).Select(v => v.Key);

    /// <summary>
    /// For a round refused because voters still hold another node's lease: how long until the last of those leases ends at its
    /// voter, as those voters reported it (the earliest a new round could succeed); otherwise <see langword="null"/>.
    /// </summary>
    public TimeSpan? HeldFor
    {
        get
        {
            TimeSpan? longest = null;
            foreach (var v in _votes.Values)
            {
                if (v is { Granted: false, Holder: not null } && v.Remaining > (longest ?? TimeSpan.Zero))
                {
                    longest = v.Remaining;
                }
            }

            return longest;
        }
    }

    /// <summary>The voters that have not answered yet.</summary>
    public IEnumerable<string> Missing => _votes.Where(v => v.Value is null).Select(v => v.Key);

    /// <summary>
    /// When the round failed only because voters know a higher epoch: the epoch to ask with in a new round (the highest
    /// known + 1); otherwise <see langword="null"/>.
    /// </summary>
    public ulong? RetryEpoch { get; private set; }

    /// <summary>Records a voter's answer (duplicates and unknown voters are ignored).</summary>
    /// <param name="voter">The voter.</param>
    /// <param name="vote">Its vote.</param>
    /// <returns>Whether the round is decided.</returns>
    public bool Record(string voter, LeaseVote vote)
    {
        ArgumentNullException.ThrowIfNull(vote);
        if (Decision is null && _votes.TryGetValue(voter, out var earlier) && earlier is null)
        {
            _votes[voter] = vote;
            Evaluate();
        }

        return Decision is not null;
    }

    /// <summary>Ends the round now (the caller stopped waiting): a missing answer is unknown, so without a majority the answer is unavailable unless refusals alone rule a majority out.</summary>
    /// <returns>The decision.</returns>
    public ArbiterDecision Conclude()
    {
        if (Decision is null)
        {
            Decision = ArbiterDecision.Unreachable(Invariant($"no majority for group {Group} (epoch {Epoch}): {Describe()}"));
        }

        return Decision;
    }

    private void Evaluate()
    {
        var granted = _votes.Values.Count(v => v is { Granted: true });
        var refused = _votes.Values.Count(v => v is { Granted: false });
        if (granted >= Majority)
        {
            Decision = new ArbiterDecision(true, Invariant($"lease on group {Group} with epoch {Epoch} for {Ttl.TotalMilliseconds:0} ms granted by {string.Join(" and ", GrantedBy)} ({granted} of {_votes.Count} voters)"), Ttl, Epoch);
            return;
        }

        if (_votes.Count - refused < Majority)
        {
            var stale = _votes.Values.Where(v => v is { Granted: false, StaleEpoch: true }).ToList();
            var onlyStale = stale.Count > 0 && _votes.Values.All(v => v is null || v.Granted || v.StaleEpoch);
            RetryEpoch = onlyStale && !Renew ? _votes.Values.Max(v => v?.HighestEpoch ?? 0) + 1 : null;
            Decision = ArbiterDecision.Deny(Invariant($"no majority for group {Group} (epoch {Epoch}): {Describe()}"));
        }
    }

    private string Describe() => string.Join("; ", _votes.Select(v => v.Value switch
    {
        null => $"{v.Key} did not answer",
        { Granted: true } => $"{v.Key} granted",
        var r => v.Key == _self ? $"{v.Key} (self) refused: {r.Reason}" : $"{v.Key} refused: {r.Reason}",
    }));

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
