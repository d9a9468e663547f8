using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;

namespace HaKit.Replication.Tests;

/// <summary>The core's chunked snapshot transfer: order and flow control, duplicates and gaps, epoch fencing, checksums, resume.</summary>
public sealed class SnapshotTransferTests
{
    private const int Chunk = 4096;
    private const long FileBytes = 10_000; // three chunks: 4096, 4096, 1808
    private static readonly LogPosition SnapshotAt = new(1, 8);

    /// <summary>B owns epoch 1 with its log compacted to (1, 8) (its peer held it durably) and one entry after it; A's disk was
    /// replaced by an empty one.</summary>
    private static CorePair CompactedOwner()
    {
        var pair = new CorePair(ReplicationMode.Async);
        pair.B.Core.SnapshotChunkBytes = Chunk;
        pair.Connect();
        pair.B.Core.BecomeOwner(1);
        for (var i = 1; i <= 10; i++)
        {
            pair.B.Append($"e{i}");
        }

        pair.Settle();
        pair.B.Core.SnapshotTaken(SnapshotAt, FileBytes);
        pair.B.Drain();
        pair.ReplaceA();
        pair.B.Append("e11");
        pair.B.Step();
        return pair;
    }

    private static SnapshotChunkMessage ChunkAt(long epoch, LogPosition position, long offset, long total, int count)
    {
        var data = CoreNode.ChunkBytes(offset, count);
        return new SnapshotChunkMessage(epoch, position, offset, total, data, Crc32C.Compute(data));
    }

    private static CoreNode ConnectedStandby()
    {
        var b = new CoreNode("b", ReplicationMode.Async) { Connected = true };
        b.Core.PeerUp();
        return b;
    }

    [Test]
    public void The_snapshot_goes_in_chunks_one_at_a_time_and_the_standby_installs_it_and_continues_with_appends()
    {
        var pair = CompactedOwner();
        var sentBefore = pair.B.Sent.Count;
        pair.Connect();
        for (var round = 0; round < 100 && pair.A.Installed.Count == 0; round++)
        {
            pair.B.Step();
            var acks = pair.A.Sent.OfType<SnapshotChunkAckMessage>().Count();
            Assert.That(pair.B.ChunksSent, Has.Count.LessThanOrEqualTo(acks + 1), "the next chunk leaves only after the previous one is acknowledged");
            Assert.That(pair.B.Sent.Skip(sentBefore).OfType<AppendMessage>().Count(a => a.Batch.Count > 0), Is.Zero, "no appends while the snapshot is on its way");
            pair.A.Step();
        }

        pair.Settle();
        Assert.That(pair.B.ChunksSent.Select(c => (c.Offset, c.Data.Length)), Is.EqualTo(new[] { (0L, 4096), (4096L, 4096), (8192L, 1808) }));
        Assert.That(pair.B.ChunksSent.All(c => c.Position == SnapshotAt && c.TotalBytes == FileBytes && c.Epoch == 1));
        Assert.That(pair.A.Installed, Is.EqualTo(new[] { (SnapshotAt, FileBytes) }));
        Assert.That(pair.A.Core.Snapshot, Is.EqualTo(SnapshotAt));
        Assert.That(pair.A.Core.SnapshotBytes, Is.EqualTo(FileBytes));
        Assert.That(pair.A.Core.Last, Is.EqualTo(new LogPosition(1, 11)), "appends continue after the snapshot");
        Assert.That(pair.B.Core.PeerDurable, Is.EqualTo(11));
        Assert.That(pair.B.SendsEnded, Is.EqualTo(1), "the owner closes the snapshot file once the standby installed it");
        Assert.That(pair.A.Core.SnapshotTransfer, Is.EqualTo((0L, 0L)));
        Assert.That(pair.B.Core.SnapshotTransfer, Is.EqualTo((0L, 0L)));
    }

    [Test]
    public void A_duplicate_chunk_is_not_written_again_and_a_gap_is_answered_with_the_offset_the_standby_holds()
    {
        var b = ConnectedStandby();
        b.Core.Receive(ChunkAt(2, SnapshotAt, 0, FileBytes, Chunk));
        b.Drain();
        Assert.That(b.ChunksWritten, Is.EqualTo(1));
        Assert.That(b.Core.SnapshotTransfer, Is.EqualTo((4096L, FileBytes)), "progress: bytes held of the total");

        b.Core.Receive(ChunkAt(2, SnapshotAt, 0, FileBytes, Chunk));
        b.Core.Receive(ChunkAt(2, SnapshotAt, 8192, FileBytes, 1808));
        b.Drain();
        Assert.That(b.ChunksWritten, Is.EqualTo(1), "neither the duplicate nor the chunk after a gap is written");
        Assert.That(b.Sent.OfType<SnapshotChunkAckMessage>().Select(a => a.NextOffset), Is.EqualTo(new long[] { 4096, 4096, 4096 }));
        Assert.That(b.Installed, Is.Empty);

        b.Core.Receive(ChunkAt(2, SnapshotAt, 4096, FileBytes, Chunk));
        b.Core.Receive(ChunkAt(2, SnapshotAt, 8192, FileBytes, 1808));
        b.Drain();
        b.Step();
        Assert.That(b.ChunksWritten, Is.EqualTo(3));
        Assert.That(b.Installed, Is.EqualTo(new[] { (SnapshotAt, FileBytes) }));
        Assert.That(b.Core.Snapshot, Is.EqualTo(SnapshotAt));
        Assert.That(b.Sent.OfType<AckMessage>().Last().Received, Is.EqualTo(8), "the regular ack after the install ends the transfer on the owner");
    }

    [Test]
    public void A_chunk_of_a_deposed_owner_is_refused_and_a_newer_owner_or_taking_over_discards_the_partial_file()
    {
        var b = ConnectedStandby();
        b.Core.Receive(ChunkAt(2, SnapshotAt, 0, FileBytes, Chunk));
        b.Drain();

        // A newer owner's snapshot starts: the partial file of epoch 2 is discarded, never installed.
        var newer = new LogPosition(3, 20);
        b.Core.Receive(ChunkAt(3, newer, 0, 9000, Chunk));
        b.Drain();
        Assert.That(b.Discards, Is.EqualTo(1));
        Assert.That(b.Core.SnapshotTransfer, Is.EqualTo((4096L, 9000L)));

        // The deposed owner of epoch 2 goes on sending: refused like its appends.
        b.Core.Receive(ChunkAt(2, SnapshotAt, 4096, FileBytes, Chunk));
        b.Drain();
        Assert.That(b.Sent.OfType<RejectMessage>().Single().Reason, Is.EqualTo(RejectReason.StaleEpoch));
        Assert.That(b.ChunksWritten, Is.EqualTo(2), "nothing of the deposed owner's is written");

        // An append of an even newer owner discards the transfer of epoch 3.
        b.Core.Receive(new AppendMessage(4, LogPosition.Zero, RecordBatch.Empty));
        b.Drain();
        Assert.That(b.Discards, Is.EqualTo(2));
        Assert.That(b.Incoming, Is.Null);

        // Taking the group over mid-transfer discards it too.
        b.Core.Receive(ChunkAt(4, newer, 0, 9000, Chunk));
        b.Drain();
        Assert.That(b.Core.BecomeOwner(5), Is.True);
        b.Drain();
        Assert.That(b.Discards, Is.EqualTo(3));
        Assert.That(b.Installed, Is.Empty);
        Assert.That(b.Core.Snapshot, Is.EqualTo(LogPosition.Zero), "the old state is intact");
    }

    [Test]
    public void A_chunk_that_fails_its_checksum_discards_the_partial_file_and_the_transfer_starts_over()
    {
        var pair = CompactedOwner();
        pair.Connect();
        for (var round = 0; round < 100 && pair.B.ChunksSent.Count < 1; round++)
        {
            pair.B.Step();
            pair.A.Step();
        }

        pair.B.CorruptNextChunk = true;
        pair.Settle();
        Assert.That(pair.B.ChunksSent.Select(c => c.Offset), Is.EqualTo(new long[] { 0, 4096, 0, 4096, 8192 }));
        Assert.That(pair.A.Core.SnapshotChunksRefused, Is.EqualTo(1));
        Assert.That(pair.A.Discards, Is.EqualTo(1), "the partial file is discarded");
        Assert.That(pair.A.Installed, Is.EqualTo(new[] { (SnapshotAt, FileBytes) }));
        Assert.That(pair.A.Core.Last, Is.EqualTo(new LogPosition(1, 11)));
    }

    [Test]
    public void A_whole_file_that_fails_its_check_is_not_installed_and_the_owner_sends_the_snapshot_again()
    {
        var pair = CompactedOwner();
        pair.A.FailNextInstall = true;
        pair.Connect();
        pair.Settle();
        Assert.That(pair.B.SnapshotsSent, Is.EqualTo(2));
        Assert.That(pair.A.Core.SnapshotChunksRefused, Is.EqualTo(1));
        Assert.That(pair.A.Installed, Is.EqualTo(new[] { (SnapshotAt, FileBytes) }), "installed once, the second time");
        Assert.That(pair.A.Core.Last, Is.EqualTo(new LogPosition(1, 11)));
    }

    [Test]
    public void After_a_dropped_stream_the_transfer_resumes_at_the_offset_the_standby_holds()
    {
        var pair = CompactedOwner();
        pair.Connect();
        for (var round = 0; round < 100 && pair.A.ChunksWritten < 2; round++)
        {
            pair.B.Step();
            pair.A.Step();
        }

        Assert.That(pair.A.ChunksWritten, Is.EqualTo(2));
        pair.Disconnect();
        pair.B.Drain();
        Assert.That(pair.B.SendsEnded, Is.EqualTo(1), "the owner closes the file when the stream goes down");
        Assert.That(pair.A.Core.SnapshotTransfer, Is.EqualTo((8192L, FileBytes)), "the standby keeps its partial file");
        pair.Connect();
        pair.Settle();
        Assert.That(pair.B.SnapshotsSent, Is.EqualTo(2), "the owner starts the transfer again");
        Assert.That(pair.A.ChunksWritten, Is.EqualTo(3), "and the standby answers with its offset: nothing is written twice");
        Assert.That(pair.A.Discards, Is.Zero);
        Assert.That(pair.A.Installed, Is.EqualTo(new[] { (SnapshotAt, FileBytes) }));
        Assert.That(pair.A.Core.Last, Is.EqualTo(new LogPosition(1, 11)));
    }

    [Test]
    public void A_chunk_in_the_middle_of_a_transfer_the_standby_does_not_hold_asks_for_the_start()
    {
        var b = ConnectedStandby();
        b.Core.Receive(ChunkAt(2, SnapshotAt, 4096, FileBytes, Chunk));
        b.Drain();
        Assert.That(b.ChunksWritten, Is.Zero);
        Assert.That(b.Sent.OfType<SnapshotChunkAckMessage>().Single().NextOffset, Is.Zero);
    }

    [Test]
    public void A_standby_whose_local_snapshot_holds_cut_entries_refuses_appends_and_promotion_until_the_owners_snapshot_is_installed()
    {
        // b followed a in epoch 1 up to 10, applied and snapshotted everything (the owner acknowledged it all).
        var pair = new CorePair(ReplicationMode.Async);
        pair.Connect();
        pair.A.Core.BecomeOwner(1);
        for (var i = 1; i <= 10; i++)
        {
            pair.A.Append($"e{i}");
        }

        pair.Settle();
        pair.B.Core.SnapshotTaken(new LogPosition(1, 10), FileBytes);
        pair.B.Drain();

        // An owner of epoch 2 whose history differs from 6 on: b's entries 6..10 are in its local snapshot.
        var c = new CoreNode("c", ReplicationMode.Async, 1, 1 << 20, 1 << 16, pair.A.Core.Log.Range(1, 5).ToArray(), new OwnedEpochs(1, 0));
        pair.Disconnect();
        c.Core.BecomeOwner(2);
        c.Peer = pair.B;
        pair.B.Peer = c;
        c.Connected = pair.B.Connected = true;
        c.Core.PeerUp();
        pair.B.Core.PeerUp();
        for (var i = 6; i <= 12; i++)
        {
            c.Append($"c{i}");
        }

        Assert.That(c.Core.Snapshot, Is.EqualTo(LogPosition.Zero));
        for (var round = 0; round < 6 && !pair.B.Core.AwaitingSnapshot; round++)
        {
            c.Step();
            pair.B.Step();
        }

        Assert.That(pair.B.Core.AwaitingSnapshot, Is.True, "b needs c's snapshot");
        Assert.That(pair.B.Core.PromotionRefusal(), Does.Contain("waits for the owner's snapshot"));
        var rejects = pair.B.Sent.OfType<RejectMessage>().Count(r => r.Reason == RejectReason.NeedSnapshot);
        pair.B.Core.Receive(new AppendMessage(2, new LogPosition(1, 5), RecordBatch.Encode(c.Core.Log.Range(6, 7))));
        pair.B.Drain();
        Assert.That(pair.B.Sent.OfType<RejectMessage>().Count(r => r.Reason == RejectReason.NeedSnapshot), Is.EqualTo(rejects + 1), "an append is refused");
        Assert.That(pair.B.Core.Last.Index, Is.LessThan(6), "nothing of it is taken over the cut state");

        for (var round = 0; round < 100 && pair.B.Installed.Count == 0; round++)
        {
            c.Step();
            pair.B.Step();
        }

        for (var round = 0; round < 20; round++)
        {
            c.Step();
            pair.B.Step();
        }

        Assert.That(pair.B.Installed.Select(i => i.Position), Is.EqualTo(new[] { LogPosition.Zero }), "c's (empty) snapshot replaces b's state");
        Assert.That(c.SnapshotsSent, Is.EqualTo(1), "the appends refused meanwhile do not restart the transfer");
        Assert.That(pair.B.Core.AwaitingSnapshot, Is.False);
        Assert.That(pair.B.Core.PromotionRefusal(), Is.Null);
        Assert.That(pair.B.Core.Last, Is.EqualTo(new LogPosition(2, 12)), "and appends continue after it");
    }
}
