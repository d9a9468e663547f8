using HaKit.Wire;
using HaKit.Wire.Proto;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;

namespace HaKit.Witness.Tests;

/// <summary>The witness over real UDP on loopback, with lease time on a fake clock.</summary>
[TestFixture]
[CancelAfter(60_000)]
public class WitnessServerTests
{
    private WitnessFixture _f = null!;

    [SetUp]
    public void SetUp() => _f = new WitnessFixture();

    [TearDown]
    public async Task TearDown() => await _f.DisposeAsync();

    [Test]
    public async Task Grants_a_lease_and_refuses_another_node_naming_the_holder_while_it_runs()
    {
        using var votes = new MetricCollector<long>(null, "HaKit", "hakit.witness.votes");
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        var b = _f.Node("b");

        var granted = await a.AskAsync(server.LocalEndpoint!, "web", epoch: 1, ttlMs: 3000);
        _f.Time.Advance(TimeSpan.FromSeconds(1));
        var refused = await b.AskAsync(server.LocalEndpoint!, "web", epoch: 2, ttlMs: 3000);

        Assert.That(granted.Granted, Is.True, granted.Reason);
        Assert.That(granted.HighestEpoch, Is.EqualTo(1));
        Assert.That(refused.Granted, Is.False);
        Assert.That(refused.Holder, Is.EqualTo("a"));
        Assert.That(refused.RemainingMs, Is.EqualTo(2000));
        Assert.That(refused.HighestEpoch, Is.EqualTo(1));
        Assert.That(refused.Reason, Does.Contain("granted group web to a"));
        var outcomes = votes.GetMeasurementSnapshot().Select(m => (string)m.Tags["outcome"]!).ToList();
        Assert.That(outcomes, Is.EqualTo(new[] { "granted", "refused" }));
        Assert.That(votes.GetMeasurementSnapshot().All(m => (string)m.Tags["cluster"]! == "demo"));
    }

    [Test]
    public async Task After_the_lease_expired_another_node_is_granted_only_with_a_higher_epoch()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        var b = _f.Node("b");
        Assert.That((await a.AskAsync(server.LocalEndpoint!, "web", 4, 3000)).Granted, Is.True);

        _f.Time.Advance(TimeSpan.FromMilliseconds(2999));
        Assert.That((await b.AskAsync(server.LocalEndpoint!, "web", 5, 3000)).Granted, Is.False, "1 ms of a's lease is left");

        _f.Time.Advance(TimeSpan.FromMilliseconds(1));
        var stale = await b.AskAsync(server.LocalEndpoint!, "web", 4, 3000);
        var fresh = await b.AskAsync(server.LocalEndpoint!, "web", 5, 3000);

        Assert.That(stale.Granted, Is.False);
        Assert.That(stale.Holder, Is.Empty);
        Assert.That(stale.HighestEpoch, Is.EqualTo(4));
        Assert.That(stale.Reason, Does.Contain("stale"));
        Assert.That(fresh.Granted, Is.True, fresh.Reason);
        Assert.That(fresh.HighestEpoch, Is.EqualTo(5));
    }

    [Test]
    public async Task A_renewal_extends_the_lease_from_when_it_arrives()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        var b = _f.Node("b");
        Assert.That((await a.AskAsync(server.LocalEndpoint!, "web", 1, 3000)).Granted, Is.True);

        _f.Time.Advance(TimeSpan.FromSeconds(2));
        var renewed = await a.AskAsync(server.LocalEndpoint!, "web", 1, 3000, renew: true);
        _f.Time.Advance(TimeSpan.FromSeconds(2)); // 4 s after the grant: only the renewal still holds
        var refused = await b.AskAsync(server.LocalEndpoint!, "web", 2, 3000);

        Assert.That(renewed.Granted, Is.True, renewed.Reason);
        Assert.That(refused.Granted, Is.False);
        Assert.That(refused.Holder, Is.EqualTo("a"));
        Assert.That(refused.RemainingMs, Is.EqualTo(1000));
    }

    [Test]
    public async Task A_release_frees_the_lease_at_once()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        var b = _f.Node("b");
        Assert.That((await a.AskAsync(server.LocalEndpoint!, "web", 1, 3000)).Granted, Is.True);

        b.Release(server.LocalEndpoint!, "web", 1); // not b's lease: ignored
        Assert.That((await b.AskAsync(server.LocalEndpoint!, "web", 2, 3000)).Granted, Is.False);
        a.Release(server.LocalEndpoint!, "web", 1);
        var granted = await b.AskAsync(server.LocalEndpoint!, "web", 2, 3000);

        Assert.That(granted.Granted, Is.True, granted.Reason);
    }

    [Test]
    public async Task A_fresh_witness_grants_nothing_for_one_maximum_lease_time()
    {
        var server = await _f.StartAsync(skipQuiet: false);
        var a = _f.Node("a");

        var first = await a.AskAsync(server.LocalEndpoint!, "web", 1, 1000);
        _f.Time.Advance(WitnessFixture.MaxTtl - TimeSpan.FromMilliseconds(1));
        var last = await a.AskAsync(server.LocalEndpoint!, "web", 1, 1000);
        _f.Time.Advance(TimeSpan.FromMilliseconds(1));
        var granted = await a.AskAsync(server.LocalEndpoint!, "web", 1, 1000);

        Assert.That(first.Granted, Is.False);
        Assert.That(first.Reason, Does.Contain("grants nothing"));
        Assert.That(last.Granted, Is.False);
        Assert.That(granted.Granted, Is.True, granted.Reason);
    }

    [Test]
    public async Task Refuses_a_lease_longer_than_MaxLeaseTtl()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");

        var reply = await a.AskAsync(server.LocalEndpoint!, "web", 1, (uint)WitnessFixture.MaxTtl.TotalMilliseconds + 1);

        Assert.That(reply.Granted, Is.False);
        Assert.That(reply.Reason, Does.Contain("grants leases of up to"));
    }

    [Test]
    public async Task A_new_group_beyond_MaxGroupsPerCluster_is_refused_with_the_reason_and_known_groups_go_on()
    {
        var options = _f.Options();
        options.MaxGroupsPerCluster = 2;
        var first = await _f.StartAsync(options);
        var a = _f.Node("a");
        Assert.That((await a.AskAsync(first.LocalEndpoint!, "web", 1, 3000)).Granted, Is.True);
        Assert.That((await a.AskAsync(first.LocalEndpoint!, "db", 1, 3000)).Granted, Is.True);

        var third = await a.AskAsync(first.LocalEndpoint!, "cache", 1, 3000);

        Assert.That(third.Granted, Is.False);
        Assert.That(third.Reason, Does.Contain("at most 2 groups").And.Contain("MaxGroupsPerCluster").And.Contain("cache"));
        Assert.That((await a.AskAsync(first.LocalEndpoint!, "web", 1, 3000, renew: true)).Granted, Is.True, "a known group is renewed");
        Assert.That((await a.AskAsync(first.LocalEndpoint!, "db", 2, 3000)).Granted, Is.True, "a known group takes a higher epoch");
        Assert.That(File.ReadAllText(Path.Combine(_f.StateDirectory, "demo.state")), Does.Not.Contain("cache"), "nothing of the refused group was stored");

        await first.DisposeAsync();
        var second = await _f.StartAsync(options);
        Assert.That((await a.AskAsync(second.LocalEndpoint!, "cache", 1, 3000)).Granted, Is.False, "the groups loaded at start count");
    }

    [Test]
    public async Task Epochs_survive_a_restart_and_the_new_incarnation_is_accepted_by_the_nodes()
    {
        var first = await _f.StartAsync();
        var a = _f.Node("a");
        Assert.That((await a.AskAsync(first.LocalEndpoint!, "web", 7, 3000)).Granted, Is.True);
        Assert.That((await a.AskAsync(first.LocalEndpoint!, "db main", 3, 3000)).Granted, Is.True);
        await first.DisposeAsync();
        var stateFile = Path.Combine(_f.StateDirectory, "demo.state");
        Assert.That(File.ReadAllText(stateFile), Does.Contain("epoch web 7\n").And.Contain("epoch db%20main 3\n"));

        var second = await _f.StartAsync(); // the same directory; quiet period skipped on the fake clock
        var b = _f.Node("b");
        var stale = await b.AskAsync(second.LocalEndpoint!, "web", 7, 3000);
        var fresh = await b.AskAsync(second.LocalEndpoint!, "web", 8, 3000);

        Assert.That(stale.Granted, Is.False, "the restarted witness remembers epoch 7");
        Assert.That(stale.HighestEpoch, Is.EqualTo(7));
        Assert.That(fresh.Granted, Is.True, fresh.Reason);
        Assert.That(b.Stats.GetDropped(DropReason.Replayed), Is.Zero);
        var replay = a.Stats.Accepted; // a saw the first incarnation; it must accept the second one's replies too
        Assert.That((await a.AskAsync(second.LocalEndpoint!, "db main", 3, 3000, renew: true)).HighestEpoch, Is.EqualTo(3));
        Assert.That(a.Stats.Accepted, Is.EqualTo(replay + 1));
    }

    [Test]
    public async Task Serves_two_clusters_independently_each_with_its_own_keys()
    {
        var server = await _f.StartAsync(_f.Options(
            WitnessFixture.Cluster("one", WitnessFixture.SecretOne, "a", "b"),
            WitnessFixture.Cluster("two", WitnessFixture.SecretTwo, "a", "b")));
        var oneA = _f.Node("a", "one", WitnessFixture.SecretOne);
        var twoB = _f.Node("b", "two", WitnessFixture.SecretTwo);
        var twoWithOnesKey = _f.Node("a", "two", WitnessFixture.SecretOne, incarnation: 2);

        var one = await oneA.AskAsync(server.LocalEndpoint!, "web", 1, 3000);
        var two = await twoB.AskAsync(server.LocalEndpoint!, "web", 1, 3000);
        twoWithOnesKey.Send(server.LocalEndpoint!, twoWithOnesKey.Sign(twoWithOnesKey.Request("web", 2)));
        var stillTwo = await twoB.AskAsync(server.LocalEndpoint!, "web", 1, 3000, renew: true);

        Assert.That(one.Granted, Is.True, one.Reason);
        Assert.That(two.Granted, Is.True, "group web of cluster two is not group web of cluster one");
        Assert.That(stillTwo.Granted, Is.True);
        Assert.That(server.ClusterStats["two"].GetDropped(DropReason.BadMac), Is.EqualTo(1));
        Assert.That(server.ClusterStats["one"].TotalDropped, Is.Zero);
        Assert.That(oneA.Stats.Accepted, Is.EqualTo(1), "replies to cluster one are signed with cluster one's key");
        Assert.That(File.Exists(Path.Combine(_f.StateDirectory, "one.state")) && File.Exists(Path.Combine(_f.StateDirectory, "two.state")));
    }

    [Test]
    public async Task Forged_replayed_foreign_unknown_and_garbage_datagrams_are_dropped_counted_and_unanswered()
    {
        var server = await _f.StartAsync();
        var ep = server.LocalEndpoint!;
        var a = _f.Node("a");
        var stranger = _f.Node("c");
        var otherCluster = _f.Node("a", cluster: "elsewhere");

        var genuine = a.Sign(a.Request("web", 1));
        a.Send(ep, genuine);
        Assert.That((await a.ReceiveAsync(TestNode.ReplyTimeout))?.Granted, Is.True);

        var forged = a.Sign(a.Request("web", 9));
        forged[^1] ^= 0x01;
        a.Send(ep, forged);                                                  // BadMac
        a.Send(ep, genuine);                                                 // Replayed
        stranger.Send(ep, stranger.Sign(stranger.Request("web", 9)));        // UnknownSender
        otherCluster.Send(ep, otherCluster.Sign(otherCluster.Request("web", 9))); // no such cluster
        a.Send(ep, [0xFF, 0x00, 0x13, 0x37]);                                // garbage
        a.Send(ep, a.Sign(new Heartbeat { Priority = 1 }));                  // authentic, but not a vote
        a.Send(ep, a.Sign(a.Request("", 9)));                                // authentic, no group

        var answered = await a.AskAsync(ep, "web", 1, 3000, renew: true);   // the server keeps answering, and answered none of the above
        var stats = server.ClusterStats["demo"];

        Assert.That(answered.Granted, Is.True);
        Assert.That(stats.GetDropped(DropReason.BadMac), Is.EqualTo(1));
        Assert.That(stats.GetDropped(DropReason.Replayed), Is.EqualTo(1));
        Assert.That(stats.GetDropped(DropReason.UnknownSender), Is.EqualTo(1));
        Assert.That(stats.GetDropped(DropReason.Malformed), Is.EqualTo(2));
        Assert.That(server.UnroutedStats.GetDropped(DropReason.WrongCluster), Is.EqualTo(1));
        Assert.That(server.UnroutedStats.GetDropped(DropReason.Malformed), Is.EqualTo(1));
        Assert.That(await a.ReceiveAsync(TimeSpan.FromMilliseconds(200)), Is.Null, "nothing else was answered");
    }

    [Test]
    public async Task An_oversized_datagram_is_dropped_and_counted()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        var big = a.Sign(a.Request("web", 1));
        Array.Resize(ref big, WitnessServer.MaxPacketSize + 100);

        a.Send(server.LocalEndpoint!, big);
        var reply = await a.AskAsync(server.LocalEndpoint!, "web", 1, 3000);

        Assert.That(reply.Granted, Is.True);
        Assert.That(server.ClusterStats["demo"].GetDropped(DropReason.Oversized), Is.EqualTo(1));
    }

    [Test]
    public async Task A_grant_whose_epoch_cannot_be_stored_is_withdrawn_and_refused()
    {
        var server = await _f.StartAsync();
        var a = _f.Node("a");
        // The state file cannot be written: a directory stands where the file is (overwritten in place) and where its temporary
        // copy would go (replaced by a rename), so both ways of saving fail.
        var file = Path.Combine(_f.StateDirectory, "demo.state");
        File.Move(file, file + ".aside");
        Directory.CreateDirectory(file);
        Directory.CreateDirectory(file + ".tmp");

        var refused = await a.AskAsync(server.LocalEndpoint!, "web", 1, 3000);
        Directory.Delete(file);
        Directory.Delete(file + ".tmp");
        File.Move(file + ".aside", file);
        var sameEpoch = await a.AskAsync(server.LocalEndpoint!, "web", 1, 3000);
        var next = await a.AskAsync(server.LocalEndpoint!, "web", 2, 3000);

        Assert.That(refused.Granted, Is.False);
        Assert.That(refused.Reason, Does.Contain("could not store epoch 1"));
        Assert.That(sameEpoch.Granted, Is.False, "epoch 1 may have reached the disk: it is never granted again");
        Assert.That(next.Granted, Is.True, next.Reason);
        Assert.That(File.ReadAllText(Path.Combine(_f.StateDirectory, "demo.state")), Does.Contain("epoch web 2\n"));
    }

    [Test]
    public async Task A_server_starts_once_and_stops_idempotently()
    {
        var server = await _f.StartAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync(CancellationToken.None));
        await server.StopAsync(CancellationToken.None);
        await server.StopAsync(CancellationToken.None);
        Assert.That(server.LocalEndpoint, Is.Not.Null);
    }

    [Test]
    public async Task A_corrupt_state_file_stops_the_start()
    {
        Directory.CreateDirectory(_f.StateDirectory);
        await File.WriteAllTextAsync(Path.Combine(_f.StateDirectory, "demo.state"), "hakit-state 1\nincarnation 1\nsha256 00\n");
        await using var server = new WitnessServer(_f.Options(), _f.Time);

        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => server.StartAsync(CancellationToken.None));

        Assert.That(ex!.Message, Does.Contain("demo.state"));
    }

    [Test]
    public void State_file_names_cannot_escape_the_directory()
    {
        Assert.That(WitnessServer.FileName("demo"), Is.EqualTo("demo.state"));
        Assert.That(WitnessServer.FileName("../x"), Is.EqualTo("%2E%2E%2Fx.state"));
        Assert.That(WitnessServer.FileName(".."), Is.EqualTo("%2E%2E.state"));
    }
}
