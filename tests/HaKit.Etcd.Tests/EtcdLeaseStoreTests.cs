using System.Diagnostics;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Etcd.Tests.Harness;

namespace HaKit.Etcd.Tests;

/// <summary><see cref="EtcdLeaseStore"/> against a real etcd process: every primitive, its failures, and lease expiry.</summary>
[TestFixture]
[NonParallelizable]
public class EtcdLeaseStoreTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);
    private EtcdProcess _etcd = null!;
    private EtcdLeaseStore _store = null!;

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
    public void SetUp() => _store = new EtcdLeaseStore([_etcd.ClientUrl], TimeSpan.FromSeconds(2));

    [TearDown]
    public void TearDown() => _store.Dispose();

    private static string Key() => "/hakit-test/" + Guid.NewGuid().ToString("N");

    [Test]
    public async Task The_watch_reports_deletions_under_the_prefix_by_release_and_by_lease_expiry_and_nothing_else()
    {
        var prefix = "/hakit-watch-" + Guid.NewGuid().ToString("N")[..8] + "/";
        var deleted = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var watch = _store.WatchDeletionsAsync(prefix, deleted.Enqueue, stop.Token);
        await Task.Delay(300); // the stream is open

        var (released, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.That((await _store.PutIfAbsentAsync(prefix + "web", "a", released, CancellationToken.None)).Created, Is.True);
        var (expiring, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        Assert.That((await _store.PutIfAbsentAsync(prefix + "db", "b", expiring, CancellationToken.None)).Created, Is.True);
        var (other, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await _store.PutIfAbsentAsync("/elsewhere/" + Guid.NewGuid().ToString("N"), "c", other, CancellationToken.None);
        await _store.RevokeLeaseAsync(other, CancellationToken.None); // a deletion outside the prefix
        Assert.That(await _store.DeleteIfLeaseAsync(prefix + "web", released, CancellationToken.None), Is.True);

        var watchClock = System.Diagnostics.Stopwatch.StartNew();
        while (deleted.Count < 2 && watchClock.Elapsed < TimeSpan.FromSeconds(6)) // the 2 s lease + etcd's expiry scan
        {
            await Task.Delay(20);
        }

        Assert.That(deleted, Is.EqualTo(new[] { prefix + "web", prefix + "db" }), "the released key, then the key of the expired lease; no puts, nothing outside the prefix");
        await stop.CancelAsync();
        Assert.That(await Task.WhenAny(watch, Task.Delay(TimeSpan.FromSeconds(5))), Is.SameAs(watch), "the watch ends when cancelled");
    }

    [Test]
    public async Task The_watch_comes_back_after_etcd_restarts()
    {
        var prefix = "/hakit-watch-" + Guid.NewGuid().ToString("N")[..8] + "/";
        var deleted = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var watch = _store.WatchDeletionsAsync(prefix, deleted.Enqueue, stop.Token);
        await _etcd.StopAsync(); // at once: the stream may still be opening (it must not wait for its first answer forever)
        await Task.Delay(700);
        await _etcd.RestartAsync();

        var (lease, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
        await _store.PutIfAbsentAsync(prefix + "web", "a", lease, CancellationToken.None);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (deleted.IsEmpty && clock.Elapsed < TimeSpan.FromSeconds(12)) // a stream stuck opening is replaced after 2 request time-outs (4 s)
        {
            await _store.DeleteIfLeaseAsync(prefix + "web", lease, CancellationToken.None);
            await Task.Delay(100);
            if (deleted.IsEmpty)
            {
                await _store.PutIfAbsentAsync(prefix + "web", "a", lease, CancellationToken.None); // again, in case the stream was not back yet
                await Task.Delay(200);
            }
        }

        Assert.That(watch.IsFaulted, Is.False, () => watch.Exception!.ToString());
        Assert.That(deleted, Does.Contain(prefix + "web"), "the watch reopened its stream after the restart");
        await stop.CancelAsync();
        await watch.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Test]
    public async Task Grant_rounds_the_ttl_up_to_whole_seconds_and_returns_what_etcd_granted()
    {
        var (lease, ttl) = await _store.GrantLeaseAsync(TimeSpan.FromMilliseconds(2100), CancellationToken.None);

        Assert.That(lease, Is.Not.Zero);
        Assert.That(ttl, Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(await _store.KeepAliveAsync(lease, CancellationToken.None), Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(_store.Name, Is.EqualTo("etcd " + _etcd.ClientUrl));
    }

    [Test]
    public async Task Put_if_absent_creates_once_and_then_reports_the_holder()
    {
        var key = Key();
        var (la, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        var (lb, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(5), CancellationToken.None);

        var first = await _store.PutIfAbsentAsync(key, "a", la, CancellationToken.None);
        var second = await _store.PutIfAbsentAsync(key, "b", lb, CancellationToken.None);

        Assert.That(first.Created, Is.True);
        Assert.That(first.Holder, Is.EqualTo(new LeaseHolder("a", la, first.Holder.CreateRevision)));
        Assert.That(first.Holder.CreateRevision, Is.GreaterThan(0));
        Assert.That(second.Created, Is.False);
        Assert.That(second.Holder, Is.EqualTo(first.Holder), "the second claimant learns who holds the key, with which lease and revision");
        Assert.That(await _store.GetAsync(key, CancellationToken.None), Is.EqualTo(first.Holder), "the txn revision is the key's create revision");
        Assert.That(await _store.GetAsync(Key(), CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task A_repeated_put_with_the_same_lease_and_value_counts_as_created()
    {
        var key = Key();
        var (lease, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        var first = await _store.PutIfAbsentAsync(key, "a", lease, CancellationToken.None);

        var again = await _store.PutIfAbsentAsync(key, "a", lease, CancellationToken.None);

        Assert.That(again, Is.EqualTo(first), "a retried request whose first attempt was applied");
    }

    [Test]
    public async Task An_expired_lease_deletes_the_key_and_keep_alive_reports_it_gone()
    {
        var key = Key();
        var (lease, ttl) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        Assert.That(ttl, Is.EqualTo(TimeSpan.FromSeconds(2)));
        await _store.PutIfAbsentAsync(key, "a", lease, CancellationToken.None);

        var watch = Stopwatch.StartNew();
        while (await _store.GetAsync(key, CancellationToken.None) is not null)
        {
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "etcd deletes the key when its 2 s lease expires");
            await Task.Delay(100);
        }

        Assert.That(watch.Elapsed, Is.GreaterThan(TimeSpan.FromSeconds(1)), "not before the lease could expire");
        Assert.That(await _store.KeepAliveAsync(lease, CancellationToken.None), Is.Null);
        var (other, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        Assert.That((await _store.PutIfAbsentAsync(key, "b", other, CancellationToken.None)).Created, Is.True, "the key is free again");
    }

    [Test]
    public async Task Keep_alive_keeps_the_key_past_its_ttl()
    {
        var key = Key();
        var (lease, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        await _store.PutIfAbsentAsync(key, "a", lease, CancellationToken.None);

        for (var i = 0; i < 8; i++)
        {
            await Task.Delay(500);
            Assert.That(await _store.KeepAliveAsync(lease, CancellationToken.None), Is.EqualTo(TimeSpan.FromSeconds(2)));
        }

        Assert.That((await _store.GetAsync(key, CancellationToken.None))?.LeaseId, Is.EqualTo(lease), "4 s later, twice the ttl, the key is still there");
    }

    [Test]
    public async Task Delete_if_lease_deletes_only_with_the_holding_lease()
    {
        var key = Key();
        var (la, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        var (lb, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        await _store.PutIfAbsentAsync(key, "a", la, CancellationToken.None);

        Assert.That(await _store.DeleteIfLeaseAsync(key, lb, CancellationToken.None), Is.False);
        var kept = await _store.GetAsync(key, CancellationToken.None);
        Assert.That((kept?.Value, kept?.LeaseId), Is.EqualTo(("a", la)), "the wrong lease deleted nothing: a still holds the key with its lease");
        Assert.That(await _store.DeleteIfLeaseAsync(key, la, CancellationToken.None), Is.True);
        Assert.That(await _store.GetAsync(key, CancellationToken.None), Is.Null);
        Assert.That(await _store.DeleteIfLeaseAsync(key, la, CancellationToken.None), Is.False, "nothing left to delete");
    }

    [Test]
    public async Task Revoke_deletes_the_key_and_revoking_again_is_not_an_error()
    {
        var key = Key();
        var (lease, _) = await _store.GrantLeaseAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        await _store.PutIfAbsentAsync(key, "a", lease, CancellationToken.None);

        await _store.RevokeLeaseAsync(lease, CancellationToken.None);

        Assert.That(await _store.GetAsync(key, CancellationToken.None), Is.Null);
        Assert.That(await _store.KeepAliveAsync(lease, CancellationToken.None), Is.Null);
        await Assert.DoesNotThrowAsync(async () => await _store.RevokeLeaseAsync(lease, CancellationToken.None), "requested lease not found is not an error");
    }

    [Test]
    public async Task An_unreachable_endpoint_fails_within_the_request_timeout_naming_it()
    {
        var url = $"http://127.0.0.1:{EtcdProcess.FreeTcpPort()}";
        using var store = new EtcdLeaseStore([url], Timeout);

        var watch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<LeaseStoreUnavailableException>(async () => await store.GrantLeaseAsync(TimeSpan.FromSeconds(2), CancellationToken.None));
        Assert.That(watch.Elapsed, Is.LessThan(Timeout + TimeSpan.FromSeconds(1)));
        Assert.That(ex!.Message, Does.Contain(url).And.Contain("LeaseGrant"));

        await Assert.ThrowsAsync<LeaseStoreUnavailableException>(async () => await store.KeepAliveAsync(1, CancellationToken.None));
        await Assert.ThrowsAsync<LeaseStoreUnavailableException>(async () => await store.GetAsync("/k", CancellationToken.None));
        await Assert.ThrowsAsync<LeaseStoreUnavailableException>(async () => await store.PutIfAbsentAsync("/k", "a", 1, CancellationToken.None));
        await Assert.ThrowsAsync<LeaseStoreUnavailableException>(async () => await store.DeleteIfLeaseAsync("/k", 1, CancellationToken.None));
        await Assert.ThrowsAsync<LeaseStoreUnavailableException>(async () => await store.RevokeLeaseAsync(1, CancellationToken.None));
        Assert.That(watch.Elapsed, Is.LessThan(6 * (Timeout + TimeSpan.FromSeconds(1))));
    }

    [Test]
    public async Task A_server_that_never_answers_fails_within_the_request_timeout()
    {
        using var silent = new SilentServer();
        using var store = new EtcdLeaseStore([silent.Url], Timeout);

        var watch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<LeaseStoreUnavailableException>(async () => await store.KeepAliveAsync(1, CancellationToken.None));

        Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(Timeout - TimeSpan.FromMilliseconds(50)).And.LessThan(Timeout + TimeSpan.FromSeconds(1)));
        Assert.That(ex!.Message, Does.Contain(silent.Url).And.Contain("no answer within the request timeout"));
    }

    [Test]
    public async Task The_callers_cancellation_stays_a_cancellation()
    {
        using var silent = new SilentServer();
        using var store = new EtcdLeaseStore([silent.Url], TimeSpan.FromSeconds(5));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        var watch = Stopwatch.StartNew();
        await Assert.CatchAsync<OperationCanceledException>(async () => await store.GetAsync("/k", cts.Token));
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)));
        await Assert.CatchAsync<OperationCanceledException>(async () => await store.GrantLeaseAsync(TimeSpan.FromSeconds(2), cts.Token));
    }

    /// <summary>Accepts TCP connections on loopback and never answers (a hung etcd).</summary>
    private sealed class SilentServer : IDisposable
    {
        private readonly System.Net.Sockets.TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
        private readonly List<System.Net.Sockets.Socket> _accepted = [];
        private readonly CancellationTokenSource _stop = new();

        public SilentServer()
        {
            _listener.Start();
            _ = AcceptAsync();
        }

        public string Url => $"http://127.0.0.1:{((System.Net.IPEndPoint)_listener.LocalEndpoint).Port}";

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_accepted)
            {
                _accepted.ForEach(s => s.Dispose());
            }

            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    lock (_accepted)
                    {
                        _accepted.Add(socket);
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                // stopped
            }
        }
    }

    [Test]
    public async Task A_dead_endpoint_in_the_list_is_passed_over()
    {
        var dead = $"http://127.0.0.1:{EtcdProcess.FreeTcpPort()}";
        using var store = new EtcdLeaseStore([dead, _etcd.ClientUrl], TimeSpan.FromSeconds(2));

        for (var i = 0; i < 4; i++)
        {
            var (lease, _) = await store.GrantLeaseAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
            Assert.That(lease, Is.Not.Zero);
        }

        Assert.That(store.Name, Is.EqualTo($"etcd {dead},{_etcd.ClientUrl}"));
    }

    [Test]
    public void Bad_endpoints_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new EtcdLeaseStore([], Timeout));
        Assert.Throws<ArgumentException>(() => new EtcdLeaseStore(["127.0.0.1:2379"], Timeout));
        Assert.Throws<ArgumentException>(() => new EtcdLeaseStore(["http://a:2379", "https://b:2379"], Timeout));
    }
}
