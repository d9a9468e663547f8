using HaKit.Arbitration;
using HaKit.Replication;
using HaKit.Replication.Arbiter;

namespace HaKit.Testing;

// Replication's outdated marks at the arbiter (SimulationOptions.Replication in Etcd or Witness mode): the calls from a node's
// replica to the simulated etcd or witness, which travel and fail as the node's other arbiter calls do.
public sealed partial class Simulation
{
    /// <summary>
    /// Replication, quorum modes: an outdated-mark write (<paramref name="atArbiter"/>: set or clear at the arbiter, evaluated at the
    /// instant the request arrives there) from <paramref name="n"/>'s process. Etcd: the request takes the node's ordered arbiter
    /// channel, the store acts on arrival (a node cut from it or a store that is down gets <see cref="OutdatedMarkStoreUnavailableException"/>),
    /// and the answer comes back after another delay. Witness: the request and its reply are lost as vote messages are (a cut,
    /// a down witness, a lost packet) and the node then hears nothing until its request timeout. The answer is posted to the
    /// node's loop (dropped when the process died): <see langword="true"/> done, <see langword="false"/> refused (not the holder),
    /// <see langword="null"/> the arbiter could not be reached.
    /// </summary>
    internal void CallMarkArbiter(SimulatedNode n, Func<bool> atArbiter, Action<bool?> answer)
    {
        if (_leaseStore is not null)
        {
            ScheduleGlobal(ArbiterArrival(n), () =>
            {
                bool? result;
                try
                {
                    result = atArbiter();
                }
                catch (OutdatedMarkStoreUnavailableException)
                {
                    result = null;
                }

                Later(n, Draw(Options.ArbiterDuration), () => answer(result));
            });
            return;
        }

        var w = _witness ?? throw new InvalidOperationException("outdated marks at the arbiter need Etcd or Witness mode");
        var timeout = Options.Cluster.Arbiter.Witness.RequestTimeout;
        if (n.StoreCutUntil > Now || n.WitnessRequestsCutUntil > Now || (_faultsOn && Chance(_faults.Loss)))
        {
            Later(n, timeout, () => answer(null));
            return;
        }

        var sent = Now;
        ScheduleGlobal(Now + Draw(Options.ArbiterDuration), () =>
        {
            var remaining = timeout - (Now - sent);
            if (!w.IsUp)
            {
                Later(n, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, () => answer(null));
                return;
            }

            var result = atArbiter();
            if (n.StoreCutUntil > Now || n.WitnessRepliesCutUntil > Now || (_faultsOn && Chance(_faults.Loss)))
            {
                Later(n, remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, () => answer(null));
                return;
            }

            Later(n, Draw(Options.ArbiterDuration), () => answer(result));
        });
    }

    /// <summary>Replication, Witness mode: whether <paramref name="n"/> can reach the witness now (no delay drawn: the promotion's read).</summary>
    internal bool WitnessReachable(SimulatedNode n) =>
        _witness is { IsUp: true } && n.StoreCutUntil <= Now && n.WitnessRequestsCutUntil <= Now && n.WitnessRepliesCutUntil <= Now;

    /// <summary>Replication, Witness mode: who holds <paramref name="group"/>'s unexpired grant at the witness now (its voter's view).</summary>
    internal string? WitnessHolderOf(string group) =>
        _witness is { IsUp: true } w && w.Grantor.HolderOf(w.Clock.LocalNow, Options.Cluster.ClusterName, group) is { } h ? h.Holder : null;

    /// <summary>Replication, Etcd mode: <paramref name="n"/>'s view of the store (its cuts apply), for the production mark store.</summary>
    internal ILeaseStore? LeaseStoreViewOf(SimulatedNode n) => _leaseStore is { } store ? new LeaseStoreView(this, n, store) : null;
}

/// <summary>
/// The outdated marks the simulated witness holds (as <c>WitnessServer</c> does in its marks file, durable across its crashes):
/// set and clear only for the holder of the group's unexpired grant at the witness; read by anyone. Reached through
/// <see cref="Simulation.CallMarkArbiter"/> (writes) or directly (the promotion's read: unavailable while the witness is down or
/// cut from the node).
/// </summary>
internal sealed class SimulatedWitnessMarks(Simulation sim, SimulatedNode self, Dictionary<(string Group, string Node), ArbiterOutdatedMark> marks) : IOutdatedMarkStore
{
    public string Name => "the simulated witness";

    public ValueTask<bool> SetAsync(string group, string node, LogPosition at, CancellationToken cancellationToken)
    {
        if (sim.WitnessHolderOf(group) != self.Name)
        {
            return ValueTask.FromResult(false);
        }

        marks[(group, node)] = new ArbiterOutdatedMark(at, self.Name);
        return ValueTask.FromResult(true);
    }

    public ValueTask<bool> ClearAsync(string group, string node, CancellationToken cancellationToken)
    {
        if (sim.WitnessHolderOf(group) != self.Name)
        {
            return ValueTask.FromResult(false);
        }

        marks.Remove((group, node));
        return ValueTask.FromResult(true);
    }

    public ValueTask<ArbiterOutdatedMark?> GetAsync(string group, string node, CancellationToken cancellationToken)
    {
        if (!sim.WitnessReachable(self))
        {
            throw new OutdatedMarkStoreUnavailableException($"node {self.Name} cannot reach the witness", null);
        }

        return ValueTask.FromResult(marks.GetValueOrDefault((group, node)));
    }
}
