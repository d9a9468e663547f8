using HaKit.Arbitration;
using HaKit.Ownership;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// The arbiter commands of the core, sent to the back-end of the scenario's arbiter mode: the witness votes (Simulation.Witness.cs),
// the lease store (Simulation.LeaseStore.cs) or, here, the two-node arbiter with its reachability probe (SimulatedProbe).
public sealed partial class Simulation
{
    /// <summary>The executor's arbiter request: <paramref name="answer"/> is completed in virtual time, as a step of this process.</summary>
    private void AskArbiter(SimulatedNode n, ArbiterRequest request, TaskCompletionSource<ArbiterDecision> answer)
    {
        if (n.Voter is { } voter)
        {
            AskVoters(n, request, answer, voter);
            return;
        }

        if (_leaseStore is not null)
        {
            AskLeaseArbiter(n, request, answer);
            return;
        }

        AskTwoNodeArbiter(n, request, answer);
    }

    private void ReleaseArbiter(SimulatedNode n, string group)
    {
        if (n.Voter is { } voter)
        {
            ReleaseVotes(n, group, voter);
            return;
        }

        if (_leaseStore is null)
        {
            Record(n.Name, "cmd", $"release arbiter for {group}");
            return;
        }

        ReleaseLeaseArbiter(n, group, _leaseStore);
    }

    /// <summary>Two-node mode: the arbiter (the node's own reachability probes) answers at once; the answer reaches the core after an arbiter delay.</summary>
    private void AskTwoNodeArbiter(SimulatedNode n, ArbiterRequest request, TaskCompletionSource<ArbiterDecision> answer)
    {
        var pending = n.Arbiter.RequestAsync(request, CancellationToken.None);
        if (!pending.IsCompleted)
        {
            throw new InvalidOperationException("the simulated two-node arbiter must answer synchronously");
        }

        var decision = pending.Result;
        var delay = Draw(Options.ArbiterDuration);
        Record(n.Name, "cmd", $"ask arbiter {request.Reason} {request.Group} epoch {request.ProposedEpoch}: {(decision.Granted ? "granted" : "denied")} ({decision.Explanation}) after {Ms(delay)}");
        Later(n, delay, () => answer.TrySetResult(decision));
    }
}
