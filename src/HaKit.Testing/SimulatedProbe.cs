using HaKit.Arbitration;

namespace HaKit.Testing;

/// <summary>Two-node mode: a node's reachability probe (its ping target), unreachable during the node's ping outage.</summary>
internal sealed class SimulatedProbe(Simulation sim, SimulatedNode node) : IReachabilityProbe
{
    public string Target => "gateway:22";

    public ValueTask<bool> ProbeAsync(CancellationToken cancellationToken) => ValueTask.FromResult(sim.ReachesTargets(node));
}
