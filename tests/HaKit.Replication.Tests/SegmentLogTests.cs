using System.Text;
using HaKit.Replication.Storage;

namespace HaKit.Replication.Tests;

public sealed class SegmentLogTests
{
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("hakit-repl-seg-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static LogEntry Entry(long epoch, long index, string text) => new(new LogPosition(epoch, index), Encoding.UTF8.GetBytes(text));

    private static List<LogEntry> Entries(int count, long epoch = 1, long first = 1) =>
        Enumerable.Range(0, count).Select(i => Entry(epoch, first + i, $"entry-{first + i}-" + new string('x', i % 7))).ToList();

    private static List<LogEntry> Open(string dir, out SegmentLog log, LogPosition snapshot = default, long segmentBytes = 1 << 20)
    {
        var entries = new List<LogEntry>();
        log = SegmentLog.Open(dir, segmentBytes, snapshot, entries);
        return entries;
    }

    private static string Text(LogEntry e) => Encoding.UTF8.GetString(e.Data.Span);

    [Test]
    public void Appended_and_flushed_entries_are_read_back_in_order_after_reopening()
    {
        var written = Entries(50);
        Open(_dir, out var log);
        log.Append(written.ToArray());
        var (_, index) = log.Flush();
        Assert.That(index, Is.EqualTo(50));
        log.Dispose();

        var read = Open(_dir, out var reopened);
        using (reopened)
        {
            Assert.That(read.Select(e => e.Position), Is.EqualTo(written.Select(e => e.Position)));
            Assert.That(read.Select(Text), Is.EqualTo(written.Select(Text)));
            Assert.That(reopened.Last, Is.EqualTo(new LogPosition(1, 50)));
        }
    }

    [Test]
    public void The_group_commit_flusher_never_fails_while_the_writer_rolls_segments()
    {
        // Regression (issue 11, the Received stall at ~541k entries of 100 B, i.e. the first roll of a 64 MiB segment): a roll
        // closed the tail's handle before the new tail was open, and a flush in that window took the closed handle and threw
        // ObjectDisposedException, which stopped the replica's flusher and then its loop while its stream stayed up.
        Open(_dir, out var log, segmentBytes: 4096);
        using (log)
        {
            using var stop = new CancellationTokenSource();
            long flushes = 0;
            long lastFlushed = 0;
            var flusher = Task.Run(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var (_, index) = log.Flush();
                    Assert.That(index, Is.GreaterThanOrEqualTo(lastFlushed), "a flush reported less than an earlier one");
                    lastFlushed = index;
                    flushes++;
                }
            });
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(3);
            long next = 1;
            while (DateTime.UtcNow < deadline && !flusher.IsCompleted && log.SegmentCount < 400)
            {
                log.Append(Entries(8, first: next).ToArray());
                next += 8;
            }

            stop.Cancel();
            Assert.That(() => flusher.Wait(TimeSpan.FromSeconds(10)), Throws.Nothing, "the flusher failed while segments rolled");
            Assert.That(flusher.IsCompletedSuccessfully, Is.True);
            Assert.That(log.SegmentCount, Is.GreaterThan(20), "too few rolls to exercise the race");
            Assert.That(flushes, Is.GreaterThan(0));
            Assert.That(log.Flush().Index, Is.EqualTo(next - 1));
        }
    }

    [Test]
    public void A_torn_last_record_is_truncated_at_every_byte_it_could_be_cut()
    {
        var written = Entries(5);
        Open(_dir, out var log);
        log.Append(written.ToArray());
        log.Flush();
        log.Dispose();
        var file = Directory.GetFiles(_dir, "*.log").Single();
        var full = File.ReadAllBytes(file);
        var lastStart = full.Length - RecordCodec.SizeOf(written[^1]);

        for (var cut = lastStart; cut < full.Length; cut++)
        {
            var copy = Directory.CreateTempSubdirectory("hakit-repl-torn-").FullName;
            try
            {
                File.WriteAllBytes(Path.Combine(copy, Path.GetFileName(file)), full.AsSpan(0, cut).ToArray());
                var read = Open(copy, out var reopened);
                using (reopened)
                {
                    Assert.That(read.Select(e => e.Index), Is.EqualTo(new long[] { 1, 2, 3, 4 }), $"cut at {cut}");
                    Assert.That(new FileInfo(Path.Combine(copy, Path.GetFileName(file))).Length, Is.EqualTo(lastStart), $"cut at {cut}: truncated at the last valid record");

                    // The log goes on after the cut.
                    reopened.Append([Entry(1, 5, "again")]);
                    reopened.Flush();
                }

                var again = Open(copy, out var third);
                third.Dispose();
                Assert.That(again.Select(Text).Last(), Is.EqualTo("again"));
            }
            finally
            {
                Directory.Delete(copy, recursive: true);
            }
        }
    }

    [Test]
    public void A_last_record_whose_bytes_never_reached_the_disk_is_the_end_of_the_log()
    {
        // The size grew but the data is zeros (a crash between the size update and the data write): an all-zero header is the
        // end of the data (as in a preallocated file), and the next append overwrites the zeros.
        Open(_dir, out var log);
        log.Append(Entries(3).ToArray());
        log.Flush();
        log.Dispose();
        var file = Directory.GetFiles(_dir, "*.log").Single();
        using (var stream = new FileStream(file, FileMode.Append))
        {
            stream.Write(new byte[100]);
        }

        var read = Open(_dir, out var reopened);
        Assert.That(read, Has.Count.EqualTo(3));
        reopened.Append([Entry(1, 4, "four")]);
        reopened.Flush();
        reopened.Dispose();

        var again = Open(_dir, out var third);
        third.Dispose();
        Assert.That(again.Select(e => e.Index), Is.EqualTo(new long[] { 1, 2, 3, 4 }));
        Assert.That(Text(again[^1]), Is.EqualTo("four"));
    }

    [Test]
    public void A_bad_record_in_the_last_segment_ends_the_log_there_and_the_records_cut_after_it_are_reported()
    {
        var written = Entries(5);
        Open(_dir, out var log);
        log.Append(written.ToArray());
        log.Flush();
        log.Dispose();
        var file = Directory.GetFiles(_dir, "*.log").Single();
        var bytes = File.ReadAllBytes(file);
        var second = RecordCodec.SizeOf(written[0]);
        bytes[second + RecordCodec.HeaderSize + 1] ^= 0x40; // one bit of record 2's payload: a batch that reached the disk out of order
        File.WriteAllBytes(file, bytes);

        var entries = Open(_dir, out var reopened);

        Assert.That(entries.Select(e => e.Position.Index), Is.EqualTo(new long[] { 1 }), "the log ends before the first bad record");
        Assert.That(reopened.TornTail?.Path, Is.EqualTo(file), "records after the bad one were cut: reported, not silent");
        Assert.That(reopened.TornTail?.Offset, Is.EqualTo(second));
        Assert.That(reopened.TornTail?.BytesCut, Is.EqualTo(bytes.Length - second));
        Assert.That(reopened.TornTail?.What, Does.Contain("CRC-32C"));
        reopened.Dispose();
        Assert.That(new FileInfo(file).Length, Is.EqualTo(second), "the file is cut at the bad record");
    }

    [Test]
    public void A_cut_short_last_record_is_a_torn_tail_without_a_report()
    {
        var written = Entries(3);
        Open(_dir, out var log);
        log.Append(written.ToArray());
        log.Flush();
        log.Dispose();
        var file = Directory.GetFiles(_dir, "*.log").Single();
        var bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, bytes.AsSpan(0, bytes.Length - 2).ToArray());

        var entries = Open(_dir, out var reopened);

        Assert.That(entries, Has.Count.EqualTo(2));
        Assert.That(reopened.TornTail, Is.Null, "nothing beyond the torn record: the ordinary crash tail");
        reopened.Dispose();
    }

    [Test]
    public void A_bad_record_at_the_end_of_an_older_segment_is_corruption_not_a_torn_tail()
    {
        Open(_dir, out var log, segmentBytes: 200);
        log.Append(Entries(20).ToArray());
        log.Flush();
        log.Dispose();
        var files = Directory.GetFiles(_dir, "*.log").Order().ToArray();
        Assert.That(files, Has.Length.GreaterThan(2));
        var first = File.ReadAllBytes(files[0]);
        File.WriteAllBytes(files[0], first.AsSpan(0, first.Length - 3).ToArray());

        var error = Assert.Throws<ReplicationLogCorruptException>(() => Open(_dir, out _, segmentBytes: 200));
        Assert.That(error!.FilePath, Is.EqualTo(files[0]));
    }

    [Test]
    public void Segments_roll_and_truncation_removes_later_segments_and_records()
    {
        Open(_dir, out var log, segmentBytes: 200);
        log.Append(Entries(30).ToArray());
        log.Flush();
        var segments = log.SegmentCount;
        Assert.That(segments, Is.GreaterThan(3));
        var generation = log.Generation;
        log.TruncateAfter(7, 1);
        Assert.That(log.Generation, Is.GreaterThan(generation));
        Assert.That(log.Last, Is.EqualTo(new LogPosition(1, 7)));
        log.Append(Entries(3, epoch: 2, first: 8).ToArray());
        log.Flush();
        log.Dispose();

        var read = Open(_dir, out var reopened, segmentBytes: 200);
        reopened.Dispose();
        Assert.That(read.Select(e => e.Position), Is.EqualTo(Enumerable.Range(1, 7).Select(i => new LogPosition(1, i))
            .Concat(Enumerable.Range(8, 3).Select(i => new LogPosition(2, i)))));
    }

    [Test]
    public void Compaction_deletes_segments_covered_by_the_snapshot_and_reopening_starts_after_it()
    {
        Open(_dir, out var log, segmentBytes: 200);
        log.Append(Entries(40).ToArray());
        log.Flush();
        var before = Directory.GetFiles(_dir, "*.log").Length;
        var deleted = log.Compact(25);
        log.Dispose();
        Assert.That(deleted, Is.GreaterThan(0));
        Assert.That(Directory.GetFiles(_dir, "*.log"), Has.Length.EqualTo(before - deleted));

        var read = Open(_dir, out var reopened, new LogPosition(1, 25), segmentBytes: 200);
        using (reopened)
        {
            Assert.That(read.Select(e => e.Index), Is.EqualTo(Enumerable.Range(26, 15).Select(i => (long)i)));
            Assert.That(reopened.FirstIndex, Is.LessThanOrEqualTo(26));
        }
    }

    [Test]
    public void Compaction_keeps_the_record_at_its_point_and_a_log_opened_from_the_compaction_point_holds_what_the_snapshot_covers()
    {
        Open(_dir, out var log, segmentBytes: 200);
        log.Append(Entries(40).ToArray());
        log.Flush();
        Assert.That(log.Compact(25), Is.GreaterThan(0));
        var first = log.FirstIndex;
        log.Dispose();
        Assert.That(first, Is.LessThanOrEqualTo(25), "the segment holding the compaction point's record stays");

        // The snapshot at 30 is ahead of the compaction point: the entries in between come back, after the log's first record.
        var entries = new List<LogEntry>();
        using (var reopened = SegmentLog.Open(_dir, 200, new LogPosition(1, 30), entries, fromCompactionPoint: true))
        {
            Assert.That(reopened.Base, Is.EqualTo(new LogPosition(1, first)));
            Assert.That(entries.Select(e => e.Index), Is.EqualTo(Enumerable.Range((int)first + 1, 40 - (int)first).Select(i => (long)i)));
            Assert.That(reopened.Last, Is.EqualTo(new LogPosition(1, 40)));
        }

        // Without it (or when the log does not hold the snapshot's position) only what follows the snapshot.
        var after = Open(_dir, out var plain, new LogPosition(1, 30), segmentBytes: 200);
        using (plain)
        {
            Assert.That(plain.Base, Is.EqualTo(new LogPosition(1, 30)));
            Assert.That(after.Select(e => e.Index), Is.EqualTo(Enumerable.Range(31, 10).Select(i => (long)i)));
        }
    }

    [Test]
    public void A_log_with_another_epoch_at_the_snapshots_index_is_opened_after_the_snapshot_only()
    {
        Open(_dir, out var log);
        log.Append(Entries(10).ToArray());
        log.Flush();
        log.Dispose();

        // A crash between installing an owner's snapshot (epoch 2 at 8) and resetting the log: the log is another history.
        var entries = new List<LogEntry>();
        using var reopened = SegmentLog.Open(_dir, 1 << 20, new LogPosition(2, 8), entries, fromCompactionPoint: true);
        Assert.That(reopened.Base, Is.EqualTo(new LogPosition(2, 8)));
        Assert.That(entries.Select(e => e.Index), Is.EqualTo(new long[] { 9, 10 }), "as before: nothing at or below the snapshot");
    }

    [Test]
    public void A_log_that_ends_below_the_snapshot_is_kept_only_for_a_node_that_waits_for_the_owners_snapshot()
    {
        Open(_dir, out var log);
        log.Append(Entries(6).ToArray());
        log.Flush();
        log.Dispose();

        var kept = new List<LogEntry>();
        using (var waiting = SegmentLog.Open(_dir, 1 << 20, new LogPosition(1, 12), kept, fromCompactionPoint: true, keepShortLog: true))
        {
            Assert.That(waiting.Base, Is.EqualTo(new LogPosition(1, 1)));
            Assert.That(kept.Select(e => e.Index), Is.EqualTo(new long[] { 2, 3, 4, 5, 6 }), "what the owner's snapshot will replace, for the callback");
            Assert.That(waiting.Last, Is.EqualTo(new LogPosition(1, 6)));
        }

        var reset = new List<LogEntry>();
        using var fresh = SegmentLog.Open(_dir, 1 << 20, new LogPosition(1, 12), reset, fromCompactionPoint: true);
        Assert.That(reset, Is.Empty, "otherwise the log starts afresh after the snapshot");
        Assert.That(fresh.Last, Is.EqualTo(new LogPosition(1, 12)));
        Assert.That(Directory.GetFiles(_dir, "*.log").Select(Path.GetFileName), Is.EqualTo(new[] { "00000000000000000013.log" }));
    }

    [Test]
    public void Snapshots_are_saved_atomically_replace_older_ones_and_a_corrupt_one_is_an_error()
    {
        var store = new SnapshotStore(_dir);
        Assert.That(store.LoadLatest().Position, Is.EqualTo(LogPosition.Zero));
        store.Save(new SnapshotData(new LogPosition(1, 10), "ten"u8.ToArray()));
        store.Save(new SnapshotData(new LogPosition(2, 20), "twenty"u8.ToArray()));
        Assert.That(Directory.GetFiles(_dir, "snapshot-*"), Has.Length.EqualTo(1));
        var loaded = store.LoadLatest();
        Assert.That(loaded.Position, Is.EqualTo(new LogPosition(2, 20)));
        Assert.That(Encoding.UTF8.GetString(loaded.Data.Span), Is.EqualTo("twenty"));

        var file = Directory.GetFiles(_dir, "snapshot-*").Single();
        var bytes = File.ReadAllBytes(file);
        bytes[33] ^= 1;
        File.WriteAllBytes(file, bytes);
        var error = Assert.Throws<ReplicationLogCorruptException>(() => store.LoadLatest());
        Assert.That(error!.FilePath, Is.EqualTo(file));
    }

    [Test]
    public void The_epoch_file_survives_reopening()
    {
        Assert.That(EpochFile.Read(_dir), Is.Zero);
        EpochFile.Write(_dir, 42);
        Assert.That(EpochFile.Read(_dir), Is.EqualTo(42));
    }

    [Test]
    public void Crc32C_matches_the_standard_check_value()
    {
        // The CRC-32C check value of "123456789" (RFC 3720 / iSCSI).
        Assert.That(Crc32C.Compute("123456789"u8), Is.EqualTo(0xE3069283u));
    }
}
