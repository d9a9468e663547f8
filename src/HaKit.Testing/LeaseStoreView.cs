using HaKit.Arbitration;

namespace HaKit.Testing;

/// <summary>Lease modes: one node's connection to the simulated lease store; every call fails while the node is cut from the store.</summary>
internal sealed class LeaseStoreView(Simulation sim, SimulatedNode node, InMemoryLeaseStore store) : ILeaseStore
{
    public string Name => store.Name;

    public ValueTask<(long LeaseId, TimeSpan Ttl)> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        Check();
        return store.GrantLeaseAsync(ttl, cancellationToken);
    }

    public ValueTask<TimeSpan?> KeepAliveAsync(long leaseId, CancellationToken cancellationToken)
    {
        Check();
        return store.KeepAliveAsync(leaseId, cancellationToken);
    }

    public ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken)
    {
        Check();
        return store.RevokeLeaseAsync(leaseId, cancellationToken);
    }

    public ValueTask<LeaseClaim> PutIfAbsentAsync(string key, string value, long leaseId, CancellationToken cancellationToken)
    {
        Check();
        return store.PutIfAbsentAsync(key, value, leaseId, cancellationToken);
    }

    public ValueTask<LeaseHolder?> GetAsync(string key, CancellationToken cancellationToken)
    {
        Check();
        return store.GetAsync(key, cancellationToken);
    }

    public ValueTask<bool> DeleteIfLeaseAsync(string key, long leaseId, CancellationToken cancellationToken)
    {
        Check();
        return store.DeleteIfLeaseAsync(key, leaseId, cancellationToken);
    }

    public ValueTask<bool> PutIfHolderAsync(string holderKey, string holderValue, string key, string value, CancellationToken cancellationToken)
    {
        Check();
        return store.PutIfHolderAsync(holderKey, holderValue, key, value, cancellationToken);
    }

    public ValueTask<bool> DeleteIfHolderAsync(string holderKey, string holderValue, string key, CancellationToken cancellationToken)
    {
        Check();
        return store.DeleteIfHolderAsync(holderKey, holderValue, key, cancellationToken);
    }

    /// <summary>The node's watch stream: the simulation decides per deletion whether it reaches the node (<see cref="Simulation"/>'s watch delivery).</summary>
    public Task WatchDeletionsAsync(string prefix, Action<string> onDeleted, CancellationToken cancellationToken) =>
        store.WatchDeletionsAsync(prefix, onDeleted, cancellationToken);

    private void Check()
    {
        if (node.StoreCutUntil > sim.Now)
        {
            throw new LeaseStoreUnavailableException($"node {node.Name} cannot reach {store.Name} (connection timed out)");
        }
    }
}
