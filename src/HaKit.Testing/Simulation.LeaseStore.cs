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

    /// <summary>Lease modes: the store's lessor, every 50 ms of global time while the store is up: expired leases take their keys,
    /// and the watchers hear of it then (not at the next call that happens to touch the store).</summary>
    internal void ExpireStoreLeases()
    {
        if (_leaseStore is not { } store)
        {
            return;
        }

        if (store.Available)
        {
            store.ExpireDue();
        }

        ScheduleGlobal(Now + LessorInterval, ExpireStoreLeases);
    }

    private static readonly TimeSpan LessorInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Lease modes: the process's watch of the store (the runtime runs <see cref="IArbiterWatch.WatchAsync"/> for its lifetime and
    /// feeds each freed group to <see cref="OwnershipCore.OnArbiterFreed"/>). Here the real <see cref="LeaseStoreArbiter"/> watch
    /// runs over the simulated store; a deletion reaches the node after an arbiter delay, unless the node is cut from the store or
    /// its watch stream is broken at that instant (lost, as production loses it while the stream is reopened), and a replaying
    /// watch reports it again later.
    /// </summary>
    private void StartWatch(SimulatedNode n)
    {
        if (_leaseStore is null || n.Arbiter is not IArbiterWatch watch)
        {
            return;
        }

        var stop = new CancellationTokenSource();
        n.WatchStop = stop;
        _ = watch.WatchAsync(group => DeliverFreed(n, group), stop.Token);
    }

    private void DeliverFreed(SimulatedNode n, string group)
    {
        if (!n.IsUp || n.StoreCutUntil > Now || n.WatchLostUntil > Now)
        {
            Record(n.Name, "arbiter", $"the deletion of {group}'s key is lost on the way (watch stream down)");
            return;
        }

        var delay = Draw(Options.ArbiterDuration);
        Later(n, delay, () => Freed(n, group));
        if (Chance(_faults.WatchReplay))
        {
            Later(n, delay + Draw(_faults.Jitter), () => Freed(n, group, replayed: true));
        }
    }

    private void Freed(SimulatedNode n, string group, bool replayed = false)
    {
        Record(n.Name, "arbiter", replayed ? $"the watch reports {group}'s key deleted again (replay)" : $"the watch reports {group}'s key deleted: ask again now");
        n.Core.OnArbiterFreed(n.Clock.LocalNow, group);
    }

    /// <summary>Lease modes: an outsider's hand on the store (<see cref="FaultProfile.StoreTamperRate"/>): a random group's key is
    /// deleted, its holder's lease revoked, or the key deleted and re-created under a new lease with the same node name.</summary>
    internal void TamperWithStore()
    {
        if (_leaseStore is not { Available: true } store)
        {
            return;
        }

        // Keys bound to a lease only (replication's outdated marks have none; with replication off there are no others).
        var held = store.Keys.Where(k => k.Value.LeaseId != 0).OrderBy(k => k.Key, StringComparer.Ordinal).ToArray();
        if (held.Length == 0)
        {
            return;
        }

        var (key, holder) = held[Random.Next(held.Length)];
        switch (Random.Next(3))
        {
            case 0:
                Record("-", "fault", $"an operator deletes {key} (held by {holder.Value}, lease {holder.LeaseId:x}; the lease lives on)");
                store.DeleteKey(key);
                break;
            case 1:
                Record("-", "fault", $"an operator revokes lease {holder.LeaseId:x} of {holder.Value} ({key} goes with it)");
                store.RevokeLease(holder.LeaseId);
                break;
            default:
                store.DeleteKey(key);
                var impostor = store.PutWithNewLease(key, holder.Value, Options.Cluster.Arbiter.LeaseTtl);
                Record("-", "fault", $"a second process named {holder.Value} re-creates {key} under its own lease {impostor?.LeaseId:x} (never renewed); {holder.Value}'s lease {holder.LeaseId:x} lives on");
                break;
        }
    }

    /// <summary>Lease modes: a node's watch stream fails (<see cref="FaultProfile.WatchFailureRate"/>) until <paramref name="until"/>.</summary>
    internal void BreakWatch(SimulatedNode n, TimeSpan until)
    {
        if (until > n.WatchLostUntil)
        {
            n.WatchLostUntil = until;
        }

        Record(n.Name, "fault", $"watch stream broken until {n.WatchLostUntil.TotalSeconds:0.000}s (deletions meanwhile are lost)");
    }

    private void StoreBack(InMemoryLeaseStore store)
    {
        store.Available = true;
        store.Restart();
        Record("-", "fault", "lease store back (every lease refreshed)");
    }

    /// <summary>Lease modes: the request reaches the store after one delay (whatever happens to the process meanwhile: etcd acts on
    /// what it received), the store acts at that instant, and the answer comes back after another (dropped if the process died).</summary>
    private void AskLeaseArbiter(SimulatedNode n, ArbiterRequest request, TaskCompletionSource<ArbiterDecision> answer)
    {
        var arbiter = n.Arbiter;
        var arrives = ArbiterArrival(n);
        ScheduleGlobal(arrives, () =>
        {
            var pending = arbiter.RequestAsync(request, CancellationToken.None);
            if (!pending.IsCompleted)
            {
                throw new InvalidOperationException("the simulated lease store must answer synchronously");
            }

            var decision = pending.Result;
            if (request.Reason == AcquireReason.Renew && decision.Granted && arbiter is LeaseStoreArbiter lease && _leaseStore is { } store)
            {
                var key = lease.KeyOf(request.Group);
                var holder = store.Keys.GetValueOrDefault(key);
                var mine = lease.LeaseOf(request.Group);
                Observe(new LeaseRenewalGranted(Now, n.Name, request.Group, key, mine, holder));
            }

            var back = Draw(Options.ArbiterDuration);
            Record(n.Name, "arbiter", $"{request.Reason} {request.Group}: {(decision.Granted ? "granted" : decision.Unavailable ? "unavailable" : "denied")} at the store ({decision.Explanation}); answer in {Ms(back)}");
            Later(n, back, () => answer.TrySetResult(decision));
        });
    }

    /// <summary>Lease modes: the release reaches the store after a network delay, whatever happens to the process meanwhile.</summary>
    private void ReleaseLeaseArbiter(SimulatedNode n, string group, InMemoryLeaseStore store)
    {
        var arbiter = n.Arbiter;
        var name = n.Name;
        var arrives = ArbiterArrival(n);
        Record(name, "cmd", $"release arbiter for {group} (reaches the store at {arrives.TotalSeconds:0.000}s)");
        ScheduleGlobal(arrives, () =>
        {
            var pending = arbiter.ReleaseAsync(group, name, CancellationToken.None);
            if (!pending.IsCompleted)
            {
                throw new InvalidOperationException("the simulated lease store must answer synchronously");
            }

            Record(name, "arbiter", $"release of {group} handled (store revision {store.Revision})");
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
