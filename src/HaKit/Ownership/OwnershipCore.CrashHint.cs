namespace HaKit.Ownership;

/// <summary>
/// The crash hint: a transport saw a peer's connection end without a goodbye and an immediate reconnect refused (the host is up
/// and nothing listens), which is evidence that the peer's process is gone. What it may do depends on <see cref="CrashHintPolicy"/>
/// and on the group (<see cref="GroupConfig.DiesWithProcess"/>).
/// </summary>
/// <remarks>
/// <para>A hint qualifies only once nothing was heard from the peer on any link since the hint for <see cref="CoreConfig.CrashHintWindow"/>
/// (10 ms with the Lan preset), while a <b>probe</b> asked it for an immediate answer: with the hint, the core sends a heartbeat
/// flagged <see cref="HeartbeatMessage.Probe"/> on every link, and a live receiver answers it at once (<see cref="AnswerProbe"/>).
/// So a false hint (say a reset and a refused reconnect injected by a firewall while the peer runs) is contradicted within a
/// round trip, and a true one counts after the window instead of after the dead time. A peer with no link but the hinted one is
/// not probed: its hint counts at once. A new incarnation clears the hint; a heartbeat of the hinted incarnation that arrives
/// after it voids it.</para>
/// <para>The window is the safety margin: a live peer whose answer takes longer than the window (a host so busy that receiving,
/// deciding and sending a heartbeat takes more than 10 ms) would be taken for dead, as it would after the dead time. Raise
/// <c>Timing:CrashHintWindow</c> on hosts that stall that long; the hint needs a connection that ended without a goodbye AND a
/// reconnect refused by the peer's kernel first, which a live peer's process does not produce by itself.</para>
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
            if (!_peerByName.TryGetValue(peer, out var p) || p.Fenced || !p.Heard || p.Leaving || Array.Find(p.Links, l => l.Name == link) is null)
            {
                // A peer that announced a graceful shutdown hands its groups over and closes its connections on purpose: its
                // connection's end is no crash, even if its goodbye on that link was not read before the end was seen.
                return;
            }

            p.Hint = new CrashHint(_now, link, evidence) { NextProbeAt = _now + ProbeRepeat };
            if (p.Links.Length > 1)
            {
                // Ask the peer on every link for an immediate answer: alive, it contradicts the hint within a round trip.
                _probe = true;
                _announce = true;
            }

            EvaluateHint(p);
        });
    }

    /// <summary>
    /// A datagram link's evidence that nothing listens on <paramref name="peer"/>'s heartbeat port any more: an ICMP port
    /// unreachable answered a datagram sent to it (a live node always has its port bound, and a peer that leaves says goodbye
    /// first). On its own it proves nothing (the peer may be restarting); after a crash hint from another link it answers the
    /// hint's probe on this link at once, so the hint need not wait out its window (<see cref="HintQualifies"/>).
    /// </summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="peer">The peer.</param>
    /// <param name="link">The link whose datagram was refused.</param>
    public void PeerPortClosed(TimeSpan now, string peer, string link)
    {
        Step(now, () =>
        {
            if (!_peerByName.TryGetValue(peer, out var p) || Array.Find(p.Links, l => l.Name == link) is not { } state)
            {
                return;
            }

            state.PortClosedAt = _now;
            EvaluateHint(p);
        });
    }

    /// <summary>
    /// When the peer's hint can qualify at the earliest (the probe window after the hint), or <see langword="null"/> when it has no
    /// hint. The runtime wakes the core then, instead of waiting for the next tick.
    /// </summary>
    /// <param name="peer">The peer.</param>
    public TimeSpan? CrashHintDueAt(string peer) =>
        _peerByName.TryGetValue(peer, out var p) && p.Hint is { } hint ? hint.At + HintWindow(p) : null;

    /// <summary>Lowers <paramref name="deadline"/> to the peer's hint's next probe and the end of its window while it waits for an answer.</summary>
    private void HintDeadline(PeerState p, ref TimeSpan deadline)
    {
        if (p.Hint is { Qualified: false } hint && p.Links.Length > 1)
        {
            var end = hint.At + HintWindow(p);
            if (hint.NextProbeAt < end)
            {
                deadline = Min(deadline, hint.NextProbeAt);
            }

            if (end > _now)
            {
                deadline = Min(deadline, end);
            }
        }
    }

    /// <summary>
    /// How often the probe is repeated within the window while nothing answered it: a quarter of the window (2.5 ms with <c>Lan</c>),
    /// at least 1 ms. A dying process's kernel closes its sockets one after the other: measured on the takeover benchmark, a probe
    /// sent as soon as the peer's stream had ended still found its heartbeat port open in 3 kills of 20 (no refusal, the hint then
    /// waited out the whole window, 13 ms more), while a probe sent a little later is refused by the peer's kernel at once.
    /// </summary>
    private TimeSpan ProbeRepeat => _config.CrashHintWindow / 4 > TimeSpan.FromMilliseconds(1) ? _config.CrashHintWindow / 4 : TimeSpan.FromMilliseconds(1);

    /// <summary>Sends the probe again (at the end of the step) when the hint waits for its answer and its repeat is due.</summary>
    private void ProbeAgain(PeerState p)
    {
        if (p.Hint is { Qualified: false } hint && p.Links.Length > 1 && _now >= hint.NextProbeAt && _now < hint.At + HintWindow(p))
        {
            _probe = true;
            _announce = true;
            hint.NextProbeAt = _now + ProbeRepeat;
        }
    }

    /// <summary>How long the peer's hint waits for a probe answer: <see cref="CoreConfig.CrashHintWindow"/>, or nothing when the hinted link is its only link.</summary>
    private TimeSpan HintWindow(PeerState p) => p.Links.Length > 1 ? _config.CrashHintWindow : TimeSpan.Zero;

    /// <summary>A peer's heartbeat asked for an immediate answer (it checks a crash hint about this node): announce at the end of the step.</summary>
    private void AnswerProbe(HeartbeatMessage message)
    {
        if (message.Probe)
        {
            _announce = true;
        }
    }

    /// <summary>Whether the peer's hint qualifies now (see the class remarks).</summary>
    private bool HintQualifies(PeerState p)
    {
        if (p.Hint is not { } hint || p.Fenced)
        {
            return false;
        }

        if (_now < hint.At + HintWindow(p) && !EveryOtherPortClosed(p, hint))
        {
            return false;
        }

        foreach (var l in p.Links)
        {
            if (l.Detector.LastHeartbeat is { } last && last > hint.At)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether every link but the hinted one reported the peer's port closed since the hint: the probe was answered, by the kernel.</summary>
    private static bool EveryOtherPortClosed(PeerState p, CrashHint hint)
    {
        foreach (var l in p.Links)
        {
            if (l.Name != hint.Link && !(l.PortClosedAt is { } closed && closed >= hint.At))
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
