using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;
using HaKit.Resources;

namespace HaKit.Replication.Tests;

/// <summary>MaxLagOnFailoverBytes: the owner tells the bytes it acknowledged past each append; a standby too far behind refuses promotion.</summary>
public sealed class LagBytesTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("hakit-repl-lagbytes-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    [Test]
    public void The_owner_sends_the_bytes_it_acknowledged_past_each_append_and_the_standby_refuses_promotion_beyond_the_limit()
    {
        // 100-byte entries, two per batch, one batch in flight: the standby catches up batch by batch while the Async owner
        // acknowledged all ten at once (a connected peer is not marked outdated).
        var pair = new CorePair(ReplicationMode.Async, maxInFlight: 250, maxBatch: 250);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        for (var i = 0; i < 10; i++)
        {
            pair.A.Append(new string((char)('a' + i), 100));
        }

        for (var round = 0; round < 20 && pair.B.Core.Last.Index < 4; round++)
        {
            pair.A.Step();
            pair.B.Step();
        }

        Assert.That(pair.A.AckedUpTo, Is.EqualTo(10), "Async: acknowledged without the peer");
        var held = pair.B.Core.Last.Index;
        Assert.That(held, Is.InRange(4, 6), "part of the way");
        var lag = (10 - held) * 100;
        Assert.That(pair.B.Core.KnownLagBytes, Is.EqualTo(lag), "the entries after the ones it holds, acknowledged, 100 bytes each");
        Assert.That(pair.B.Core.KnownLagEntries, Is.EqualTo(10 - held));
        Assert.That(pair.B.Core.PromotionRefusal(), Is.Null, "no limit set");
        pair.B.Core.MaxLagOnFailoverBytes = lag;
        Assert.That(pair.B.Core.PromotionRefusal(), Is.Null, "at the limit");
        pair.B.Core.MaxLagOnFailoverBytes = lag - 1;
        Assert.That(pair.B.Core.PromotionRefusal(), Does.Contain($"{lag} bytes").And.Contain($"MaxLagOnFailoverBytes = {lag - 1} bytes"));

        pair.Settle();
        var appends = pair.A.Sent.OfType<AppendMessage>().Where(a => a.Batch.Count > 0).ToList();
        Assert.That(appends, Has.Count.GreaterThanOrEqualTo(4));
        Assert.That(appends.Select(a => a.AcknowledgedBytesAhead), Is.EqualTo(appends.Select(a => Math.Max(0, a.OwnerAcknowledged - a.LastIndex) * 100)));
        Assert.That(appends.Skip(1).All(a => a.OwnerAcknowledged == 10));
        Assert.That(pair.B.Core.KnownLagBytes, Is.Zero);
        Assert.That(pair.B.Core.PromotionRefusal(), Is.Null, "caught up");
    }

    [Test]
    public void The_byte_lag_survives_compaction_on_the_owner()
    {
        var log = new MemoryLog();
        log.Reset(LogPosition.Zero, [.. Enumerable.Range(1, 5).Select(i => new LogEntry(new LogPosition(1, i), new byte[i * 10]))]);
        Assert.That(log.OffsetAt(5) - log.OffsetAt(2), Is.EqualTo(30 + 40 + 50));
        log.DropThrough(3);
        Assert.That(log.OffsetAt(5) - log.OffsetAt(3), Is.EqualTo(40 + 50));
        Assert.That(log.OffsetAt(3), Is.EqualTo(60), "the base keeps its offset");
        log.TruncateAfter(4);
        log.Add(new LogEntry(new LogPosition(2, 5), new byte[7]));
        Assert.That(log.OffsetAt(5) - log.OffsetAt(3), Is.EqualTo(40 + 7));
    }

    [Test]
    public void An_append_the_standby_cannot_match_only_raises_the_byte_lag_and_it_is_persisted_at_the_tick()
    {
        var b = new CoreNode("b", ReplicationMode.Async) { Connected = true };
        b.Core.PeerUp();
        var entries = new[] { new LogEntry(new LogPosition(1, 1), "a"u8.ToArray()), new LogEntry(new LogPosition(1, 2), "b"u8.ToArray()) };
        b.Core.Receive(new AppendMessage(1, LogPosition.Zero, RecordBatch.Encode(entries), OwnerAcknowledged: 40, AcknowledgedBytesAhead: 3800));
        b.Drain();
        Assert.That(b.Core.KnownLagBytes, Is.EqualTo(3800));

        // Entries after a gap: not matched; the owner says fewer bytes are ahead of that append, but this node holds less.
        b.Core.Receive(new AppendMessage(1, new LogPosition(1, 30), RecordBatch.Empty, OwnerAcknowledged: 40, AcknowledgedBytesAhead: 1000));
        b.Drain();
        Assert.That(b.Core.KnownLagBytes, Is.EqualTo(3800));
        b.Core.Tick(TimeSpan.Zero);
        b.Drain();
        Assert.That(b.PersistedLagBytes, Is.EqualTo(3800));
    }

    [Test]
    public async Task A_restarted_standby_still_knows_its_byte_lag_and_refuses_promotion_beyond_MaxLagOnFailoverBytes()
    {
        var directory = Path.Combine(_root, "b");
        Directory.CreateDirectory(directory);
        OutdatedFile.Write(directory, OutdatedFile.KnownLag, new LogPosition(3, 120));
        OutdatedFile.Write(directory, OutdatedFile.KnownLagBytes, new LogPosition(0, 1_000_000));
        await using var b = await ReplicatedKvStore.OpenAsync(new ReplicationOptions { Group = "g", Directory = directory, SnapshotEveryEntries = 0, MaxLagOnFailoverBytes = 65536 });
        Assert.That(b.Log.Status.KnownLagBytes, Is.EqualTo(1_000_000));
        var refused = await new ReplicationResource(b.Log).StartAsync(new ResourceContext("g", "b", 4, CancellationToken.None), CancellationToken.None);
        Assert.That(refused.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(refused.Message, Does.Contain("1000000 bytes").And.Contain("MaxLagOnFailoverBytes = 65536"));
    }

    [Test]
    public void Invalid_settings_fail_naming_the_key_the_value_and_the_fix()
    {
        var options = new ReplicationOptions { Group = "g", Directory = "/tmp/x", MaxLagOnFailoverBytes = -1, SnapshotChunkBytes = 100 };
        var error = Assert.Throws<HaKitConfigurationException>(() => options.Validate());
        Assert.That(error!.Message, Does.Contain("Replication:MaxLagOnFailoverBytes = -1").And.Contain("positive number of bytes"));
        Assert.That(error.Message, Does.Contain("Replication:SnapshotChunkBytes = 100").And.Contain("use 4096 to 67108864"));
    }
}
