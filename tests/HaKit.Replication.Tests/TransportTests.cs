using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HaKit.Replication.Tests;

/// <summary>Two replicas over the real transport on loopback sockets, under each protocol.</summary>
[TestFixture(ReplicationProtocol.Tcp)]
[TestFixture(ReplicationProtocol.Grpc)]
public sealed class TransportTests(ReplicationProtocol protocol) : ReplicaTestBase
{
    protected override string DirectoryPrefix => "hakit-repl-transport-";

    protected override ReplicationProtocol Protocol => protocol;

    private Task<Replica> StartAsync(string node, string peer, int port, int peerPort, ReplicationMode mode) => StartReplicaAsync(
        new ReplicationOptions { Group = "kv", Directory = Path.Combine(Root, node), Mode = mode, SnapshotEveryEntries = 0 }, node, peer, port, peerPort);

    [TestCase(ReplicationMode.Async)]
    [TestCase(ReplicationMode.Received)]
    [TestCase(ReplicationMode.Durable)]
    public async Task Writes_replicate_over_loopback_and_catch_up_after_the_connection_is_killed(ReplicationMode mode)
    {
        int portA = FreePort(), portB = FreePort();
        var a = await StartAsync("a", "b", portA, portB, mode);
        var b = await StartAsync("b", "a", portB, portA, mode);
        await Wait.UntilAsync(() => a.Store.Log.Status.PeerConnected && b.Store.Log.Status.PeerConnected, "the stream to come up");
        await a.Store.Log.BecomeOwnerAsync(1, CancellationToken.None);

        // Pipelined writers.
        var writes = Enumerable.Range(0, 500).Select(i => a.Store.PutAsync($"k{i}", Encoding.UTF8.GetBytes($"v{i}"), CancellationToken.None)).ToArray();
        var positions = await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.That(positions.Select(p => p.Index).Order(), Is.EqualTo(Enumerable.Range(1, 500).Select(i => (long)i)));
        if (mode != ReplicationMode.Async)
        {
            Assert.That(a.Store.Log.Status.PeerReceived, Is.GreaterThanOrEqualTo(500), "acknowledged only once the peer holds them");
        }

        if (mode == ReplicationMode.Durable)
        {
            Assert.That(a.Store.Log.Status.PeerDurable, Is.GreaterThanOrEqualTo(500));
        }

        await Wait.UntilAsync(() => Get(b.Store, "k499") == "v499", "the standby to apply everything");

        // Kill the stream (both ends see it end); writes go on and the standby catches up when the dialer reconnects.
        a.Transport.DropConnections();
        var more = Enumerable.Range(500, 200).Select(i => a.Store.PutAsync($"k{i}", Encoding.UTF8.GetBytes($"v{i}"), CancellationToken.None)).ToArray();
        await Task.WhenAll(more).WaitAsync(TimeSpan.FromSeconds(20));
        await Wait.UntilAsync(() => Get(b.Store, "k699") == "v699", "the standby to catch up after the reconnect");
        Assert.That(b.Store.Count, Is.EqualTo(700));
        await Wait.UntilAsync(() => a.Store.Log.Status.LagEntries == 0, "the owner to see everything durable on the peer (lag 0)");
    }

    [Test]
    public async Task A_standby_that_was_down_catches_up_by_streaming_from_its_position()
    {
        int portA = FreePort(), portB = FreePort();
        var a = await StartAsync("a", "b", portA, portB, ReplicationMode.Async);
        var b = await StartAsync("b", "a", portB, portA, ReplicationMode.Async);
        await a.Store.Log.BecomeOwnerAsync(1, CancellationToken.None);
        await Wait.UntilAsync(() => a.Store.Log.Status.PeerConnected, "the stream to come up");
        for (var i = 0; i < 100; i++)
        {
            await a.Store.PutAsync($"k{i}", Encoding.UTF8.GetBytes("x"), CancellationToken.None);
        }

        await Wait.UntilAsync(() => b.Store.Count == 100, "the first 100");
        await StopAsync(b);
        for (var i = 100; i < 3000; i++)
        {
            _ = a.Store.PutAsync($"k{i}", Encoding.UTF8.GetBytes(new string('y', 100)), CancellationToken.None);
        }

        await Wait.UntilAsync(() => a.Store.Log.Status.Acknowledged >= 3000, "Async writes without the peer");
        Assert.That(a.Store.Log.Status.LagEntries, Is.GreaterThanOrEqualTo(2900));
        var b2 = await StartAsync("b", "a", portB, portA, ReplicationMode.Async);
        Assert.That(b2.Store.Count, Is.EqualTo(100), "it restarts from its own disk");
        await Wait.UntilAsync(() => b2.Store.Count == 3000, "the restarted standby to catch up", seconds: 30);
        await Wait.UntilAsync(() => a.Store.Log.Status.LagEntries == 0, "the lag to reach zero");
    }

    [Test]
    public async Task Mutual_standby_two_groups_replicate_in_opposite_directions_at_once_over_one_transport_per_node()
    {
        int portA = FreePort(), portB = FreePort();
        async Task<ReplicatedKvStore> Open(string group, string node)
        {
            var store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
            {
                Group = group, Directory = Path.Combine(Root, node, group), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0,
            });
            Opened.Add(store);
            return store;
        }

        // Each node owns one group and is the other's standby; each node has one transport (one address) for both.
        var (webA, dbA, webB, dbB) = (await Open("web", "a"), await Open("db", "a"), await Open("web", "b"), await Open("db", "b"));
        await StartTransportAsync([webA, dbA], "a", "b", portA, portB);
        await StartTransportAsync([webB, dbB], "b", "a", portB, portA);
        await Wait.UntilAsync(() => new[] { webA, dbA, webB, dbB }.All(s => s.Log.Status.PeerConnected), "both groups' streams to come up");
        await webA.Log.BecomeOwnerAsync(1, CancellationToken.None);
        await dbB.Log.BecomeOwnerAsync(1, CancellationToken.None);

        // Concurrent Durable writers in both directions: a's on web, b's on db.
        var onA = Enumerable.Range(0, 300).Select(i => webA.PutAsync($"w{i}", Encoding.UTF8.GetBytes($"a{i}"), CancellationToken.None));
        var onB = Enumerable.Range(0, 300).Select(i => dbB.PutAsync($"d{i}", Encoding.UTF8.GetBytes($"b{i}"), CancellationToken.None));
        await Task.WhenAll(onA.Concat(onB)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(webA.Log.Status.PeerDurable, Is.GreaterThanOrEqualTo(300), "web: durable on b before acknowledged");
        Assert.That(dbB.Log.Status.PeerDurable, Is.GreaterThanOrEqualTo(300), "db: durable on a before acknowledged");
        await Wait.UntilAsync(() => Get(webB, "w299") == "a299" && Get(dbA, "d299") == "b299", "each standby to apply the other's writes");
        Assert.That((webB.Count, dbA.Count, webA.Count, dbB.Count), Is.EqualTo((300, 300, 300, 300)));
        Assert.That(webB.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
        Assert.That(dbA.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
    }
}
