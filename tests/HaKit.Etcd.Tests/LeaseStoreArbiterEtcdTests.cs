using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Etcd.Tests.Harness;

namespace HaKit.Etcd.Tests;

/// <summary><see cref="LeaseStoreArbiter"/> over a real etcd: two nodes (two stores, two connections) compete for one group.</summary>
[TestFixture]
[NonParallelizable]
public class LeaseStoreArbiterEtcdTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private EtcdProcess _etcd = null!;
    private EtcdLeaseStore _storeA = null!;
    private EtcdLeaseStore _storeB = null!;
    private string _cluster = "";

    [SetUp]
    public async Task SetUp()
    {
        _etcd = await EtcdProcess.StartAsync();
        _storeA = new EtcdLeaseStore([_etcd.ClientUrl], TimeSpan.FromMilliseconds(500));
        _storeB = new EtcdLeaseStore([_etcd.ClientUrl], TimeSpan.FromMilliseconds(500));
        _cluster = "c" + Guid.NewGuid().ToString("N")[..8];
    }

    [TearDown]
    public async Task TearDown()
    {
        _storeA?.Dispose();
        _storeB?.Dispose();
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }
    }

    private static ArbiterRequest Request(string node, AcquireReason reason) => new("web", node, 1, reason, []);

    [Test]
    public async Task One_node_is_granted_with_the_revision_as_epoch_the_other_is_denied_until_the_release()
    {
        var a = new LeaseStoreArbiter(_storeA, _cluster, Ttl);
        var b = new LeaseStoreArbiter(_storeB, _cluster, Ttl);

        var grantA = await a.RequestAsync(Request("a", AcquireReason.Initial), CancellationToken.None);
        var denyB = await b.RequestAsync(Request("b", AcquireReason.PeerDead), CancellationToken.None);

        Assert.That(grantA.Granted, Is.True, grantA.Explanation);
        Assert.That(grantA.LeaseDuration, Is.EqualTo(Ttl));
        var key = await _storeA.GetAsync(a.KeyOf("web"), CancellationToken.None);
        Assert.That(key!.Value, Is.EqualTo("a"));
        Assert.That(grantA.Epoch, Is.EqualTo((ulong)key.CreateRevision), "the epoch is the key's create revision");
        Assert.That(a.KeyOf("web"), Is.EqualTo($"/hakit/{_cluster}/groups/web"));
        Assert.That(denyB.Granted, Is.False);
        Assert.That(denyB.Unavailable, Is.False);
        Assert.That(denyB.Explanation, Does.Contain("held by node a"));

        var renewA = await a.RequestAsync(Request("a", AcquireReason.Renew), CancellationToken.None);
        Assert.That(renewA.Granted, Is.True, renewA.Explanation);
        Assert.That(renewA.Epoch, Is.EqualTo(grantA.Epoch), "a renewal keeps the epoch");

        await a.ReleaseAsync("web", "a", CancellationToken.None);
        var grantB = await b.RequestAsync(Request("b", AcquireReason.Handoff), CancellationToken.None);

        Assert.That(grantB.Granted, Is.True, grantB.Explanation);
        Assert.That(grantB.Epoch, Is.GreaterThan(grantA.Epoch!.Value));
        var renewAfterRelease = await a.RequestAsync(Request("a", AcquireReason.Renew), CancellationToken.None);
        Assert.That(renewAfterRelease.Granted, Is.False, "a released: it holds no lease any more");
    }

    [Test]
    public async Task A_holder_whose_lease_expired_is_refused_its_renewal_and_the_other_node_gets_the_group()
    {
        var a = new LeaseStoreArbiter(_storeA, _cluster, Ttl);
        var b = new LeaseStoreArbiter(_storeB, _cluster, Ttl);
        var grantA = await a.RequestAsync(Request("a", AcquireReason.Initial), CancellationToken.None);
        Assert.That(grantA.Granted, Is.True, grantA.Explanation);

        // a stops renewing (a crash as far as etcd can tell): b is refused until the lease runs out.
        var started = System.Diagnostics.Stopwatch.StartNew();
        ArbiterDecision grantB;
        while (!(grantB = await b.RequestAsync(Request("b", AcquireReason.PeerDead), CancellationToken.None)).Granted)
        {
            Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(6)), grantB.Explanation);
            await Task.Delay(100);
        }

        Assert.That(started.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(1)), "not before a's lease could expire");
        Assert.That(grantB.Epoch, Is.GreaterThan(grantA.Epoch!.Value));
        var renewA = await a.RequestAsync(Request("a", AcquireReason.Renew), CancellationToken.None);
        Assert.That(renewA.Granted, Is.False);
        Assert.That(renewA.Unavailable, Is.False);
    }

    [Test]
    public async Task When_etcd_stops_a_renewal_is_unavailable_not_a_refusal_and_works_again_after_the_restart()
    {
        var a = new LeaseStoreArbiter(_storeA, _cluster, TimeSpan.FromSeconds(5));
        var grantA = await a.RequestAsync(Request("a", AcquireReason.Initial), CancellationToken.None);
        Assert.That(grantA.Granted, Is.True, grantA.Explanation);

        await _etcd.StopAsync();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var renew = await a.RequestAsync(Request("a", AcquireReason.Renew), CancellationToken.None);
        var acquire = await new LeaseStoreArbiter(_storeB, _cluster, Ttl).RequestAsync(Request("b", AcquireReason.PeerDead), CancellationToken.None);

        Assert.That(started.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)), "within the request timeout");
        Assert.That(renew.Granted, Is.False);
        Assert.That(renew.Unavailable, Is.True);
        Assert.That(renew.Explanation, Does.Contain(_etcd.ClientUrl));
        Assert.That(acquire.Unavailable, Is.True);

        // etcd restores leases on restart (with their full ttl): a's key and lease survive a short outage.
        await _etcd.RestartAsync();
        var again = System.Diagnostics.Stopwatch.StartNew();
        ArbiterDecision renewed;
        while (!(renewed = await a.RequestAsync(Request("a", AcquireReason.Renew), CancellationToken.None)).Granted)
        {
            Assert.That(again.Elapsed, Is.LessThan(TimeSpan.FromSeconds(4)), renewed.Explanation);
            await Task.Delay(100);
        }

        Assert.That(renewed.Epoch, Is.EqualTo(grantA.Epoch));
    }
}
