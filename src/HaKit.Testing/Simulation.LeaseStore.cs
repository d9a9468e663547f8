using HaKit.Arbitration;
using HaKit.Ownership;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// The lease store back-end (ArbiterMode.Etcd): the simulated etcd, its outages and cuts, and the arbiter calls that travel to it
// (each node reaches it through its LeaseStoreView).
public sealed partial class Simulation
{
    /// <summary>Lease modes (<see cref="ArbiterMode.Etcd"/>): the simulated etcd every node's <see cref="LeaseStoreArbiter"/> talks to; otherwise <see langword="null"/>.</summary>
    public InMemoryLeaseStore? LeaseStore => _leaseStore;

    /// <summary>Lease modes: takes the lease store down for everyone until <paramref name="until"/> (global time); on its return every lease is refreshed, as etcd does.</summary>
    /// <param name="until">When it comes back.</param>
    /// <exception cref="InvalidOperationException">Not a lease mode.</exception>
    public void StoreOutage(TimeSpan until)
    {
        if (_witness is { } witness)
        {
            WitnessOutage(witness, until);
            return;
        }

        var store = _leaseStore ?? throw new InvalidOperationException("the scenario has no lease store (Arbiter:Mode is not Etcd or Witness)");
        store.Available = false;
        if (until > _storeDownUntil)
        {
            _storeDownUntil = until;
        }

        Record("-", "fault", $"lease store down until {until.TotalSeconds:0.000}s");
        ScheduleGlobal(until, () =>
        {
            if (!store.Available && Now >= _storeDownUntil)
            {
                StoreBack(store);
            }
        });
    }

    /// <summary>Lease modes: cuts <paramref name="node"/> from the lease store until <paramref name="until"/> (global time).</summary>
    /// <param name="node">The node.</param>
    /// <param name="until">When the cut heals.</param>
    public void CutFromStore(string node, TimeSpan until)
    {
        var n = this[node];
        if (until > n.StoreCutUntil)
        {
            n.StoreCutUntil = until;
        }

        Record(n.Name, "fault", $"cut from the lease store until {n.StoreCutUntil.TotalSeconds:0.000}s");
    }

    private void StoreBack(InMemoryLeaseStore store)
    {
        store.Available = true;
        store.Restart();
        Record("-", "fault", "lease store back (every lease refreshed)");
    }

    /// <summary>Lease modes: the request reaches the store after one delay (whatever happens to the process meanwhile: etcd acts on
    /// what it received), the store acts at that instant, and the answer comes back after another (dropped if the process died).</summary>
    private void AskLeaseArbiter(SimulatedNode n, AskArbiter ask)
    {
        var arbiter = n.Arbiter;
        var arrives = ArbiterArrival(n);
        ScheduleGlobal(arrives, () =>
        {
            var pending = arbiter.RequestAsync(ask.Request, CancellationToken.None);
            if (!pending.IsCompleted)
            {
                throw new InvalidOperationException("the simulated lease store must answer synchronously");
            }

            var decision = pending.Result;
            var back = Draw(Options.ArbiterDuration);
            Record(n.Name, "arbiter", $"{ask.Request.Reason} {ask.Request.Group}: {(decision.Granted ? "granted" : decision.Unavailable ? "unavailable" : "denied")} at the store ({decision.Explanation}); answer in {Ms(back)}");
            Later(n, back, () => n.Core.OnArbiterAnswer(n.Clock.LocalNow, ask.RequestId, decision));
        });
    }

    /// <summary>Lease modes: the release reaches the store after a network delay, whatever happens to the process meanwhile.</summary>
    private void ReleaseLeaseArbiter(SimulatedNode n, ReleaseArbiter release, InMemoryLeaseStore store)
    {
        var arbiter = n.Arbiter;
        var name = n.Name;
        var arrives = ArbiterArrival(n);
        Record(name, "cmd", $"release arbiter for {release.Group} (reaches the store at {arrives.TotalSeconds:0.000}s)");
        ScheduleGlobal(arrives, () =>
        {
            var pending = arbiter.ReleaseAsync(release.Group, name, CancellationToken.None);
            if (!pending.IsCompleted)
            {
                throw new InvalidOperationException("the simulated lease store must answer synchronously");
            }

            Record(name, "arbiter", $"release of {release.Group} handled (store revision {store.Revision})");
        });
    }

    /// <summary>When a process's next arbiter call reaches the store: after a network delay, and not before its previous call
    /// (the runtime issues them in command order on one connection, so a release is never overtaken by the claim after it).</summary>
    private TimeSpan ArbiterArrival(SimulatedNode n)
    {
        var arrives = Now + Draw(Options.ArbiterDuration);
        if (n.ArbiterChannel.Generation == n.Generation && n.ArbiterChannel.LastArrival > arrives)
        {
            arrives = n.ArbiterChannel.LastArrival;
        }

        n.ArbiterChannel = (n.Generation, arrives);
        return arrives;
    }
}
