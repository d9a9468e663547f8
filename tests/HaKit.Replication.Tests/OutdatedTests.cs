using System.Text;
using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;
using HaKit.Resources;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Replication.Tests;

/// <summary>Degrading, outdated marking, MaxLagOnFailover and the operator's override, on the core (virtual time as input) and on
/// the log and resource (a fake clock).</summary>
public sealed class OutdatedTests
{
    private static readonly TimeSpan DegradeAfter = TimeSpan.FromSeconds(5);

    private static void Tick(CoreNode node, TimeSpan now)
    {
        node.Core.Tick(now);
        node.Drain();
    }

    /// <summary>A Durable pair whose owner a (epoch 1) holds one entry waiting for its silent peer, at time zero.</summary>
    private static CorePair OwnerWaitingForItsPeer(TimeSpan? degradeAfter)
    {
        var pair = new CorePair(ReplicationMode.Durable);
        pair.A.Core.DegradeAfter = degradeAfter;
        pair.A.Core.BecomeOwner(1);
        pair.A.Append("x");
        pair.A.Step();
        Tick(pair.A, TimeSpan.Zero);
        return pair;
    }

    [Test]
    public void A_durable_owner_whose_peer_is_silent_degrades_after_the_timeout_and_marks_the_peer_before_acknowledging_alone()
    {
        var pair = OwnerWaitingForItsPeer(DegradeAfter);
        Tick(pair.A, TimeSpan.FromSeconds(4.9));
        Assert.That(pair.A.AckedUpTo, Is.Zero, "before DegradeAfter the owner waits for the peer");
        Assert.That(pair.A.Core.Degraded, Is.False);
        Assert.That(pair.A.Marks, Is.Empty);

        Tick(pair.A, DegradeAfter);
        Assert.That(pair.A.Core.Degraded, Is.True);
        Assert.That(pair.A.Log, Is.EqualTo(new[] { "mark peer-outdated 1/1", "ack 1" }), "the mark is durable before the first entry acknowledged without the peer");

        pair.A.Append("y");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(2), "degraded: acknowledged alone at once");
        Assert.That(pair.A.Log.Count(l => l.StartsWith("mark", StringComparison.Ordinal)), Is.EqualTo(1), "marked once");
    }

    [Test]
    public void Without_DegradeAfter_a_durable_owner_waits_for_its_peer_forever()
    {
        var pair = OwnerWaitingForItsPeer(degradeAfter: null);
        Tick(pair.A, TimeSpan.FromHours(1));
        Assert.That(pair.A.AckedUpTo, Is.Zero);
        Assert.That(pair.A.Marks, Is.Empty);
    }

    [Test]
    public void The_peer_learns_it_is_outdated_refuses_promotion_until_caught_up_and_then_both_marks_clear()
    {
        var pair = OwnerWaitingForItsPeer(DegradeAfter);
        Tick(pair.A, DegradeAfter);
        pair.A.Append("y");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(2));

        pair.Connect();
        pair.A.Step();
        pair.B.Step();
        Assert.That(pair.B.Marks[OutdatedFile.Outdated], Is.EqualTo(new LogPosition(1, 2)), "told by the owner's first append, before it holds anything");
        Assert.That(pair.B.Core.PromotionRefusal(), Does.Contain("marked outdated").And.Contain("index 2"));

        pair.Settle();
        Assert.That(pair.B.Core.Last.Index, Is.EqualTo(2));
        Assert.That(pair.B.Marks[OutdatedFile.Outdated], Is.EqualTo(LogPosition.Zero), "caught up: its mark cleared");
        Assert.That(pair.B.Core.PromotionRefusal(), Is.Null);
        Assert.That(pair.A.Marks[OutdatedFile.PeerOutdated], Is.EqualTo(LogPosition.Zero), "the owner's mark cleared");
        Assert.That(pair.A.Core.Degraded, Is.False);

        // Not degraded any more: the next append waits for the peer again.
        pair.A.Append("z");
        pair.A.Step();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(2));
        pair.Settle();
        Assert.That(pair.A.AckedUpTo, Is.EqualTo(3));
    }

    [Test]
    public void An_async_owner_marks_a_disconnected_peer_before_acknowledging_an_entry_it_does_not_hold()
    {
        var pair = new CorePair(ReplicationMode.Async);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        pair.A.Append("x");
        pair.Settle();
        Assert.That(pair.A.Marks, Is.Empty, "a connected peer that keeps up is not marked");

        pair.Disconnect();
        pair.A.Append("y");
        pair.A.Step();
        Assert.That(pair.A.Log, Is.EqualTo(new[] { "ack 1", "mark peer-outdated 1/2", "ack 2" }));
    }

    [Test]
    public void A_standby_lagging_more_than_MaxLagOnFailover_behind_the_owners_acknowledged_index_refuses_promotion()
    {
        var b = new CoreNode("b", ReplicationMode.Async);
        var entries = new[] { new LogEntry(new LogPosition(1, 1), "a"u8.ToArray()), new LogEntry(new LogPosition(1, 2), "b"u8.ToArray()) };
        b.Core.Receive(new AppendMessage(1, LogPosition.Zero, RecordBatch.Encode(entries), OwnerAcknowledged: 40));
        b.Drain();
        Assert.That(b.Core.KnownLagEntries, Is.EqualTo(38));
        Assert.That(b.Core.PromotionRefusal(), Is.Null, "no limit set");
        b.Core.MaxLagOnFailover = 38;
        Assert.That(b.Core.PromotionRefusal(), Is.Null, "at the limit");
        b.Core.MaxLagOnFailover = 37;
        Assert.That(b.Core.PromotionRefusal(), Does.Contain("38 entries").And.Contain("MaxLagOnFailover = 37"));
    }

    [Test]
    public void A_standby_persists_the_owners_acknowledged_index_it_heard_once_per_tick_and_not_per_entry()
    {
        var b = new CoreNode("b", ReplicationMode.Async);
        var entries = new[] { new LogEntry(new LogPosition(1, 1), "a"u8.ToArray()), new LogEntry(new LogPosition(1, 2), "b"u8.ToArray()) };
        b.Core.Receive(new AppendMessage(1, LogPosition.Zero, RecordBatch.Encode(entries), OwnerAcknowledged: 40));
        b.Drain();
        Assert.That(b.Marks.ContainsKey(OutdatedFile.KnownLag), Is.False, "not written per append");
        Tick(b, TimeSpan.Zero);
        Assert.That(b.Marks[OutdatedFile.KnownLag], Is.EqualTo(new LogPosition(1, 40)), "written at the tick");
        b.Marks.Remove(OutdatedFile.KnownLag);
        Tick(b, TimeSpan.FromSeconds(1));
        Assert.That(b.Marks.ContainsKey(OutdatedFile.KnownLag), Is.False, "unchanged: not written again");

        b.Core.BecomeOwner(2);
        b.Drain();
        Assert.That(b.Marks[OutdatedFile.KnownLag], Is.EqualTo(LogPosition.Zero), "an owner has no known lag: deleted at once");
    }

    [Test]
    public async Task A_restarted_standby_still_knows_its_lag_and_refuses_promotion_beyond_MaxLagOnFailover()
    {
        var directory = Path.Combine(_root, "b");
        Directory.CreateDirectory(directory);
        OutdatedFile.Write(directory, OutdatedFile.KnownLag, new LogPosition(3, 120));
        await using var b = await ReplicatedKvStore.OpenAsync(new ReplicationOptions { Group = "g", Directory = directory, SnapshotEveryEntries = 0, MaxLagOnFailover = 100 });
        Assert.That(b.Log.Status.KnownLagEntries, Is.EqualTo(120), "the lag heard before the restart");
        var refused = await new ReplicationResource(b.Log).StartAsync(new ResourceContext("g", "b", 4, CancellationToken.None), CancellationToken.None);
        Assert.That(refused.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(refused.Message, Does.Contain("120 entries").And.Contain("MaxLagOnFailover = 100"));
    }

    [Test]
    public void Invalid_settings_fail_naming_the_key_the_value_and_the_fix()
    {
        var options = new ReplicationOptions { Group = "g", Directory = "/tmp/x", DegradeAfter = TimeSpan.FromSeconds(-1), MaxLagOnFailover = -3 };
        var error = Assert.Throws<HaKitConfigurationException>(() => options.Validate());
        Assert.That(error!.Message, Does.Contain("Replication:DegradeAfter = '-00:00:01'").And.Contain("leave it unset"));
        Assert.That(error.Message, Does.Contain("Replication:MaxLagOnFailover = -3"));
    }

    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("hakit-repl-outdated-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    [Test]
    public async Task A_degraded_log_acknowledges_alone_after_DegradeAfter_on_its_clock_with_the_mark_on_disk_first()
    {
        var time = new FakeTimeProvider();
        var directory = Path.Combine(_root, "a");
        await using var a = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
        {
            Group = "g", Directory = directory, Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0, DegradeAfter = DegradeAfter, Time = time,
        });
        await a.Log.BecomeOwnerAsync(1, CancellationToken.None);
        var put = a.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None);
        await Task.Delay(100);
        Assert.That(put.IsCompleted, Is.False, "waits for the peer");

        for (var i = 0; i < 200 && !put.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            await Task.Delay(20);
        }

        Assert.That(put.IsCompleted, Is.True, "acknowledged alone after DegradeAfter on the fake clock");
        await put;
        Assert.That(OutdatedFile.Read(directory, OutdatedFile.PeerOutdated), Is.EqualTo(new LogPosition(1, 1)));
        Assert.That(a.Log.Status.Degraded, Is.True);
        Assert.That(a.Log.Status.PeerOutdated, Is.True);
        var context = new ResourceContext("g", "a", 1, CancellationToken.None);
        Assert.That((await new ReplicationResource(a.Log).MonitorAsync(context, CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.Degraded));
    }

    [Test]
    public async Task An_outdated_node_refuses_to_start_the_group_until_an_operator_forces_it_once()
    {
        var directory = Path.Combine(_root, "b");
        Directory.CreateDirectory(directory);
        OutdatedFile.Write(directory, OutdatedFile.Outdated, new LogPosition(3, 120));
        await using var b = await ReplicatedKvStore.OpenAsync(new ReplicationOptions { Group = "g", Directory = directory, SnapshotEveryEntries = 0 });
        Assert.That(b.Log.Status.Outdated, Is.True, "the mark survives a restart");
        var resource = new ReplicationResource(b.Log);
        var context = new ResourceContext("g", "b", 4, CancellationToken.None);

        var refused = await resource.StartAsync(context, CancellationToken.None);
        Assert.That(refused.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(refused.Message, Does.Contain("marked outdated").And.Contain("index 120").And.Contain("--force"));
        Assert.That(b.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));

        ((IForcibleResource)resource).AllowForcedStart("hakit takeover g --force by operator alice");
        var forced = await resource.StartAsync(context, CancellationToken.None);
        Assert.That(forced.Kind, Is.EqualTo(ResourceFailureKind.None));
        Assert.That(b.Log.Status.Role, Is.EqualTo(ReplicaRole.Owner));
        Assert.That(b.Log.Status.Outdated, Is.False);
        Assert.That(File.Exists(Path.Combine(directory, OutdatedFile.Outdated)), Is.False, "the owner's history is its own now: the mark is deleted");
    }
}
