using HaKit.Arbitration;
using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>
/// The simulated etcd's watch and the operator's hand on it (<see cref="InMemoryLeaseStore"/>): every way a key disappears is
/// reported to the watchers of its prefix, at the instant it happens, and the operator's writes keep etcd's rules.
/// </summary>
public sealed class InMemoryLeaseStoreTests
{
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private TimeSpan _now;

    [Test]
    public async Task The_watch_reports_every_deletion_under_its_prefix_and_nothing_else()
    {
        var store = Store();
        var deleted = new List<string>();
        using var stop = new CancellationTokenSource();
        var watch = store.WatchDeletionsAsync("/hakit/c/groups/", deleted.Add, stop.Token);

        var (released, _) = await store.GrantLeaseAsync(Ttl, CancellationToken.None);
        await store.PutIfAbsentAsync("/hakit/c/groups/web", "a", released, CancellationToken.None);
        Assert.That(await store.DeleteIfLeaseAsync("/hakit/c/groups/web", released, CancellationToken.None), Is.True);

        var (expiring, _) = await store.GrantLeaseAsync(Ttl, CancellationToken.None);
        await store.PutIfAbsentAsync("/hakit/c/groups/db", "b", expiring, CancellationToken.None);
        _now += Ttl;
        store.ExpireDue();

        var (revoked, _) = await store.GrantLeaseAsync(Ttl, CancellationToken.None);
        await store.PutIfAbsentAsync("/hakit/c/groups/mail", "a", revoked, CancellationToken.None);
        Assert.That(store.RevokeLease(revoked), Is.True);

        var (kept, _) = await store.GrantLeaseAsync(Ttl, CancellationToken.None);
        await store.PutIfAbsentAsync("/hakit/c/groups/web", "b", kept, CancellationToken.None);
        await store.PutIfAbsentAsync("/other/web", "b", kept, CancellationToken.None);
        Assert.That(store.DeleteKey("/other/web"), Is.True);
        Assert.That(store.DeleteKey("/hakit/c/groups/web"), Is.True);
        Assert.That(await store.KeepAliveAsync(kept, CancellationToken.None), Is.EqualTo(Ttl), "an operator's delete leaves the lease alive");

        Assert.That(deleted, Is.EqualTo(new[] { "/hakit/c/groups/web", "/hakit/c/groups/db", "/hakit/c/groups/mail", "/hakit/c/groups/web" }));
        Assert.That(watch.IsCompleted, Is.False);
        await stop.CancelAsync();
        Assert.That(watch.IsCompleted, Is.True, "cancelling ends the watch");
        await store.PutIfAbsentAsync("/hakit/c/groups/late", "b", kept, CancellationToken.None);
        Assert.That(store.DeleteKey("/hakit/c/groups/late"), Is.True);
        Assert.That(deleted, Has.Count.EqualTo(4), "an ended watch hears nothing more");
    }

    [Test]
    public async Task Another_writer_creates_a_key_only_when_it_is_absent_under_its_own_lease_which_expires_unless_renewed()
    {
        var store = Store();
        var (lease, _) = await store.GrantLeaseAsync(Ttl, CancellationToken.None);
        var claim = await store.PutIfAbsentAsync("/k", "a", lease, CancellationToken.None);
        Assert.That(store.PutWithNewLease("/k", "a", Ttl), Is.Null, "an existing key is not overwritten");
        Assert.That(store.Keys["/k"], Is.EqualTo(claim.Holder));

        store.DeleteKey("/k");
        var other = store.PutWithNewLease("/k", "a", Ttl);
        Assert.That(other?.Value, Is.EqualTo("a"), "created under the name it was given");
        Assert.That(other!.LeaseId, Is.Not.EqualTo(lease), "same name, another lease");
        Assert.That(other.CreateRevision, Is.GreaterThan(claim.Holder.CreateRevision));

        _now += Ttl;
        Assert.That(store.Keys.ContainsKey("/k"), Is.False, "its lease is never renewed");
        Assert.That(store.RevokeLease(other.LeaseId), Is.False, "gone with its key");
    }

    /// <summary>etcd's guarded transaction (HaKit.Replication's outdated mark through the arbiter): only the holder of the
    /// group's key writes or deletes the mark, which has no lease and so outlives the holder's.</summary>
    [Test]
    public async Task A_guarded_write_or_delete_happens_only_while_the_holder_key_holds_the_writers_name_and_outlives_its_lease()
    {
        var store = Store();
        var deleted = new List<string>();
        using var stop = new CancellationTokenSource();
        _ = store.WatchDeletionsAsync("/hakit/c/", deleted.Add, stop.Token);
        Assert.That(await store.PutIfHolderAsync("/hakit/c/groups/web", "a", "/hakit/c/outdated/web/b", "7 40 a", CancellationToken.None), Is.False, "no holder key");

        var (lease, _) = await store.GrantLeaseAsync(Ttl, CancellationToken.None);
        await store.PutIfAbsentAsync("/hakit/c/groups/web", "a", lease, CancellationToken.None);
        var before = store.Revision;
        Assert.That(await store.PutIfHolderAsync("/hakit/c/groups/web", "b", "/hakit/c/outdated/web/a", "7 40 b", CancellationToken.None), Is.False, "b does not hold the group");
        Assert.That(store.Revision, Is.EqualTo(before), "a failed compare writes nothing");
        Assert.That(await store.PutIfHolderAsync("/hakit/c/groups/web", "a", "/hakit/c/outdated/web/b", "7 40 a", CancellationToken.None), Is.True);
        Assert.That(store.Revision, Is.EqualTo(before + 1));
        var mark = await store.GetAsync("/hakit/c/outdated/web/b", CancellationToken.None);
        Assert.That((mark?.Value, mark?.LeaseId), Is.EqualTo(("7 40 a", 0L)), "written without a lease");

        _now += Ttl;
        store.ExpireDue();
        Assert.That(store.Keys.ContainsKey("/hakit/c/groups/web"), Is.False, "a's lease expired with its key");
        Assert.That((await store.GetAsync("/hakit/c/outdated/web/b", CancellationToken.None))?.Value, Is.EqualTo("7 40 a"), "the mark outlives it");
        Assert.That(await store.DeleteIfHolderAsync("/hakit/c/groups/web", "a", "/hakit/c/outdated/web/b", CancellationToken.None), Is.False, "a deposed holder cannot clear it");

        var (leaseB, _) = await store.GrantLeaseAsync(Ttl, CancellationToken.None);
        await store.PutIfAbsentAsync("/hakit/c/groups/web", "b", leaseB, CancellationToken.None);
        Assert.That(await store.DeleteIfHolderAsync("/hakit/c/groups/web", "b", "/hakit/c/outdated/web/b", CancellationToken.None), Is.True);
        Assert.That(await store.GetAsync("/hakit/c/outdated/web/b", CancellationToken.None), Is.Null);
        Assert.That(await store.DeleteIfHolderAsync("/hakit/c/groups/web", "b", "/hakit/c/outdated/web/b", CancellationToken.None), Is.True, "deleting an absent key succeeds");
        Assert.That(deleted, Is.EqualTo(new[] { "/hakit/c/groups/web", "/hakit/c/outdated/web/b" }), "the guarded delete is reported once");

        store.Available = false;
        await Assert.ThatAsync(async () => await store.PutIfHolderAsync("/hakit/c/groups/web", "b", "/x", "v", CancellationToken.None), Throws.TypeOf<LeaseStoreUnavailableException>());
        await stop.CancelAsync();
    }

    private InMemoryLeaseStore Store() => new(new SimulatedTimeProvider(() => _now, TimeSpan.Zero, 1), "test etcd");
}
