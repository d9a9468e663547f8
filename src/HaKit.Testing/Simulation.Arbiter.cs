using HaKit.Ownership;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// The arbiter commands of the core, sent to the back-end of the scenario's arbiter mode: the witness votes (Simulation.Witness.cs),
// the lease store (Simulation.LeaseStore.cs) or, here, the two-node arbiter with its reachability probe (SimulatedProbe).
public sealed partial class Simulation
{
    private void AskArbiter(SimulatedNode n, AskArbiter ask)
    {
        if (n.Voter is { } voter)
        {
            AskVoters(n, ask, voter);
            return;
        }

        if (_leaseStore is not null)
        {
            AskLeaseArbiter(n, ask);
            return;
        }

        AskTwoNodeArbiter(n, ask);
    }

    private void ReleaseArbiter(SimulatedNode n, ReleaseArbiter release)
    {
        if (n.Voter is { } voter)
        {
            ReleaseVotes(n, release, voter);
            return;
        }

        if (_leaseStore is null)
        {
            Record(n.Name, "cmd", $"release arbiter for {release.Group}");
            return;
        }

        ReleaseLeaseArbiter(n, release, _leaseStore);
    }

    /// <summary>Two-node mode: the arbiter (the node's own reachability probes) answers at once; the answer reaches the core after an arbiter delay.</summary>
    private void AskTwoNodeArbiter(SimulatedNode n, AskArbiter ask)
    {
        var pending = n.Arbiter.RequestAsync(ask.Request, CancellationToken.None);
        if (!pending.IsCompleted)
        {
            throw new InvalidOperationException("the simulated two-node arbiter must answer synchronously");
        }

        var decision = pending.Result;
        var delay = Draw(Options.ArbiterDuration);
        Record(n.Name, "cmd", $"ask arbiter {ask.Request.Reason} {ask.Request.Group} epoch {ask.Request.ProposedEpoch}: {(decision.Granted ? "granted" : "denied")} ({decision.Explanation}) after {Ms(delay)}");
        Later(n, delay, () => n.Core.OnArbiterAnswer(n.Clock.LocalNow, ask.RequestId, decision));
    }
}
