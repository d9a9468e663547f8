namespace HaKit.Arbitration;

/// <summary>A key's current holder in a lease store.</summary>
/// <param name="Value">The value stored under the key (the holding node's name).</param>
/// <param name="LeaseId">The lease the key is bound to.</param>
/// <param name="CreateRevision">The store revision at which the key was created (etcd's <c>create_revision</c>): the fencing token.</param>
public sealed record LeaseHolder(string Value, long LeaseId, long CreateRevision);

/// <summary>The result of <see cref="ILeaseStore.PutIfAbsentAsync"/>.</summary>
/// <param name="Created">Whether this call created the key.</param>
/// <param name="Holder">The key's holder after the call: the caller when <paramref name="Created"/> is true, otherwise whoever holds it.</param>
public sealed record LeaseClaim(bool Created, LeaseHolder Holder);

/// <summary>Thrown by an <see cref="ILeaseStore"/> when the store cannot be reached or did not answer: the outcome is unknown.</summary>
public sealed class LeaseStoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LeaseStoreUnavailableException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    public LeaseStoreUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    /// <param name="innerException">The transport's exception.</param>
    public LeaseStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The few primitives of a distributed store with leases that group ownership needs, with etcd v3's semantics
/// (the way Patroni and Kubernetes leader election use their store): leases with a time to live kept alive by the holder,
/// a key bound to a lease (deleted by the store when the lease expires), create-if-absent in one transaction, and a
/// revision that grows with every write. <c>HaKit.Etcd</c> implements it over etcd; <c>HaKit.Testing</c> in memory on virtual time.
/// </summary>
/// <remarks>Every member either completes or throws <see cref="LeaseStoreUnavailableException"/> (outcome unknown) or
/// <see cref="OperationCanceledException"/>.</remarks>
public interface ILeaseStore
{
    /// <summary>Where the store is, for logs (<c>etcd http://127.0.0.1:2379</c>).</summary>
    string Name { get; }

    /// <summary>Grants a new lease (etcd <c>LeaseGrant</c>).</summary>
    /// <param name="ttl">The time to live asked for.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The lease id and the time to live the store granted (etcd rounds up to whole seconds and to its minimum).</returns>
    ValueTask<(long LeaseId, TimeSpan Ttl)> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken);

    /// <summary>Refreshes a lease (one etcd <c>LeaseKeepAlive</c> round).</summary>
    /// <param name="leaseId">The lease.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The time to live from now, or <see langword="null"/> when the lease no longer exists (expired or revoked).</returns>
    ValueTask<TimeSpan?> KeepAliveAsync(long leaseId, CancellationToken cancellationToken);

    /// <summary>Revokes a lease; keys bound to it are deleted. Revoking a lease that is gone is not an error.</summary>
    /// <param name="leaseId">The lease.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken);

    /// <summary>In one transaction: if <paramref name="key"/> does not exist, puts <paramref name="value"/> bound to <paramref name="leaseId"/>; otherwise reads it.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value (the node name).</param>
    /// <param name="leaseId">The lease the key is bound to.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    ValueTask<LeaseClaim> PutIfAbsentAsync(string key, string value, long leaseId, CancellationToken cancellationToken);

    /// <summary>Reads a key's holder.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The holder, or <see langword="null"/> when the key does not exist.</returns>
    ValueTask<LeaseHolder?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>In one transaction: deletes <paramref name="key"/> only if it is still bound to <paramref name="leaseId"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="leaseId">The lease the caller holds the key with.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether the key was deleted.</returns>
    ValueTask<bool> DeleteIfLeaseAsync(string key, long leaseId, CancellationToken cancellationToken);

    /// <summary>
    /// Watches the keys under <paramref name="prefix"/> (etcd <c>Watch</c>, deletions only) and calls <paramref name="onDeleted"/>
    /// with each deleted key (released, or gone with its expired lease) until <paramref name="cancellationToken"/> is cancelled,
    /// reconnecting by itself when the store cannot be reached. A store without watches completes at once (the default): nodes
    /// then notice a free key at their next attempt.
    /// </summary>
    /// <param name="prefix">The key prefix.</param>
    /// <param name="onDeleted">Called with each deleted key, on a thread of the store's choosing; must return quickly.</param>
    /// <param name="cancellationToken">Ends the watch.</param>
    /// <returns>Completes when the watch ends.</returns>
    Task WatchDeletionsAsync(string prefix, Action<string> onDeleted, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// In one transaction: puts <paramref name="key"/> = <paramref name="value"/> (no lease: it stays until deleted) only if
    /// <paramref name="holderKey"/> exists with the value <paramref name="holderValue"/>, so that only the current holder of a
    /// group writes (a deposed holder's write fails). Used for records that must outlive a lease, such as HaKit.Replication's
    /// outdated mark. A store without it throws <see cref="NotSupportedException"/> (the default).
    /// </summary>
    /// <param name="holderKey">The key whose holder may write (a group's lease key).</param>
    /// <param name="holderValue">The value it must hold (the writing node's name).</param>
    /// <param name="key">The key written.</param>
    /// <param name="value">The value written.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether the key was written (<see langword="false"/>: <paramref name="holderKey"/> is absent or held by another).</returns>
    ValueTask<bool> PutIfHolderAsync(string holderKey, string holderValue, string key, string value, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"{Name} does not support guarded writes");

    /// <summary>In one transaction: deletes <paramref name="key"/> only if <paramref name="holderKey"/> holds <paramref name="holderValue"/>
    /// (see <see cref="PutIfHolderAsync"/>). Deleting an absent key succeeds. A store without it throws <see cref="NotSupportedException"/>.</summary>
    /// <param name="holderKey">The key whose holder may delete.</param>
    /// <param name="holderValue">The value it must hold.</param>
    /// <param name="key">The key deleted.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Whether the guard held (the key is absent now).</returns>
    ValueTask<bool> DeleteIfHolderAsync(string holderKey, string holderValue, string key, CancellationToken cancellationToken) =>
        throw new NotSupportedException($"{Name} does not support guarded writes");
}
