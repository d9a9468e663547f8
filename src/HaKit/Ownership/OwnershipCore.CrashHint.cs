namespace HaKit.Ownership;

/// <summary>
/// The crash hint: a transport saw a peer's connection end without a goodbye and an immediate reconnect refused (the host is up
/// and nothing listens), which is evidence that the peer's process is gone. What it may do depends on <see cref="CrashHintPolicy"/>
/// and on the group (<see cref="GroupConfig.DiesWithProcess"/>).
/// </summary>
/// <remarks>
/// <para>A hint qualifies only while the peer has been silent on every other link for at least <see cref="HintSilence"/> (one
/// and a half heartbeat intervals), and no heartbeat of the hinted incarnation arrived after it. A live peer sends on every link
/// every interval, so a false hint (say a reset and a refusal injected by a firewall while the peer runs) is contradicted by the
/// next heartbeat before it can count. Exactly one interval would not do: the next heartbeat of a live peer is due after one
/// interval and arrives a little later (timer lateness, about 45 ms at p99 on a busy 2-core machine); the extra half interval
/// is that margin. A new incarnation clears the hint.</para>
/// <para>A qualified hint counts as the peer's death for a group only in TwoNode mode when every resource of the group dies with
/// the process (nothing of the dead owner can still run), or in a lease mode (the acquisition starts at once and the arbiter
/// refuses until the dead owner's lease expired). Otherwise it only corroborates: logged, and the takeover waits for the dead time.</para>
/// </remarks>
internal sealed partial class OwnershipCore
{
    /// <summary>A transport's evidence that <paramref name="peer"/>'s process is gone.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="peer">The peer.</param>
    /// <param name="link">The link that saw the connection end and the reconnect refused.</param>
    /// <param name="evidence">What it saw, for the explanation (for example <c>connection reset on link grpc0, reconnect refused</c>).</param>
    public void PeerProcessGone(TimeSpan now, string peer, string link, string evidence)
    {
        Step(now, () =>
        {
            if (!_peerByName.TryGetValue(peer, out var p) || p.Fenced || !p.Heard || Array.Find(p.Links, l => l.Name == link) is null)
            {
                return;
            }

            p.Hint = new CrashHint(_now, link, evidence);
            EvaluateHint(p);
        });
    }

    /// <summary>
    /// When the peer's hint can qualify at the earliest (its other links silent for <see cref="HintSilence"/>), or <see langword="null"/> when
    /// it has no hint. The runtime wakes the core then, instead of waiting for the next tick.
    /// </summary>
    /// <param name="peer">The peer.</param>
    public TimeSpan? CrashHintDueAt(string peer)
    {
        if (!_peerByName.TryGetValue(peer, out var p) || p.Hint is not { } hint)
        {
            return null;
        }

        var due = hint.At;
        foreach (var l in p.Links)
        {
            if (l.Name != hint.Link && l.Detector.LastHeartbeat is { } last && last + HintSilence > due)
            {
                due = last + HintSilence;
            }
        }

        return due;
    }

    /// <summary>How long the peer must have been silent on every other link for its hint to qualify: 1.5 heartbeat intervals.</summary>
    private TimeSpan HintSilence => _config.Interval + (_config.Interval / 2);

    /// <summary>Whether the peer's hint qualifies now (see the class remarks).</summary>
    private bool HintQualifies(PeerState p)
    {
        if (p.Hint is not { } hint || p.Fenced)
        {
            return false;
        }

        foreach (var l in p.Links)
        {
            if (l.Detector.LastHeartbeat is { } last && (last > hint.At || (l.Name != hint.Link && _now - last < HintSilence)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether a qualified hint counts as the peer's death for <paramref name="g"/>.</summary>
    private bool HintCountsFor(PeerState p, GroupState g) =>
        _config.CrashHint switch
        {
            CrashHintPolicy.Takeover => g.Config.DiesWithProcess,
            CrashHintPolicy.AskArbiter => true,
            _ => false,
        } && HintQualifies(p);

    /// <summary>Whether the peer counts as up for <paramref name="g"/>: <see cref="IsUp(PeerState)"/>, and no crash hint counting for the group.</summary>
    private bool IsUp(PeerState p, GroupState g) => IsUp(p) && !(p.Hint is not null && HintCountsFor(p, g));

    /// <summary>Raises the hint's verdict once it qualifies: per group, whether it shortens the takeover or only corroborates.</summary>
    private void EvaluateHint(PeerState p)
    {
        if (p.Hint is not { } hint || hint.Qualified || !HintQualifies(p) || !IsUp(p))
        {
            return;
        }

        hint.Qualified = true;
        var shortened = new List<string>();
        var corroborated = new List<string>();
        foreach (var g in _groups)
        {
            (HintCountsFor(p, g) ? shortened : corroborated).Add(g.Name);
        }

        var why = _config.CrashHint switch
        {
            CrashHintPolicy.Takeover when corroborated.Count > 0 => $"TwoNode mode; group(s) {string.Join(", ", corroborated)} have resources that may outlive the process (DiesWithProcess is false): they wait for the dead time",
            CrashHintPolicy.Takeover => "TwoNode mode and every resource dies with the process: takeover without waiting for the dead time",
            CrashHintPolicy.AskArbiter => "lease mode: the acquisition starts at once; the arbiter grants it once the peer's lease has expired",
            _ => "the hint only corroborates",
        };
        Emit(new PeerCrashHinted(_now, p.Name, hint.Link, hint.Evidence, shortened, why));
    }

    /// <summary>A heartbeat of the hinted incarnation arrived after the hint (or a new incarnation): the peer lives, the hint is void.</summary>
    private static void ContradictHint(PeerState p, TimeSpan now)
    {
        if (p.Hint is { } hint && now >= hint.At)
        {
            p.Hint = null;
        }
    }

    private string DescribeHint(PeerState p) => $"peer {p.Name}'s process is gone ({p.Hint!.Evidence})";
}
