using HaKit.Arbitration;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>Which arbiter a node uses: the one given in <see cref="ClusterNodeServices.Arbiter"/>, else the one <see cref="ArbiterOptions.Mode"/> names.</summary>
internal static class NodeArbiter
{
    /// <summary>Composes the node's arbiter.</summary>
    /// <param name="options">The node's options.</param>
    /// <param name="services">The node's collaborators.</param>
    /// <param name="witness">In Witness mode (no arbiter given): the witness arbiter, which also votes on the node's links.</param>
    /// <returns>The arbiter.</returns>
    public static IArbiter Create(HaKitOptions options, ClusterNodeServices services, out WitnessArbiter? witness)
    {
        var time = services.TimeProvider;
        witness = null;
        if (services.Arbiter is null && options.Arbiter.Mode == ArbiterMode.Witness)
        {
            witness = new WitnessArbiter(options, time, services.LoggerFactory.CreateLogger<WitnessArbiter>());
        }

        return services.Arbiter ?? (IArbiter?)witness ?? (options.Arbiter.Mode switch
        {
            ArbiterMode.Etcd => new LeaseStoreArbiter(
                services.LeaseStore ?? throw new InvalidOperationException("HaKit:Arbiter:Mode = Etcd needs a lease store: set ClusterNodeServices.LeaseStore (e.g. new EtcdLeaseStore(options.Arbiter.Etcd) from the HaKit.Etcd package), or in a host call .UseEtcd() on AddHaKit()."),
                options.ClusterName,
                options.Arbiter.LeaseTtl,
                options.Arbiter.Etcd.KeyPrefix,
                services.LoggerFactory.CreateLogger<LeaseStoreArbiter>()),
            _ => new TwoNodeArbiter(
                options.Arbiter.PingTargets.Select(t => ReachabilityTarget.Create(t, options.Arbiter.PingTimeout, time)).ToArray(),
                services.LoggerFactory.CreateLogger<TwoNodeArbiter>()),
        });
    }
}
