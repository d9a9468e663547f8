using System.Globalization;
using HaKit.Arbitration;
using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// An in-memory <see cref="ILeaseStore"/> with etcd v3's lease and transaction semantics, on any <see cref="TimeProvider"/>
/// (the simulator's virtual clock, or a <c>FakeTimeProvider</c> in unit tests): leases expire <c>ttl</c> after their last
/// keep-alive and take their keys with them; create-if-absent is atomic; every write (put, delete, expiry) raises the
/// store revision by one and a key's create revision is the revision that created it. Like etcd it is durable across
/// <see cref="Restart"/>, which also refreshes every lease to its full time to live (etcd's new leader does the same).
/// While <see cref="Available"/> is false every call throws <see cref="LeaseStoreUnavailableException"/>.
/// <see cref="WatchDeletionsAsync"/> reports every deleted key (released, expired, revoked, or deleted by an operator) to its
/// watchers as the deletion happens; call <see cref="ExpireDue"/> on the store's clock so that expiries happen on time even while
/// no one calls the store (etcd's lessor does this by itself). The operator's hand on the store, as <c>etcdctl</c> gives it:
/// <see cref="DeleteKey"/>, <see cref="RevokeLease"/> and <see cref="PutWithNewLease"/> (another writer, such as a second
/// process configured with the same node name).
/// </summary>
/// <remarks>Not thread-safe: the simulator is single-threaded; lock around it to share it between threads (the watcher list
/// alone is safe to change from any thread, as a watch is cancelled from outside).</remarks>
public sealed class InMemoryLeaseStore : ILeaseStore
{
    private readonly TimeProvider _time;
    private readonly Dictionary<long, Lease> _leases = [];
    private readonly Dictionary<string, Entry> _keys = new(StringComparer.Ordinal);
    private readonly List<Watcher> _watchers = [];
    private long _nextLease = 0x694d0001;

    /// <summary>Creates an empty store at revision 1 (etcd's first revision).</summary>
    /// <param name="time">The store's clock (the grantor's: leases expire by it).</param>
    /// <param name="name">Name for logs. <value>Default <c>in-memory etcd</c>.</value></param>
    /// <param name="minimumTtl">The shortest lease granted (etcd's is about 2 s with default settings). <value>Default: none.</value></param>
    public InMemoryLeaseStore(TimeProvider time, string name = "in-memory etcd", TimeSpan? minimumTtl = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        Name = name;
        MinimumTtl = minimumTtl ?? TimeSpan.Zero;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The shortest lease granted.</summary>
    public TimeSpan MinimumTtl { get; }

    /// <summary>Whether the store answers (false: down or unreachable for everyone).</summary>
    public bool Available { get; set; } = true;

    /// <summary>The current store revision (grows by one with every write).</summary>
    public long Revision { get; private set; } = 1;

    /// <summary>The keys and their holders now (expired leases applied first).</summary>
    public IReadOnlyDictionary<string, LeaseHolder> Keys
    {
        get
        {
            Expire();
            return _keys.ToDictionary(k => k.Key, k => k.Value.Holder, StringComparer.Ordinal);
        }
    }

    /// <summary>How long lease <paramref name="leaseId"/> has left, or <see langword="null"/> when it no longer exists.</summary>
    /// <param name="leaseId">The lease.</param>
    public TimeSpan? TimeToLive(long leaseId)
    {
        Expire();
        return _leases.TryGetValue(leaseId, out var l) ? l.ExpiresAt - Now : null;
    }

    /// <summary>The store restarts (or elects a new leader): its data survives, and every lease is refreshed to its full time to live.</summary>
    public void Restart()
    {
        Expire();
        foreach (var l in _leases.Values)
        {
            l.ExpiresAt = Now + l.Ttl;
        }
    }

    /// <inheritdoc />
    public ValueTask<(long LeaseId, TimeSpan Ttl)> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        Enter(cancellationToken);
        var granted = ttl > MinimumTtl ? ttl : MinimumTtl;
        var id = _nextLease++;
        _leases.Add(id, new Lease(granted) { ExpiresAt = Now + granted });
        return ValueTask.FromResult((id, granted));
    }

    /// <inheritdoc />
    public ValueTask<TimeSpan?> KeepAliveAsync(long leaseId, CancellationToken cancellationToken)
    {
        Enter(cancellationToken);
        if (!_leases.TryGetValue(leaseId, out var l))
        {
            return ValueTask.FromResult<TimeSpan?>(null);
        }

        l.ExpiresAt = Now + l.Ttl;
        return ValueTask.FromResult<TimeSpan?>(l.Ttl);
    }

    /// <inheritdoc />
    public ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken)
    {
        Enter(cancellationToken);
        if (_leases.Remove(leaseId))
        {
            DeleteKeysOf([leaseId]);
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<LeaseClaim> PutIfAbsentAsync(string key, string value, long leaseId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Enter(cancellationToken);
        if (_keys.TryGetValue(key, out var existing))
        {
            return ValueTask.FromResult(new LeaseClaim(false, existing.Holder));
        }

        if (!_leases.ContainsKey(leaseId))
        {
            // etcd fails the whole transaction: "etcdserver: requested lease not found".
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"requested lease not found: {leaseId:x}"));
        }

        Revision++;
        var holder = new LeaseHolder(value, leaseId, Revision);
        _keys.Add(key, new Entry(holder));
        return ValueTask.FromResult(new LeaseClaim(true, holder));
    }

    /// <inheritdoc />
    public ValueTask<LeaseHolder?> GetAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        Enter(cancellationToken);
        return ValueTask.FromResult(_keys.TryGetValue(key, out var e) ? e.Holder : null);
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteIfLeaseAsync(string key, long leaseId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        Enter(cancellationToken);
        if (_keys.TryGetValue(key, out var e) && e.Holder.LeaseId == leaseId)
        {
            _keys.Remove(key);
            Revision++;
            Notify(key);
            return ValueTask.FromResult(true);
        }

        return ValueTask.FromResult(false);
    }

    /// <summary>etcd's guarded transaction: puts <paramref name="key"/> = <paramref name="value"/> without a lease only if
    /// <paramref name="holderKey"/>'s value is <paramref name="holderValue"/> (compare on value; an absent key fails the compare).</summary>
    /// <inheritdoc />
    public ValueTask<bool> PutIfHolderAsync(string holderKey, string holderValue, string key, string value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holderKey);
        ArgumentNullException.ThrowIfNull(holderValue);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Enter(cancellationToken);
        if (!HolderIs(holderKey, holderValue))
        {
            return ValueTask.FromResult(false);
        }

        Revision++;
        var created = _keys.TryGetValue(key, out var old) ? old.Holder.CreateRevision : Revision;
        _keys[key] = new Entry(new LeaseHolder(value, 0, created));
        return ValueTask.FromResult(true);
    }

    /// <summary>etcd's guarded transaction: deletes <paramref name="key"/> only if <paramref name="holderKey"/>'s value is
    /// <paramref name="holderValue"/>; deleting an absent key succeeds (and writes nothing).</summary>
    /// <inheritdoc />
    public ValueTask<bool> DeleteIfHolderAsync(string holderKey, string holderValue, string key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holderKey);
        ArgumentNullException.ThrowIfNull(holderValue);
        ArgumentNullException.ThrowIfNull(key);
        Enter(cancellationToken);
        if (!HolderIs(holderKey, holderValue))
        {
            return ValueTask.FromResult(false);
        }

        if (_keys.Remove(key))
        {
            Revision++;
            Notify(key);
        }

        return ValueTask.FromResult(true);
    }

    private bool HolderIs(string holderKey, string holderValue) =>
        _keys.TryGetValue(holderKey, out var holder) && string.Equals(holder.Holder.Value, holderValue, StringComparison.Ordinal);

    /// <summary>Watches deletions under <paramref name="prefix"/> (etcd <c>Watch</c> with <c>NOPUT</c>): <paramref name="onDeleted"/> is
    /// called, inside the store call that deleted it, with each deleted key until <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <param name="prefix">The key prefix.</param>
    /// <param name="onDeleted">Called with each deleted key; must return quickly and must not call the store.</param>
    /// <param name="cancellationToken">Ends the watch.</param>
    /// <returns>Completes when the watch ends.</returns>
    public Task WatchDeletionsAsync(string prefix, Action<string> onDeleted, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(onDeleted);
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.CompletedTask;
        }

        var watcher = new Watcher(prefix, onDeleted);
        lock (_watchers)
        {
            _watchers.Add(watcher);
        }

        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cancellationToken.Register(() =>
        {
            lock (_watchers)
            {
                _watchers.Remove(watcher);
            }

            ended.TrySetResult();
        });
        return ended.Task;
    }

    /// <summary>Deletes every key whose lease has expired by now and tells the watchers (etcd's lessor revokes expired leases by itself).</summary>
    public void ExpireDue() => Expire();

    /// <summary>An operator deletes a key (<c>etcdctl del</c>); the lease it was bound to lives on.</summary>
    /// <param name="key">The key.</param>
    /// <returns>Whether the key existed.</returns>
    public bool DeleteKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Expire();
        if (!_keys.Remove(key))
        {
            return false;
        }

        Revision++;
        Notify(key);
        return true;
    }

    /// <summary>An operator revokes a lease (<c>etcdctl lease revoke</c>): the keys bound to it are deleted with it.</summary>
    /// <param name="leaseId">The lease.</param>
    /// <returns>Whether the lease existed.</returns>
    public bool RevokeLease(long leaseId)
    {
        Expire();
        if (!_leases.Remove(leaseId))
        {
            return false;
        }

        DeleteKeysOf([leaseId]);
        return true;
    }

    /// <summary>
    /// Another writer grants itself a lease of <paramref name="ttl"/> (never kept alive) and creates <paramref name="key"/> = <paramref name="value"/>
    /// bound to it if the key is absent: a second process configured with a node's name, or an operator's <c>etcdctl put --lease</c>.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value (a node name).</param>
    /// <param name="ttl">The lease's time to live.</param>
    /// <returns>The new holder, or <see langword="null"/> when the key existed (nothing was written, no lease is left behind).</returns>
    public LeaseHolder? PutWithNewLease(string key, string value, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Expire();
        if (_keys.ContainsKey(key))
        {
            return null;
        }

        var id = _nextLease++;
        _leases.Add(id, new Lease(ttl) { ExpiresAt = Now + ttl });
        Revision++;
        var holder = new LeaseHolder(value, id, Revision);
        _keys.Add(key, new Entry(holder));
        return holder;
    }

    private void Notify(string key)
    {
        Watcher[] watchers;
        lock (_watchers)
        {
            if (_watchers.Count == 0)
            {
                return;
            }

            watchers = [.. _watchers];
        }

        foreach (var w in watchers)
        {
            if (key.StartsWith(w.Prefix, StringComparison.Ordinal))
            {
                w.OnDeleted(key);
            }
        }
    }

    private TimeSpan Now => TimeSpan.FromTicks(_time.GetTimestamp() * TimeSpan.TicksPerSecond / _time.TimestampFrequency);

    private void Enter(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!Available)
        {
            throw new LeaseStoreUnavailableException($"{Name} is not available");
        }

        Expire();
    }

    private void Expire()
    {
        var now = Now;
        List<long>? expired = null;
        foreach (var (id, l) in _leases)
        {
            if (l.ExpiresAt <= now)
            {
                (expired ??= []).Add(id);
            }
        }

        if (expired is null)
        {
            return;
        }

        foreach (var id in expired)
        {
            _leases.Remove(id);
        }

        DeleteKeysOf(expired);
    }

    private void DeleteKeysOf(IReadOnlyCollection<long> leases)
    {
        var gone = _keys.Where(k => leases.Contains(k.Value.Holder.LeaseId)).Select(k => k.Key).ToArray();
        if (gone.Length == 0)
        {
            return;
        }

        foreach (var k in gone)
        {
            _keys.Remove(k);
        }

        Revision++; // one transaction deletes them all
        foreach (var k in gone)
        {
            Notify(k);
        }
    }

    private sealed class Lease(TimeSpan ttl)
    {
        public TimeSpan Ttl { get; } = ttl;

        public TimeSpan ExpiresAt { get; set; }
    }

    private sealed record Entry(LeaseHolder Holder);

    private sealed record Watcher(string Prefix, Action<string> OnDeleted);
}
