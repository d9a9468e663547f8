using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Wire.Proto;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// The witness back-end (ArbiterMode.Witness): the simulated witness process, its crashes and one-way cuts, each node's
// WitnessVoter, and the vote messages between the nodes and the witness.
public sealed partial class Simulation
{
    /// <summary>Witness mode: the simulated witness; otherwise <see langword="null"/>.</summary>
    public SimulatedWitness? Witness => _witness;

    /// <summary>Witness mode: whether the witness is down or cut from some node (either way) right now.</summary>
    public bool WitnessDisturbed => _witness is { } w && (!w.IsUp || _nodes.Any(n => n.StoreCutUntil > Now || n.WitnessRequestsCutUntil > Now || n.WitnessRepliesCutUntil > Now));

    /// <summary>Witness mode: cuts one direction between <paramref name="node"/> and the witness until <paramref name="until"/> (global time).</summary>
    /// <param name="node">The node.</param>
    /// <param name="until">When the cut heals.</param>
    /// <param name="requests">Cut the node's packets to the witness (<see langword="true"/>) or the witness's replies to it (<see langword="false"/>).</param>
    public void CutWitnessOneWay(string node, TimeSpan until, bool requests)
    {
        var n = this[node];
        if (requests)
        {
            n.WitnessRequestsCutUntil = until > n.WitnessRequestsCutUntil ? until : n.WitnessRequestsCutUntil;
        }
        else
        {
            n.WitnessRepliesCutUntil = until > n.WitnessRepliesCutUntil ? until : n.WitnessRepliesCutUntil;
        }

        Record(n.Name, "fault", $"{(requests ? "packets to the witness" : "the witness's replies")} lost until {until.TotalSeconds:0.000}s");
    }

    /// <summary>Witness mode: the witness process crashes now and starts again at <paramref name="until"/> (it keeps its epochs, forgets its leases).</summary>
    private void WitnessOutage(SimulatedWitness w, TimeSpan until)
    {
        if (w.IsUp)
        {
            w.IsUp = false;
            w.Generation++;
            Record("-", "fault", $"witness crashes; starts again at {until.TotalSeconds:0.000}s");
        }

        if (until > _storeDownUntil)
        {
            _storeDownUntil = until;
        }

        ScheduleGlobal(until, () =>
        {
            if (!w.IsUp && Now >= _storeDownUntil)
            {
                BootWitness(w);
            }
        });
    }

    private void BootWitness(SimulatedWitness w)
    {
        w.IsUp = true;
        w.Generation++;
        w.Starts++;
        w.Clock = new SimulatedTimeProvider(() => Now, Now, w.Rate);
        w.Grantor = new LeaseGrantor(w.Name, TimeSpan.Zero, Options.Cluster.Arbiter.LeaseTtl);
        foreach (var (group, epoch) in w.Persisted)
        {
            w.Grantor.Observe(Options.Cluster.ClusterName, group, epoch);
        }

        w.Grantor.EpochRaised += (_, group, epoch) => w.Persisted[group] = Math.Max(epoch, w.Persisted.GetValueOrDefault(group));
        Record("-", "fault", $"witness process starts (start {w.Starts}); persisted epochs {Describe(w.Persisted)}; quiet for {Ms(Options.Cluster.Arbiter.LeaseTtl)}");
    }

    /// <summary>Witness mode: the node's voter asks the peer and the witness; the decision is posted to the node's loop when a majority answered or the round ran out.</summary>
    private void AskVoters(SimulatedNode n, ArbiterRequest request, TaskCompletionSource<ArbiterDecision> answer, WitnessVoter voter)
    {
        Record(n.Name, "cmd", $"ask voters {request.Reason} {request.Group} epoch {request.ProposedEpoch}");
        voter.Ask(n.Clock.LocalNow, request, decision => Post(n, () =>
        {
            Record(n.Name, "arbiter", $"{request.Reason} {request.Group}: {(decision.Granted ? "granted" : decision.Unavailable ? "no majority yet" : "refused")} ({decision.Explanation})");
            answer.TrySetResult(decision);
        }));
    }

    private void ReleaseVotes(SimulatedNode n, string group, WitnessVoter voter)
    {
        Record(n.Name, "cmd", $"release {group}: own vote given back, releases sent to the peer and the witness");
        voter.Release(group);
    }

    /// <summary>Witness mode: a node process's voter side; its messages go to the peer on every link (real envelopes) and to the witness.</summary>
    private WitnessVoter CreateVoter(SimulatedNode n)
    {
        var a = Options.Cluster.Arbiter;
        var peer = _nodeNames.Single(x => x != n.Name);
        WitnessVoter? voter = null;
        voter = new WitnessVoter(
            Options.Cluster.ClusterName,
            n.Name,
            peer,
            a.Witness.Name,
            a.LeaseTtl,
            a.Witness.RequestTimeout,
            TimeSpan.Zero,
            (target, message) =>
            {
                if (target == VoteTarget.Peer)
                {
                    SendVoteToPeer(n, peer, message);
                }
                else
                {
                    SendToWitness(n, message);
                }
            },
            (round, delay) => Later(n, n.Clock.ToGlobalDuration(delay), () => voter!.Expire(n.Clock.LocalNow, round)),
            n.Incarnation,
            (group, delay) => Later(n, n.Clock.ToGlobalDuration(delay), () =>
            {
                Record(n.Name, "arbiter", $"the voters' hold on {group} has run out: ask again now");
                n.Core.OnArbiterFreed(n.Clock.LocalNow, group);
            }));
        foreach (var (group, epoch) in n.Persisted)
        {
            voter.Grantor.Observe(Options.Cluster.ClusterName, group, epoch);
        }

        var state = n.State;
        voter.Grantor.EpochRaised += (_, group, epoch) => state.PersistGranted(group, epoch); // as the runtime does
        return voter;
    }

    private void SendVoteToPeer(SimulatedNode n, string peer, ClusterMessage message)
    {
        if (Options.RecordTrace)
        {
            Record(n.Name, "msg", $"send to {peer}: {message}");
        }

        SendOnLinks(n, message, this[peer]);
    }

    /// <summary>Witness mode: a message from a node to the witness. It arrives after an arbiter delay unless the witness is down or the
    /// path is cut or the packet lost; a request's reply comes back the same way to the same process.</summary>
    private void SendToWitness(SimulatedNode n, ClusterMessage message)
    {
        var w = _witness!;
        var f = _faultsOn ? _faults : null;
        if (n.StoreCutUntil > Now || n.WitnessRequestsCutUntil > Now || (f is not null && Chance(f.Loss)))
        {
            if (Options.RecordTrace)
            {
                Record(n.Name, "drop", $"->witness: {(f is not null ? "cut or lost" : "cut")}: {message}");
            }

            return;
        }

        var copies = f is not null && Chance(f.Duplicate) ? 2 : 1;
        for (var i = 0; i < copies; i++)
        {
            ScheduleGlobal(Now + Draw(Options.ArbiterDuration), () => WitnessReceives(w, n, message));
        }
    }

    private void WitnessReceives(SimulatedWitness w, SimulatedNode from, ClusterMessage message)
    {
        if (!w.IsUp)
        {
            return;
        }

        var cluster = Options.Cluster.ClusterName;
        switch (message.BodyCase)
        {
            case ClusterMessage.BodyOneofCase.VoteRelease:
                var released = w.Grantor.Release(cluster, message.VoteRelease.Group, from.Name, message.VoteRelease.Epoch, message.VoteRelease.RequestId);
                Record("witness", "arbiter", $"release of {message.VoteRelease.Group} epoch {message.VoteRelease.Epoch} by {from.Name}: {(released ? "released" : "nothing to release")}");
                return;
            case ClusterMessage.BodyOneofCase.VoteRequest:
                var q = message.VoteRequest;
                var vote = w.Grantor.Vote(w.Clock.LocalNow, cluster, q.Group, from.Name, q.Epoch, TimeSpan.FromMilliseconds(q.TtlMs), q.Renew, q.RequestId);
                Record("witness", "arbiter", $"{(q.Renew ? "renewal" : "request")} {q.Group} epoch {q.Epoch} from {from.Name}: {vote.Reason}");
                if (from.StoreCutUntil > Now || from.WitnessRepliesCutUntil > Now || (_faultsOn && Chance(_faults.Loss)))
                {
                    return;
                }

                var reply = new ClusterMessage { VoteReply = WitnessVoter.ToReply(q.RequestId, q.Group, from.Name, vote) };
                Later(from, Draw(Options.ArbiterDuration), () => from.Voter?.OnMessage(from.Clock.LocalNow, w.Name, reply));
                return;
        }
    }
}
