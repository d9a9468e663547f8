using HaKit.Arbitration;

namespace HaKit.Tests.Arbitration;

[TestFixture]
public class LeaseStoreArbiterTests
{
    /// <summary>A bare lease store: create-if-absent, keys bound to leases, revisions; leases live until revoked (no clock).</summary>
    private sealed class FakeStore : ILeaseStore
    {
        private readonly HashSet<long> _leases = [];
        private long _nextLease = 0x100;

        public Dictionary<string, LeaseHolder> Keys { get; } = new(StringComparer.Ordinal);

        public long Revision { get; private set; } = 1;

        public string Name => "fake store";

        public ValueTask<(long LeaseId, TimeSpan Ttl)> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken)
        {
            var id = _nextLease++;
            _leases.Add(id);
            return ValueTask.FromResult((id, ttl));
        }

        public ValueTask<TimeSpan?> KeepAliveAsync(long leaseId, CancellationToken cancellationToken) =>
            ValueTask.FromResult<TimeSpan?>(_leases.Contains(leaseId) ? TimeSpan.FromSeconds(2) : null);

        public ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken)
        {
            if (_leases.Remove(leaseId))
            {
                foreach (var key in Keys.Where(k => k.Value.LeaseId == leaseId).Select(k => k.Key).ToArray())
                {
                    Keys.Remove(key);
                    Revision++;
                }
            }

            return ValueTask.CompletedTask;
        }

        public ValueTask<LeaseClaim> PutIfAbsentAsync(string key, string value, long leaseId, CancellationToken cancellationToken)
        {
            if (Keys.TryGetValue(key, out var existing))
            {
                return ValueTask.FromResult(new LeaseClaim(false, existing));
            }

            var holder = new LeaseHolder(value, leaseId, ++Revision);
            Keys[key] = holder;
            return ValueTask.FromResult(new LeaseClaim(true, holder));
        }

        public ValueTask<LeaseHolder?> GetAsync(string key, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Keys.TryGetValue(key, out var h) ? h : null);

        public ValueTask<bool> DeleteIfLeaseAsync(string key, long leaseId, CancellationToken cancellationToken)
        {
            if (Keys.TryGetValue(key, out var h) && h.LeaseId == leaseId)
            {
                Keys.Remove(key);
                Revision++;
                return ValueTask.FromResult(true);
            }

            return ValueTask.FromResult(false);
        }

        public bool HasLease(long leaseId) => _leases.Contains(leaseId);
    }

    private static ArbiterRequest Request(AcquireReason reason) => new("web", "a", 1, reason, []);

    /// <summary>
    /// A renewal checks that the key is still bound to this arbiter's lease, not merely that it holds this node's name: a key
    /// re-created under another lease by the same node name (another process of the node, after the key was deleted while our
    /// lease lived) is someone else's ownership with another epoch, and our renewal must be refused.
    /// </summary>
    [Test]
    public async Task A_renewal_is_refused_when_the_key_was_recreated_by_another_lease_with_the_same_holder_name()
    {
        var store = new FakeStore();
        var first = new LeaseStoreArbiter(store, "c1", TimeSpan.FromSeconds(2));
        var key = first.KeyOf("web");

        var acquired = await first.RequestAsync(Request(AcquireReason.Initial), CancellationToken.None);
        Assert.That(acquired.Granted, Is.True, acquired.Explanation);
        var ourLease = store.Keys[key].LeaseId;
        var renewed = await first.RequestAsync(Request(AcquireReason.Renew), CancellationToken.None);
        Assert.That(renewed.Granted, Is.True, "control: an untouched key renews");

        // The key goes while our lease lives; another lease re-creates it with the same holder name.
        await store.DeleteIfLeaseAsync(key, ourLease, CancellationToken.None);
        var second = new LeaseStoreArbiter(store, "c1", TimeSpan.FromSeconds(2));
        var other = await second.RequestAsync(Request(AcquireReason.Initial), CancellationToken.None);
        Assert.That(other.Granted, Is.True, other.Explanation);
        Assert.That(store.Keys[key].Value, Is.EqualTo("a"));
        Assert.That(store.Keys[key].LeaseId, Is.Not.EqualTo(ourLease));
        Assert.That(store.HasLease(ourLease), Is.True, "our lease itself is still alive: only the key check can notice");

        var renewal = await first.RequestAsync(Request(AcquireReason.Renew), CancellationToken.None);

        Assert.That(renewal.Granted, Is.False, "the key is bound to another lease (another owner, another epoch)");
        Assert.That(renewal.Unavailable, Is.False, "a definite refusal, not an unknown answer");
        Assert.That(renewal.Explanation, Does.Contain("is now held by node a"));
        Assert.That(store.HasLease(ourLease), Is.False, "the orphaned lease is revoked");
        Assert.That(store.Keys[key].LeaseId, Is.Not.EqualTo(ourLease), "the other owner's key is left alone");
    }
}
