using System.Text;
using HaKit.Arbitration;
using HaKit.Etcd.Tests.Harness;
using HaKit.Replication;
using HaKit.Replication.Arbiter;
using HaKit.Resources;
using Microsoft.Extensions.DependencyInjection;

namespace HaKit.Etcd.Tests;

/// <summary>HaKit.Replication's outdated mark through a real etcd: the guarded transactions, the owner publishing the mark before it
/// acknowledges alone, a deposed owner unable to mark, an unreachable etcd holding writes back, and a standby refusing promotion.</summary>
[TestFixture]
[NonParallelizable]
public class OutdatedMarkEtcdTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(15);
    private EtcdProcess _etcd = null!;
    private EtcdLeaseStore _store = null!;
    private string _root = "";
    private string _cluster = "";

    [OneTimeSetUp]
    public async Task StartEtcd() => _etcd = await EtcdProcess.StartAsync();

    [OneTimeTearDown]
    public async Task StopEtcd()
    {
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }
    }

    [SetUp]
    public async Task SetUp()
    {
        if (!_etcd.IsRunning)
        {
            await _etcd.RestartAsync();
        }

        _store = new EtcdLeaseStore([_etcd.ClientUrl], TimeSpan.FromSeconds(1));
        _root = Directory.CreateTempSubdirectory("hakit-etcd-marks-").FullName;
        _cluster = "c" + Guid.NewGuid().ToString("N")[..8];
    }

    [TearDown]
    public void TearDown()
    {
        _store.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private string GroupKey => $"/hakit/{_cluster}/groups/g";

    private string MarkKey(string node) => $"/hakit/{_cluster}/outdated/g/{node}";

    private async Task HoldGroupAsync(string node)
    {
        var (lease, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        var claim = await _store.PutIfAbsentAsync(GroupKey, node, lease, CancellationToken.None);
        Assert.That(claim.Created, Is.True);
    }

    private Task<ReplicatedKvStore> OpenAsync(string node, string peer, ReplicationMode mode = ReplicationMode.Durable) =>
        ReplicatedKvStore.OpenAsync(new ReplicationOptions
        {
            Group = "g", Directory = Path.Combine(_root, node), Mode = mode, SnapshotEveryEntries = 0, DegradeAfter = TimeSpan.FromMilliseconds(200),
            ArbiterMarks = new ArbiterMarkBinding(new LeaseStoreOutdatedMarks(_store, "/hakit", _cluster, node), node, peer),
        });

    [Test]
    public async Task The_guarded_put_and_delete_succeed_only_for_the_holder_of_the_group_key()
    {
        Assert.That(await _store.PutIfHolderAsync(GroupKey, "a", MarkKey("b"), "1 1 a", CancellationToken.None), Is.False, "no holder: refused");
        Assert.That(await _store.GetAsync(MarkKey("b"), CancellationToken.None), Is.Null);

        await HoldGroupAsync("a");
        Assert.That(await _store.PutIfHolderAsync(GroupKey, "b", MarkKey("a"), "1 1 b", CancellationToken.None), Is.False, "another holder: refused");
        Assert.That(await _store.PutIfHolderAsync(GroupKey, "a", MarkKey("b"), "1 1 a", CancellationToken.None), Is.True);
        var mark = await _store.GetAsync(MarkKey("b"), CancellationToken.None);
        Assert.That(mark!.Value, Is.EqualTo("1 1 a"));
        Assert.That(mark.LeaseId, Is.Zero, "the mark outlives the owner's lease");

        Assert.That(await _store.DeleteIfHolderAsync(GroupKey, "b", MarkKey("b"), CancellationToken.None), Is.False);
        Assert.That((await _store.GetAsync(MarkKey("b"), CancellationToken.None))?.Value, Is.EqualTo("1 1 a"), "a delete by another holder leaves the mark as it was");
        Assert.That(await _store.DeleteIfHolderAsync(GroupKey, "a", MarkKey("b"), CancellationToken.None), Is.True);
        Assert.That(await _store.GetAsync(MarkKey("b"), CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task A_degraded_owner_writes_the_mark_to_etcd_before_acknowledging_and_the_standby_refuses_promotion_until_forced()
    {
        await HoldGroupAsync("a");
        await using (var a = await OpenAsync("a", "b"))
        {
            await a.Log.BecomeOwnerAsync(1, CancellationToken.None);
            var position = await a.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None).WaitAsync(Bound);
            Assert.That(position, Is.EqualTo(new LogPosition(1, 1)));
            var mark = await _store.GetAsync(MarkKey("b"), CancellationToken.None);
            Assert.That(mark?.Value, Is.EqualTo("1 1 a"), "in etcd before the write was acknowledged");
        }

        // b never heard a (no local mark); a is gone, its lease key too; b is given the group.
        await _store.DeleteIfHolderAsync(GroupKey, "a", GroupKey, CancellationToken.None);
        await HoldGroupAsync("b");
        await using var b = await OpenAsync("b", "a");
        Assert.That(b.Log.Status.Outdated, Is.False);
        var resource = new ReplicationResource(b.Log);
        var context = new ResourceContext("g", "b", 2, CancellationToken.None);
        var refused = await resource.StartAsync(context, CancellationToken.None);
        Assert.That(refused.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(refused.Message, Does.Contain("marked outdated at etcd").And.Contain("epoch 1").And.Contain("index 1"));

        ((IForcibleResource)resource).AllowForcedStart("test operator");
        Assert.That((await resource.StartAsync(context, CancellationToken.None)).Kind, Is.EqualTo(ResourceFailureKind.None));
        Assert.That(await _store.GetAsync(MarkKey("b"), CancellationToken.None), Is.Null, "the forced owner cleared its mark in etcd");
    }

    [Test]
    public async Task A_deposed_owner_cannot_mark_in_etcd_and_acknowledges_nothing_alone()
    {
        await HoldGroupAsync("b");
        await using var a = await OpenAsync("a", "b");
        await a.Log.BecomeOwnerAsync(1, CancellationToken.None);
        var put = a.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.That(a.Log.Status.Degraded, Is.True, "it went on alone after DegradeAfter");
        Assert.That(put.IsCompleted, Is.False, "but the etcd transaction fails (b holds the group): not acknowledged");
        Assert.That(await _store.GetAsync(MarkKey("b"), CancellationToken.None), Is.Null);
        await a.Log.BecomeStandbyAsync(CancellationToken.None);
        await Assert.ThatAsync(async () => await put.WaitAsync(Bound), Throws.InstanceOf<InvalidOperationException>());
    }

    [Test]
    public async Task While_etcd_is_down_the_write_waits_and_it_is_acknowledged_once_etcd_holds_the_mark()
    {
        await HoldGroupAsync("a");
        await using var a = await OpenAsync("a", "b");
        await a.Log.BecomeOwnerAsync(1, CancellationToken.None);
        await _etcd.StopAsync();
        try
        {
            var put = a.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None);
            await Task.Delay(TimeSpan.FromSeconds(2));
            Assert.That(a.Log.Status.Degraded, Is.True);
            Assert.That(put.IsCompleted, Is.False, "etcd cannot be reached: the write waits");

            await _etcd.RestartAsync();
            Assert.That(await put.WaitAsync(Bound), Is.EqualTo(new LogPosition(1, 1)));
            Assert.That((await _store.GetAsync(MarkKey("b"), CancellationToken.None))?.Value, Is.EqualTo("1 1 a"));
        }
        finally
        {
            if (!_etcd.IsRunning)
            {
                await _etcd.RestartAsync();
            }
        }
    }

    [Test]
    public void UseReplication_publishes_marks_through_the_lease_store_in_Etcd_mode_and_nowhere_in_TwoNode_mode()
    {
        var host = new ReplicationHostOptions { Addresses = { ["a"] = "127.0.0.1:7511", ["b"] = "127.0.0.1:7512" } };
        var node = new HaKitOptions { ClusterName = "prod", NodeName = "a" };
        node.Arbiter.Mode = ArbiterMode.Etcd;
        node.Arbiter.Etcd.KeyPrefix = "/ha/";
        using var services = new ServiceCollection().AddSingleton<ILeaseStore>(_store).BuildServiceProvider();

        var binding = ReplicationHostSetup.ArbiterMarks(host, node, services);
        Assert.That(binding?.Store, Is.InstanceOf<LeaseStoreOutdatedMarks>(), "Etcd mode: the marks go through the lease store");
        Assert.That((binding!.Node, binding.Peer), Is.EqualTo(("a", "b")));
        Assert.That(((LeaseStoreOutdatedMarks)binding.Store).KeyOf("kv", "b"), Is.EqualTo("/ha/prod/outdated/kv/b"));

        node.Arbiter.Mode = ArbiterMode.TwoNode;
        Assert.That(ReplicationHostSetup.ArbiterMarks(host, node, services), Is.Null, "TwoNode: the mark stays in the two nodes' directories");
    }
}
