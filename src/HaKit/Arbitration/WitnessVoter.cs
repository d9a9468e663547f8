using System.Globalization;
using HaKit.Wire.Proto;

namespace HaKit.Arbitration;

/// <summary>Where a Witness-mode message goes.</summary>
internal enum VoteTarget
{
    /// <summary>The peer node, over every heartbeat link.</summary>
    Peer = 0,

    /// <summary>The witness, over its UDP endpoint.</summary>
    Witness = 1,
}

/// <summary>
/// A node's side of Witness mode, without I/O: its own voter (<see cref="LeaseGrantor"/>), the rounds it runs to get a
/// majority (<see cref="VoteRound"/>: itself plus its peer or the witness), and the answers it gives its peer. The runtime
/// (<see cref="ClusterNode"/>) and the simulator drive it: they deliver messages (<see cref="OnMessage"/>), send what
/// it asks to send, and call <see cref="Expire"/> when a round's wait is over. Not thread-safe: callers serialize.
/// </summary>
internal sealed class WitnessVoter
{
    private readonly Action<VoteTarget, ClusterMessage> _send;
    private readonly Action<ulong, TimeSpan> _scheduleTimeout;
    private readonly Action<string, TimeSpan>? _scheduleFreed;
    private readonly Dictionary<ulong, Pending> _rounds = [];
    private readonly Dictionary<string, ulong> _held = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _known = new(StringComparer.Ordinal);
    private readonly string[] _others;
    private readonly Dictionary<ulong, (string Group, ulong Epoch)> _abandoned = [];
    private readonly Queue<ulong> _abandonedOrder = new();
    private ulong _nextId;

    /// <summary>Creates the node's voter side.</summary>
    /// <param name="cluster">The cluster name.</param>
    /// <param name="self">This node.</param>
    /// <param name="peer">The other node.</param>
    /// <param name="witness">The witness's name.</param>
    /// <param name="ttl">The lease asked for (<c>Arbiter:LeaseTtl</c>); also this node's longest grant and its quiet time after start.</param>
    /// <param name="requestTimeout">How long a round waits for answers.</param>
    /// <param name="startedAt">The process start on this node's monotonic clock.</param>
    /// <param name="send">Sends a message to the peer or the witness.</param>
    /// <param name="scheduleTimeout">Asks the driver to call <see cref="Expire"/> for a round after a delay.</param>
    /// <param name="incarnation">This process's incarnation: round ids start from it, so a late reply to an earlier process's request never counts for a new round.</param>
    /// <param name="scheduleFreed">Asks the driver to report a group free (<see cref="Ownership.OwnershipCore.OnArbiterFreed"/>) after a delay: when an
    /// acquisition was refused because voters hold another node's lease, the delay is what they said was left of it. <value>Default: none.</value></param>
    public WitnessVoter(string cluster, string self, string peer, string witness, TimeSpan ttl, TimeSpan requestTimeout, TimeSpan startedAt, Action<VoteTarget, ClusterMessage> send, Action<ulong, TimeSpan> scheduleTimeout, ulong incarnation, Action<string, TimeSpan>? scheduleFreed = null)
    {
        _scheduleFreed = scheduleFreed;
        _nextId = incarnation << 20;
        Cluster = cluster;
        Self = self;
        Peer = peer;
        Witness = witness;
        Ttl = ttl;
        RequestTimeout = requestTimeout;
        _send = send;
        _scheduleTimeout = scheduleTimeout;
        _others = [peer, witness];
        Grantor = new LeaseGrantor(self, startedAt, ttl);
    }

    /// <summary>The cluster.</summary>
    public string Cluster { get; }

    /// <summary>This node.</summary>
    public string Self { get; }

    /// <summary>The peer.</summary>
    public string Peer { get; }

    /// <summary>The witness's name.</summary>
    public string Witness { get; }

    /// <summary>The lease asked for.</summary>
    public TimeSpan Ttl { get; }

    /// <summary>How long a round waits.</summary>
    public TimeSpan RequestTimeout { get; }

    /// <summary>This node's own voter (it votes for itself and for its peer).</summary>
    public LeaseGrantor Grantor { get; }

    /// <summary>Rounds waiting for answers.</summary>
    public int PendingRounds => _rounds.Count;

    /// <summary>Asks the voters for a lease (or its renewal). <paramref name="done"/> is called exactly once, possibly at once.</summary>
    /// <param name="now">This node's monotonic time.</param>
    /// <param name="request">The core's request.</param>
    /// <param name="done">Receives the decision.</param>
    public void Ask(TimeSpan now, ArbiterRequest request, Action<ArbiterDecision> done)
    {
        ArgumentNullException.ThrowIfNull(request);
        var renew = request.Reason == AcquireReason.Renew;
        if (request.Reason == AcquireReason.Handoff)
        {
            // The owner stopped the group and handed it to this node (its authenticated heartbeat said so): its lease here is over,
            // even if its release is still on the way.
            Grantor.Forget(Cluster, request.Group, Peer);
        }

        // An acquisition asks above every epoch this node's voter or any answer has shown (a round that failed still used up its epoch).
        var epoch = renew && _held.TryGetValue(request.Group, out var held)
            ? held
            : Math.Max(request.ProposedEpoch, Math.Max(Grantor.HighestEpoch(Cluster, request.Group), _known.GetValueOrDefault(request.Group)) + 1);
        Begin(now, request.Group, epoch, renew, retried: false, done);
    }

    /// <summary>Gives a held lease back: to this node's own voter at once, and to the peer and the witness by message.</summary>
    /// <param name="group">The group.</param>
    public void Release(string group)
    {
        if (_held.Remove(group, out var epoch))
        {
            Grantor.Release(Cluster, group, Self, epoch);
            var message = new ClusterMessage { VoteRelease = new VoteRelease { Group = group, Epoch = epoch } };
            _send(VoteTarget.Peer, message);
            _send(VoteTarget.Witness, message);
        }
    }

    /// <summary>Handles a Witness-mode message from the peer or the witness (requests and releases only from the peer).</summary>
    /// <param name="now">This node's monotonic time.</param>
    /// <param name="sender">The authenticated sender.</param>
    /// <param name="message">The message.</param>
    /// <returns>Whether the message was a Witness-mode message this node accepts from that sender.</returns>
    public bool OnMessage(TimeSpan now, string sender, ClusterMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        switch (message.BodyCase)
        {
            case ClusterMessage.BodyOneofCase.VoteRequest when sender == Peer:
                var q = message.VoteRequest;
                var vote = Grantor.Vote(now, Cluster, q.Group, sender, q.Epoch, TimeSpan.FromMilliseconds(q.TtlMs), q.Renew, q.RequestId);
                _send(VoteTarget.Peer, new ClusterMessage { VoteReply = ToReply(q.RequestId, q.Group, sender, vote) });
                return true;
            case ClusterMessage.BodyOneofCase.VoteRelease when sender == Peer:
                Grantor.Release(Cluster, message.VoteRelease.Group, sender, message.VoteRelease.Epoch, message.VoteRelease.RequestId);
                return true;
            case ClusterMessage.BodyOneofCase.VoteReply when (sender == Peer || sender == Witness) && message.VoteReply.To == Self:
                var r = message.VoteReply;
                if (r.HighestEpoch > _known.GetValueOrDefault(r.Group) && _rounds.Keys.Concat(_abandoned.Keys).Contains(r.RequestId))
                {
                    _known[r.Group] = r.HighestEpoch;
                }

                if (_rounds.TryGetValue(r.RequestId, out var pending) && pending.Round.Group == r.Group)
                {
                    if (pending.Round.Record(sender, FromReply(r)))
                    {
                        Finish(now, r.RequestId, pending);
                    }
                }
                else if (r.Granted && _abandoned.TryGetValue(r.RequestId, out var lost) && lost.Group == r.Group)
                {
                    // A grant that came after its round failed: give it back at once rather than let it block the group until it expires.
                    _send(sender == Peer ? VoteTarget.Peer : VoteTarget.Witness, new ClusterMessage { VoteRelease = new VoteRelease { Group = lost.Group, Epoch = lost.Epoch, RequestId = r.RequestId } });
                }

                return true;
            default:
                return false;
        }
    }

    /// <summary>A round's wait is over: missing answers count as unknown.</summary>
    /// <param name="now">This node's monotonic time.</param>
    /// <param name="roundId">The round.</param>
    public void Expire(TimeSpan now, ulong roundId)
    {
        if (!_rounds.TryGetValue(roundId, out var pending))
        {
            return;
        }

        if (!pending.Resent)
        {
            // Half the wait is over: ask the voters that have not answered once more (a lost datagram costs half a time-out,
            // not the round). A voter answers a repeated request like the first: it grants the same lease again.
            pending.Resent = true;
            foreach (var voter in pending.Round.Missing)
            {
                _send(voter == Peer ? VoteTarget.Peer : VoteTarget.Witness, pending.Ask);
            }

            _scheduleTimeout(roundId, RequestTimeout - (RequestTimeout / 2));
            return;
        }

        pending.Round.Conclude();
        Finish(now, roundId, pending);
    }

    /// <summary>Drops every waiting round (the process stops); their callers get an unknown answer.</summary>
    public void CancelAll()
    {
        var all = _rounds.Values.ToArray();
        _rounds.Clear();
        foreach (var p in all)
        {
            p.Done(ArbiterDecision.Unreachable("the node is stopping"));
        }
    }

    /// <summary>Encodes a vote as a reply.</summary>
    /// <param name="requestId">The request's id.</param>
    /// <param name="group">The group.</param>
    /// <param name="to">The requester.</param>
    /// <param name="vote">The vote.</param>
    /// <returns>The reply message.</returns>
    public static VoteReply ToReply(ulong requestId, string group, string to, LeaseVote vote) => new()
    {
        RequestId = requestId,
        Group = group,
        Granted = vote.Granted,
        HighestEpoch = vote.HighestEpoch,
        Holder = vote.Granted ? "" : vote.Holder ?? "",
        RemainingMs = vote.Granted ? 0 : (uint)Math.Clamp(Math.Ceiling(vote.Remaining.TotalMilliseconds), 0, uint.MaxValue),
        Reason = vote.Reason,
        To = to,
        StaleEpoch = vote.StaleEpoch,
    };

    private static LeaseVote FromReply(VoteReply r) =>
        new(r.Granted, r.HighestEpoch, r.Holder.Length == 0 ? null : r.Holder, TimeSpan.FromMilliseconds(r.RemainingMs), r.Reason)
        {
            StaleEpoch = !r.Granted && r.StaleEpoch,
        };

    private void Begin(TimeSpan now, string group, ulong epoch, bool renew, bool retried, Action<ArbiterDecision> done)
    {
        var id = ++_nextId;
        var selfVote = Grantor.Vote(now, Cluster, group, Self, epoch, Ttl, renew, id);
        var round = new VoteRound(group, Self, selfVote, _others, epoch, Ttl, renew);
        var ask = new ClusterMessage
        {
            VoteRequest = new VoteRequest { RequestId = id, Group = group, Epoch = epoch, TtlMs = (uint)Math.Ceiling(Ttl.TotalMilliseconds), Renew = renew },
        };
        var pending = new Pending(round, retried, done, ask);
        _rounds[id] = pending;
        _send(VoteTarget.Peer, ask);
        _send(VoteTarget.Witness, ask);
        _scheduleTimeout(id, RequestTimeout / 2);
        if (round.Decision is not null)
        {
            Finish(now, id, pending);
        }
    }

    private void Finish(TimeSpan now, ulong id, Pending pending)
    {
        _rounds.Remove(id);
        var round = pending.Round;
        var decision = round.Decision!;
        if (decision.Granted)
        {
            _held[round.Group] = round.Epoch;
            pending.Done(decision);
            return;
        }

        if (!round.Renew)
        {
            _abandoned[id] = (round.Group, round.Epoch);
            _abandonedOrder.Enqueue(id);
            while (_abandonedOrder.Count > 64)
            {
                _abandoned.Remove(_abandonedOrder.Dequeue());
            }

            // Give back what this round got, so that a vote that failed does not keep the group from anyone until it expires: also to
            // the voters that did not answer (their grant may be on its way back, or its answer lost on a one-way cut). The release
            // names this round's request, so it never ends a later grant.
            foreach (var voter in round.GrantedBy.Concat(round.Missing))
            {
                if (voter == Self)
                {
                    Grantor.Release(Cluster, round.Group, Self, round.Epoch, id);
                }
                else
                {
                    _send(voter == Peer ? VoteTarget.Peer : VoteTarget.Witness, new ClusterMessage { VoteRelease = new VoteRelease { Group = round.Group, Epoch = round.Epoch, RequestId = id } });
                }
            }

            if (round.RetryEpoch is { } higher && !pending.Retried)
            {
                Begin(now, round.Group, higher, renew: false, retried: true, pending.Done);
                return;
            }

            if (round.HeldFor is { } held && _scheduleFreed is { } freed)
            {
                // The dead owner's lease ends at these voters after this long: ask again then rather than a whole retry interval later.
                freed(round.Group, held + TimeSpan.FromMilliseconds(10));
            }
        }

        pending.Done(decision);
    }

    private sealed class Pending(VoteRound round, bool retried, Action<ArbiterDecision> done, ClusterMessage ask)
    {
        public VoteRound Round { get; } = round;

        public bool Retried { get; } = retried;

        public Action<ArbiterDecision> Done { get; } = done;

        /// <summary>The request, to ask again the voters that have not answered halfway through the wait.</summary>
        public ClusterMessage Ask { get; } = ask;

        public bool Resent { get; set; }
    }

    /// <summary>For logs.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"witness voter {Self} (peer {Peer}, witness {Witness}, lease {Ttl.TotalMilliseconds:0} ms)");
}
