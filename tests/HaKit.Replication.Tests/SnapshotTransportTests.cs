using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HaKit.Replication.Tests;

/// <summary>Snapshots many chunks long over the real gRPC transport on loopback: installed whole, and resumed after the
/// connection drops mid-transfer.</summary>
public sealed class SnapshotTransportTests : ReplicaTestBase
{
    private const int Chunk = 4096;
    protected override string DirectoryPrefix => "hakit-repl-snapxfer-";

    private Task<Replica> StartAsync(string group, string node, string peer, int port, int peerPort) => StartReplicaAsync(
        new ReplicationOptions
        {
            Group = group, Directory = Path.Combine(Root, node), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0, SnapshotChunkBytes = Chunk,
        },
        node,
        peer,
        port,
        peerPort);

    private static string Value(int i) => $"{i:D5}-" + new string((char)('a' + i % 26), 1000);

    /// <summary>a owns the group with 300 KiB of state in a snapshot it compacted its log to; b comes back with an empty disk, so
    /// only the snapshot can bring it back.</summary>
    private async Task<(Replica A, int PortA, int PortB, long FileBytes)> OwnerWithSnapshotAsync(string group)
    {
        int portA = FreePort(), portB = FreePort();
        var a = await StartAsync(group, "a", "b", portA, portB);
        var b = await StartAsync(group, "b", "a", portB, portA);
        await Wait.UntilAsync(() => a.Store.Log.Status.PeerConnected, "the stream to come up");
        await a.Store.Log.BecomeOwnerAsync(1, CancellationToken.None);
        var writes = Enumerable.Range(0, 300).Select(i => a.Store.PutAsync($"k{i}", Encoding.UTF8.GetBytes(Value(i)), CancellationToken.None));
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(30));
        await a.Store.Log.TakeSnapshotAsync(CancellationToken.None);
        await Wait.UntilAsync(() => a.Store.Log.Status.Snapshot.Index == 300, "the owner's status to show its snapshot");
        await Wait.UntilAsync(() => b.Store.Count == 300, "the standby to apply everything before it goes");
        await StopAsync(b);
        Directory.Delete(Path.Combine(Root, "b"), recursive: true);
        var file = Directory.GetFiles(Path.Combine(Root, "a"), "snapshot-*.snap").Single();
        var bytes = new FileInfo(file).Length;
        Assert.That(bytes, Is.GreaterThan(70 * Chunk), "the snapshot is many chunks long");
        return (a, portA, portB, bytes);
    }

    [Test]
    public async Task A_snapshot_of_many_chunks_installs_on_a_standby_with_an_empty_disk_and_appends_continue_after_it()
    {
        var (a, portA, portB, fileBytes) = await OwnerWithSnapshotAsync("snap1");
        var b = await StartAsync("snap1", "b", "a", portB, portA);
        var seen = new List<(long Bytes, long Total)>();
        b.Store.Log.StatusChanged += (_, s) =>
        {
            lock (seen)
            {
                seen.Add((s.SnapshotTransferBytes, s.SnapshotTransferTotal));
            }
        };

        await a.Store.PutAsync("after", Encoding.UTF8.GetBytes("the snapshot"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await Wait.UntilAsync(() => Get(b.Store, "after") == "the snapshot", "the new standby to continue after the snapshot", seconds: 30);
        Assert.That(b.Store.Log.Status.Snapshot, Is.EqualTo(new LogPosition(1, 300)));
        Assert.That(b.Store.Count, Is.EqualTo(301));
        Assert.That(Enumerable.Range(0, 300).All(i => Get(b.Store, $"k{i}") == Value(i)), "every value arrived intact");
        Assert.That(new FileInfo(Directory.GetFiles(Path.Combine(Root, "b"), "snapshot-*.snap").Single()).Length, Is.EqualTo(fileBytes));
        Assert.That(Directory.GetFiles(Path.Combine(Root, "b"), "snapshot-*.tmp"), Is.Empty, "the incoming file was renamed into place");
        lock (seen)
        {
            Assert.That(seen, Does.Contain((4096L, fileBytes)), "the progress of the transfer was visible in the status");
        }

        Assert.That(b.Store.Log.Status.SnapshotTransferTotal, Is.Zero, "no transfer once installed");
    }

    [Test]
    public async Task A_connection_dropped_mid_transfer_resumes_from_the_standbys_offset_and_the_partial_file_is_never_installed()
    {
        var (a, portA, portB, fileBytes) = await OwnerWithSnapshotAsync("snap2");
        long sent = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == HaKitTelemetry.MeterName && instrument.Name == "hakit.replication.snapshot.sent")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag is { Key: "hakit.group", Value: "snap2" })
                {
                    Interlocked.Add(ref sent, value);
                }
            }
        });
        listener.Start();

        var b = await StartAsync("snap2", "b", "a", portB, portA);
        var dropped = 0;
        var snapshotBeforeDrop = LogPosition.Zero;
        b.Store.Log.StatusChanged += (_, s) =>
        {
            // The transfer started (the first chunk arrived): kill the stream under it, once.
            if (s.SnapshotTransferTotal > 0 && Interlocked.Exchange(ref dropped, 1) == 0)
            {
                snapshotBeforeDrop = s.Snapshot;
                a.Transport.DropConnections();
            }
        };

        await a.Store.PutAsync("after", Encoding.UTF8.GetBytes("the snapshot"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await Wait.UntilAsync(() => Get(b.Store, "after") == "the snapshot", "the standby to install the snapshot after the drop and continue", seconds: 30);
        Assert.That(dropped, Is.EqualTo(1), "the stream was dropped mid-transfer");
        Assert.That(snapshotBeforeDrop, Is.EqualTo(LogPosition.Zero), "nothing was installed before the drop");
        Assert.That(b.Store.Log.Status.Snapshot, Is.EqualTo(new LogPosition(1, 300)));
        Assert.That(Enumerable.Range(0, 300).All(i => Get(b.Store, $"k{i}") == Value(i)), "every value arrived intact");
        var total = Interlocked.Read(ref sent);
        Assert.That(total, Is.GreaterThan(fileBytes), "chunks were sent again after the drop");
        Assert.That(total, Is.LessThan(fileBytes + (4 * Chunk)), "the transfer resumed where the standby was, not from the start");
    }

    [Test]
    public async Task A_standby_restarted_mid_transfer_keeps_its_old_state_and_the_transfer_starts_over()
    {
        var (a, portA, portB, _) = await OwnerWithSnapshotAsync("snap3");
        var b = await StartAsync("snap3", "b", "a", portB, portA);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Store.Log.StatusChanged += (_, s) =>
        {
            if (s.SnapshotTransferTotal > 0)
            {
                started.TrySetResult();
            }
        };

        _ = a.Store.PutAsync("after", Encoding.UTF8.GetBytes("the snapshot"), CancellationToken.None);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await StopAsync(b);
        var directory = Path.Combine(Root, "b");
        Assert.That(Directory.GetFiles(directory, "snapshot-*.snap"), Is.Empty, "the partial transfer was not installed");

        var again = await StartAsync("snap3", "b", "a", portB, portA);
        Assert.That(again.Store.Count, Is.Zero, "the old (empty) state is intact");
        Assert.That(Directory.GetFiles(directory, "snapshot-*.tmp"), Is.Empty, "the partial file was deleted at start");
        await Wait.UntilAsync(() => Get(again.Store, "after") == "the snapshot", "the restarted standby to receive the snapshot anew", seconds: 30);
        Assert.That(again.Store.Count, Is.EqualTo(301));
    }
}
