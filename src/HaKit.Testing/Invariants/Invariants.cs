using System.Globalization;
using HaKit.Arbitration;

namespace HaKit.Testing;

/// <summary>The built-in invariants.</summary>
/// <remarks>
/// Each invariant lives in its own file in this folder, one concept each: ownership (<see cref="SingleActiveOwnerInvariant"/>,
/// <see cref="TwoNodeDualActiveInvariant"/>, <see cref="SplitBrainRuleInvariant"/>, <see cref="ResourcesNeverOverlapInvariant"/>), fencing tokens
/// (<see cref="EpochsUniquePerStartInvariant"/>, <see cref="EpochsGrowInvariant"/>,
/// <see cref="BlockedNeverStartedElsewhereInvariant"/>), liveness (<see cref="ConvergenceInvariant"/>), the operator paths
/// (<see cref="MaintenanceHandsOffInvariant"/>, <see cref="StandbyTakesNothingInvariant"/>, <see cref="SwitchoverCompletesInvariant"/>,
/// <see cref="GracefulShutdownCompletesInvariant"/>); <see cref="SimulationBounds"/> derives the time bounds they use.
/// </remarks>
public static class Invariants
{
    /// <summary>The invariants for the scenario's arbiter mode: in every mode <see cref="EpochsUniquePerStartInvariant"/>,
    /// <see cref="EpochsGrowInvariant"/>, <see cref="ResourcesNeverOverlapInvariant"/>, <see cref="ConvergenceInvariant"/>, <see cref="BlockedNeverStartedElsewhereInvariant"/>,
    /// <see cref="SplitBrainRuleInvariant"/>, and for the operator paths <see cref="MaintenanceHandsOffInvariant"/>,
    /// <see cref="StandbyTakesNothingInvariant"/>, <see cref="SwitchoverCompletesInvariant"/> and <see cref="GracefulShutdownCompletesInvariant"/>;
    /// then <see cref="TwoNodeDualActiveInvariant"/> for TwoNode and <see cref="SingleActiveOwnerInvariant"/> for the lease modes,
    /// and <see cref="RenewalHoldsKeyInvariant"/> in Etcd mode.
    /// The order decides which violation a run reports first when several fire in one step: the most direct statement of a fault first.</summary>
    /// <param name="options">The scenario.</param>
    public static IList<IInvariant> Default(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var list = new List<IInvariant>
        {
            new EpochsUniquePerStartInvariant(),
            new EpochsGrowInvariant(),
            new ResourcesNeverOverlapInvariant(),
            new ConvergenceInvariant(),
            new BlockedNeverStartedElsewhereInvariant(),
            new SplitBrainRuleInvariant(),
            new MaintenanceHandsOffInvariant(),
            new StandbyTakesNothingInvariant(),
            new SwitchoverCompletesInvariant(),
            new GracefulShutdownCompletesInvariant(),
        };
        if (options.Cluster.Arbiter.Mode == ArbiterMode.TwoNode)
        {
            list.Add(new TwoNodeDualActiveInvariant());
        }
        else
        {
            list.Add(new SingleActiveOwnerInvariant());
        }

        if (options.Cluster.Arbiter.Mode == ArbiterMode.Etcd)
        {
            list.Add(new RenewalHoldsKeyInvariant());
        }

        if (options.Replication is not null)
        {
            list.Add(new DurableAckedNeverLostInvariant());
            list.Add(new NoConflictingApplyInvariant());
            // The peer's mark binds in the quorum modes, where the arbiter carries it (docs/testing.md, "Replication").
            list.Add(new OutdatedNeverPromotedInvariant(quorum: OutdatedNeverPromotedInvariant.PeerMarkThroughArbiter && OutdatedNeverPromotedInvariant.IsQuorum(options.Cluster.Arbiter.Mode)));
        }

        return list;
    }

    internal static bool Outranks(Simulation sim, string a, string b)
    {
        int Priority(string n) => sim[n].Options.Nodes.First(x => x.Name == n).Priority;
        var (pa, pb) = (Priority(a), Priority(b));
        return pa != pb ? pa > pb : string.CompareOrdinal(a, b) < 0;
    }

    /// <summary>A heartbeat's announcement of <paramref name="group"/> (null: it has none), without a lambda: a lambda capturing the
    /// group allocates its closure wherever the group's variable is declared, at every call of that method.</summary>
    internal static HaKit.Ownership.GroupAnnouncement? Announcement(HaKit.Ownership.HeartbeatMessage message, string group)
    {
        var groups = message.Groups;
        for (var i = 0; i < groups.Count; i++)
        {
            if (groups[i].Group == group)
            {
                return groups[i];
            }
        }

        return null;
    }

    internal static string S(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + "s";
}
