using System.Text;
using HaKit.Replication.Storage;

namespace HaKit.Replication.Tests;

/// <summary>
/// The segment log with preallocation on (issue 11, Durable p50): segments are prepared ahead at their full size, zero-filled,
/// and written in place; the data ends at the first all-zero record header.
/// </summary>
public sealed class PreallocatedSegmentTests
{
    private const long SegmentBytes = 64 * 1024;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("hakit-repl-prealloc-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static LogEntry Entry(long epoch, long index, int bytes = 1000) =>
        new(new LogPosition(epoch, index), Encoding.UTF8.GetBytes($"entry-{epoch}-{index}-".PadRight(bytes, (char)('a' + (index % 26)))));

    private static LogEntry[] Entries(long first, int count, long epoch = 1, int bytes = 1000) =>
        Enumerable.Range(0, count).Select(i => Entry(epoch, first + i, bytes)).ToArray();

    private static List<LogEntry> Open(string dir, out SegmentLog log, bool preallocate = true, LogPosition snapshot = default)
    {
        var entries = new List<LogEntry>();
        log = SegmentLog.Open(dir, SegmentBytes, snapshot, entries, preallocate);
        return entries;
    }

    /// <summary>Opens, waits for the first prepared file and appends one entry, which moves the log onto it.</summary>
    private static SegmentLog OpenPreallocated(string dir)
    {
        Open(dir, out var log);
        Assert.That(log.WaitForPreparedSegment(Wait), Is.True, "the first segment file was not prepared");
        log.Append([Entry(1, 1)]);
        Assert.That(log.TailPreallocated, Is.True, "the append did not move the log onto the prepared file");
        return log;
    }

    private static void AssertEntries(List<LogEntry> read, IEnumerable<LogEntry> expected)
    {
        var want = expected.ToList();
        Assert.That(read.Select(e => e.Position), Is.EqualTo(want.Select(e => e.Position)));
        Assert.That(read.Select(e => e.Data.ToArray()), Is.EqualTo(want.Select(e => e.Data.ToArray())));
    }

    private string TailFile() => Directory.GetFiles(_dir, "*.log").Order().Last();

    [Test]
    public void A_new_log_moves_onto_a_prepared_zero_filled_file_of_the_full_size_and_reads_back()
    {
        var log = OpenPreallocated(_dir);
        log.Append(Entries(2, 9));
        log.Flush();
        log.Dispose();

        var tail = TailFile();
        Assert.That(new FileInfo(tail).Length, Is.EqualTo(SegmentBytes), "the tail keeps its preallocated size");
        var bytes = File.ReadAllBytes(tail);
        var used = Entries(1, 10).Sum(e => RecordCodec.SizeOf(e));
        Assert.That(bytes.AsSpan(used).ContainsAnyExcept((byte)0), Is.False, "after the records the file is zeros");

        var read = Open(_dir, out var reopened);
        using (reopened)
        {
            AssertEntries(read, Entries(1, 10));
            Assert.That(reopened.Last, Is.EqualTo(new LogPosition(1, 10)));
            Assert.That(reopened.TailPreallocated, Is.True, "reopened, the tail is still written in place");
        }
    }

    [Test]
    public void Segments_roll_onto_the_prepared_next_file_without_a_miss()
    {
        var log = OpenPreallocated(_dir);
        long next = 2;
        for (var segment = 0; segment < 4; segment++)
        {
            // The tail holds 1 record of 1,024 B. The next file is prepared once the tail is a quarter full; wait for it, fill the
            // tail (64 records) and roll onto the prepared file with one more.
            log.Append(Entries(next, 20));
            next += 20;
            Assert.That(log.WaitForPreparedSegment(Wait), Is.True, $"segment {segment}: the next file was not prepared");
            log.Append(Entries(next, 44));
            next += 44;
            Assert.That(log.SegmentCount, Is.EqualTo(segment + 2), "rolled with the 65th record");
        }

        log.Flush();
        Assert.That(log.PreallocationMisses, Is.Zero);
        Assert.That(log.SegmentCount, Is.GreaterThanOrEqualTo(5));
        Assert.That(log.TailPreallocated, Is.True);
        log.Dispose();

        var files = Directory.GetFiles(_dir, "*.log").Order().ToArray();
        Assert.That(files.Skip(1).Select(f => new FileInfo(f).Length), Is.All.EqualTo(SegmentBytes), "every segment after the first was preallocated");
        var read = Open(_dir, out var reopened);
        reopened.Dispose();
        AssertEntries(read, Entries(1, (int)next - 1));
    }

    [Test]
    public void A_roll_with_nothing_prepared_falls_back_to_a_grown_file_counts_it_and_moves_on_later()
    {
        var log = OpenPreallocated(_dir);
        log.SuspendPreparation = true;
        log.Append(Entries(2, 80)); // over one segment: a roll with nothing prepared
        Assert.That(log.PreallocationMisses, Is.EqualTo(1));
        Assert.That(log.TailPreallocated, Is.False, "the fallback is an append-grown file");
        var grown = TailFile();

        log.SuspendPreparation = false;
        log.Append(Entries(82, 2)); // starts preparing (the tail is grown)
        Assert.That(log.WaitForPreparedSegment(Wait), Is.True);
        log.Append(Entries(84, 1)); // moves onto the prepared file at once
        Assert.That(log.TailPreallocated, Is.True);
        Assert.That(log.PreallocationMisses, Is.EqualTo(1), "an early switch is not a miss");
        log.Flush();
        log.Dispose();

        Assert.That(new FileInfo(grown).Length, Is.LessThan(SegmentBytes), "the fallback file grew with its appends");
        var read = Open(_dir, out var reopened);
        reopened.Dispose();
        AssertEntries(read, Entries(1, 84));
    }

    [Test]
    public void A_torn_last_record_in_a_preallocated_file_is_cut_and_the_log_goes_on()
    {
        var log = OpenPreallocated(_dir);
        log.Append(Entries(2, 4));
        log.Flush();
        log.Dispose();
        var tail = TailFile();
        var lastStart = Entries(1, 4).Sum(e => RecordCodec.SizeOf(e));
        var lastSize = RecordCodec.SizeOf(Entry(1, 5));

        // Each way the last record can be left by a crash in a preallocated file: its payload's end, half its header (the rest
        // of the header and the payload never written), or its header and no payload.
        (int From, int To)[] lost = [(lastStart + lastSize - 100, lastStart + lastSize), (lastStart + 12, lastStart + lastSize), (lastStart + RecordCodec.HeaderSize, lastStart + lastSize)];
        var original = File.ReadAllBytes(tail);
        foreach (var (from, to) in lost)
        {
            foreach (var file in Directory.GetFiles(_dir))
            {
                File.Delete(file); // what an earlier round wrote (a prepared file, a newer segment)
            }

            var bytes = (byte[])original.Clone();
            Array.Clear(bytes, from, to - from);
            File.WriteAllBytes(tail, bytes);

            var read = Open(_dir, out var reopened);
            Assert.That(read.Select(e => e.Index), Is.EqualTo(new long[] { 1, 2, 3, 4 }), $"zeros at {from}..{to}");
            Assert.That(new FileInfo(tail).Length, Is.EqualTo(lastStart), $"zeros at {from}..{to}: cut at the last valid record");
            reopened.Append([Entry(2, 5)]);
            reopened.Flush();
            reopened.Dispose();

            var again = Open(_dir, out var third);
            third.Dispose();
            AssertEntries(again, Entries(1, 4).Append(Entry(2, 5)));
        }
    }

    [Test]
    public void Pages_of_a_batch_that_reached_a_preallocated_file_out_of_order_are_cut_at_the_first_bad_record_and_reported()
    {
        var log = OpenPreallocated(_dir);
        log.Append(Entries(2, 4));
        log.Flush();
        log.Dispose();
        var tail = TailFile();
        var original = File.ReadAllBytes(tail);
        var second = RecordCodec.SizeOf(Entry(1, 1));
        var dataEnd = original.AsSpan().LastIndexOfAnyExcept((byte)0) + 1; // the end of the last record written

        // A record with a bad CRC and valid records after it (its page never reached the disk intact, the next ones did).
        var flipped = (byte[])original.Clone();
        flipped[second + RecordCodec.HeaderSize + 3] ^= 0x01;
        File.WriteAllBytes(tail, flipped);
        var entries = Open(_dir, out var reopened);
        Assert.That(entries.Select(e => e.Position.Index), Is.EqualTo(new long[] { 1 }));
        Assert.That((reopened.TornTail?.Path, reopened.TornTail?.Offset, reopened.TornTail?.BytesCut), Is.EqualTo((tail, (long)second, (long)(dataEnd - second))));
        Assert.That(reopened.TornTail?.What, Does.Contain("CRC-32C"));
        reopened.Dispose();

        // A record whose page is all zeros (never written), with records after it: the same, reported as a zero header.
        var hole = (byte[])original.Clone();
        Array.Clear(hole, second, RecordCodec.SizeOf(Entry(1, 2)));
        File.WriteAllBytes(tail, hole);
        entries = Open(_dir, out reopened);
        Assert.That(entries.Select(e => e.Position.Index), Is.EqualTo(new long[] { 1 }));
        Assert.That(reopened.TornTail?.Offset, Is.EqualTo(second), "the cut is reported where the all-zero header was");
        Assert.That(reopened.TornTail?.What, Does.Contain("all-zero record header"));
        reopened.Dispose();
    }

    [Test]
    public void A_bad_record_in_an_older_preallocated_segment_is_corruption_even_when_zeros_follow_it()
    {
        var log = OpenPreallocated(_dir);
        log.Append(Entries(2, 20));
        Assert.That(log.WaitForPreparedSegment(Wait), Is.True);
        log.Append(Entries(22, 70, bytes: 900)); // 924 B records: the older segment ends with zeros after its last record
        log.Flush();
        log.Dispose();
        var files = Directory.GetFiles(_dir, "*.log").Order().ToArray();
        var older = files[^2];
        Assert.That(new FileInfo(older).Length, Is.EqualTo(SegmentBytes));
        var bytes = File.ReadAllBytes(older);
        var end = bytes.AsSpan().LastIndexOfAnyExcept((byte)0) + 1;
        Array.Clear(bytes, end - 50, 50); // the older segment's last record, as a torn write would leave it

        File.WriteAllBytes(older, bytes);
        var error = Assert.Throws<ReplicationLogCorruptException>(() => Open(_dir, out _));
        Assert.That(error!.FilePath, Is.EqualTo(older));
    }

    [Test]
    public void Truncation_cuts_what_it_removes_so_reopening_never_reads_stale_records()
    {
        var log = OpenPreallocated(_dir);
        log.Append(Entries(2, 9));
        log.Flush();
        log.TruncateAfter(5, 1);
        log.Dispose();

        var read = Open(_dir, out var reopened);
        AssertEntries(read, Entries(1, 5));
        reopened.Append(Entries(6, 2, epoch: 2));
        reopened.Flush();
        reopened.Dispose();

        read = Open(_dir, out reopened);
        reopened.Dispose();
        AssertEntries(read, Entries(1, 5).Concat(Entries(6, 2, epoch: 2)));
    }

    [Test]
    public void Truncation_then_more_appends_in_the_same_session_and_a_switch_onto_a_prepared_file_read_back()
    {
        var log = OpenPreallocated(_dir);
        log.Append(Entries(2, 9));
        log.TruncateAfter(5, 1);
        Assert.That(log.TailPreallocated, Is.False, "the cut tail grows until the next prepared file replaces it");
        log.Append(Entries(6, 2, epoch: 2));
        Assert.That(log.WaitForPreparedSegment(Wait), Is.True);
        log.Append(Entries(8, 3, epoch: 2));
        Assert.That(log.TailPreallocated, Is.True);
        log.Flush();
        log.Dispose();

        var read = Open(_dir, out var reopened);
        reopened.Dispose();
        AssertEntries(read, Entries(1, 5).Concat(Entries(6, 5, epoch: 2)));
    }

    [Test]
    public void An_old_log_of_grown_files_opens_with_preallocation_and_moves_onto_prepared_files()
    {
        // Written by the code before preallocation (append-grown files, each as long as its records).
        Open(_dir, out var old, preallocate: false);
        old.Append(Entries(1, 100));
        old.Flush();
        old.Dispose();
        var oldFiles = Directory.GetFiles(_dir, "*.log").Order().ToArray();
        Assert.That(oldFiles, Has.Length.GreaterThan(1));
        Assert.That(Directory.GetFiles(_dir, "next.prealloc*"), Is.Empty);
        var sizes = oldFiles.Select(f => new FileInfo(f).Length).ToArray();

        var read = Open(_dir, out var log);
        AssertEntries(read, Entries(1, 100));
        Assert.That(oldFiles.Select(f => new FileInfo(f).Length), Is.EqualTo(sizes), "opening changes no old file");
        Assert.That(log.WaitForPreparedSegment(Wait), Is.True);
        log.Append(Entries(101, 5));
        Assert.That(log.TailPreallocated, Is.True);
        log.Flush();
        log.Dispose();

        read = Open(_dir, out var reopened);
        reopened.Dispose();
        AssertEntries(read, Entries(1, 105));
    }

    [Test]
    public void Compaction_recycles_a_preallocated_segment_as_the_next_prepared_file()
    {
        var log = OpenPreallocated(_dir);
        long next = 2;
        for (var segment = 0; segment < 2; segment++)
        {
            // The tail holds 1 record of 1,024 B: 20 more make it a quarter full (the next file is prepared), 43 more fill it
            // exactly, and one more rolls onto the prepared file, whose tail (1 record) prepares nothing yet.
            log.Append(Entries(next, 20));
            next += 20;
            Assert.That(log.WaitForPreparedSegment(Wait), Is.True);
            log.Append(Entries(next, 43));
            next += 43;
            log.Append(Entries(next, 1));
            next += 1;
        }

        var prepared = log.PreparedSegments;
        Assert.That(log.WaitForPreparedSegment(TimeSpan.Zero), Is.False, "nothing prepared after the rolls (the tails are not a quarter full)");
        var first = Directory.GetFiles(_dir, "*.log").Order().First();
        var deleted = log.Compact(next - 30);
        Assert.That(deleted, Is.GreaterThan(0));
        Assert.That(File.Exists(first), Is.False);
        Assert.That(log.WaitForPreparedSegment(Wait), Is.True, "the compacted segment became the next prepared file");
        Assert.That(log.PreparedSegments, Is.EqualTo(prepared + 1));
        var ready = Path.Combine(_dir, SegmentPreparer.ReadyName);
        Assert.That(new FileInfo(ready).Length, Is.EqualTo(SegmentBytes));
        Assert.That(File.ReadAllBytes(ready).AsSpan().ContainsAnyExcept((byte)0), Is.False, "the recycled file was zeroed");

        // Fill the tail: the roll takes the recycled file.
        log.Append(Entries(next, 70));
        next += 70;
        Assert.That(log.PreallocationMisses, Is.Zero);
        log.Flush();
        var firstKept = log.FirstIndex;
        log.Dispose();

        var read = Open(_dir, out var reopened, snapshot: new LogPosition(1, next - 100));
        reopened.Dispose();
        AssertEntries(read, Entries(next - 99, 99));
        Assert.That(firstKept, Is.LessThanOrEqualTo(next - 99));
    }

    [Test]
    public void A_reset_starts_the_log_afresh_in_the_prepared_file()
    {
        var log = OpenPreallocated(_dir);
        log.Append(Entries(2, 20));
        Assert.That(log.WaitForPreparedSegment(Wait), Is.True);
        log.Reset(new LogPosition(3, 500));
        Assert.That(log.TailPreallocated, Is.True);
        Assert.That(log.PreallocationMisses, Is.Zero);
        log.Append(Entries(501, 3, epoch: 3));
        log.Flush();
        log.Dispose();

        var read = Open(_dir, out var reopened, snapshot: new LogPosition(3, 500));
        reopened.Dispose();
        AssertEntries(read, Entries(501, 3, epoch: 3));
    }

    [Test]
    public void A_prepared_file_left_by_a_run_is_reused_and_a_half_prepared_one_is_deleted()
    {
        Open(_dir, out var log);
        Assert.That(log.WaitForPreparedSegment(Wait), Is.True);
        log.Dispose();
        var ready = Path.Combine(_dir, SegmentPreparer.ReadyName);
        Assert.That(File.Exists(ready), Is.True, "a ready file stays for the next open");
        var tmp = Path.Combine(_dir, SegmentPreparer.TempName);
        File.WriteAllBytes(tmp, new byte[100]);

        Open(_dir, out var again);
        using (again)
        {
            Assert.That(File.Exists(tmp), Is.False);
            Assert.That(again.WaitForPreparedSegment(TimeSpan.Zero), Is.True, "the left file is ready at once");
            Assert.That(again.PreparedSegments, Is.Zero, "nothing was prepared again");
        }

        Open(_dir, out var off, preallocate: false);
        off.Dispose();
        Assert.That(Directory.GetFiles(_dir, "next.prealloc*"), Is.Empty, "with preallocation off the file is removed");
    }

    [Test]
    public void The_option_is_on_by_default_and_a_group_can_turn_it_off()
    {
        Assert.That(new ReplicationOptions().PreallocateSegments, Is.True);
        var node = new HaKitOptions { NodeName = "a", StateDirectory = _dir };
        var registration = new ReplicationRegistration("kv", _ => throw new NotSupportedException(), null, null);
        var host = new ReplicationHostOptions();
        Assert.That(ReplicationHostSetup.GroupOptions(host, node, registration, TimeProvider.System).PreallocateSegments, Is.True);
        host.Groups["kv"] = new ReplicationGroupOptions { PreallocateSegments = false };
        Assert.That(ReplicationHostSetup.GroupOptions(host, node, registration, TimeProvider.System).PreallocateSegments, Is.False);
    }

    [Test]
    public async Task A_replicated_log_with_preallocation_off_writes_grown_files_only()
    {
        var options = new ReplicationOptions { Group = "g", Directory = _dir, SegmentBytes = SegmentBytes, PreallocateSegments = false };
        await using (var store = await ReplicatedKvStore.OpenAsync(options))
        {
            Assert.That(store.Log.Storage.WaitForPreparedSegment(TimeSpan.Zero), Is.False);
            Assert.That(store.Log.Storage.TailPreallocated, Is.False);
        }

        Assert.That(Directory.GetFiles(_dir, "next.prealloc*"), Is.Empty);
        options.PreallocateSegments = true;
        await using (var store = await ReplicatedKvStore.OpenAsync(options))
        {
            Assert.That(store.Log.Storage.WaitForPreparedSegment(Wait), Is.True, "on: the first segment file is prepared at open");
        }
    }

    [Test]
    public void An_all_zero_header_never_reads_as_a_record()
    {
        Assert.That(RecordCodec.TryRead(new byte[RecordCodec.HeaderSize], out _, out _, out _), Is.Not.EqualTo(RecordCodec.ReadResult.Ok),
            "length 0, epoch 0, index 0 with a zero CRC-32C must fail its checksum");
        var header = new byte[RecordCodec.HeaderSize];
        RecordCodec.WriteHeader(header, new LogEntry(new LogPosition(0, 1), ReadOnlyMemory<byte>.Empty));
        Assert.That(header.AsSpan().ContainsAnyExcept((byte)0), Is.True, "the smallest record (index 1, empty) has a non-zero header");
        Assert.Throws<InvalidOperationException>(() =>
        {
            Open(_dir, out var log);
            using (log)
            {
                log.Append([new LogEntry(LogPosition.Zero, ReadOnlyMemory<byte>.Empty)]);
            }
        }, "index 0 (the only way to an all-zero header) is refused");
    }
}
