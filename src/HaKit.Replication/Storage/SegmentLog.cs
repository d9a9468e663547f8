using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace HaKit.Replication.Storage;

/// <summary>
/// The on-disk log of one group: segment files <c>{firstIndex:D20}.log</c> of records in the <see cref="RecordCodec"/> format,
/// written one after the other. With preallocation (the default) a segment file is created at its full size, zero-filled and
/// fdatasynced ahead of need by a <see cref="SegmentPreparer"/>, so that appends overwrite zeros in place and the group commit's
/// fdatasync flushes data only (no change of the file's size to commit through the file system's journal); when no prepared file
/// is ready (or preallocation is off) a segment is an append-grown file as before, and a grown tail is replaced by the prepared
/// file as soon as one is ready. The log's data in a segment ends at the physical end of the file or at the first record header
/// that is all zeros (no record's header is: its index is at least 1). Appends are written (page cache) by the replica's loop
/// and made durable by <see cref="Flush"/> from the group-commit flusher: one fdatasync covers every append written before it.
/// On open, a torn tail (an invalid or partial last record of the last segment followed only by zeros or the end of the file)
/// is cut off (the file truncated at the last valid record); any other bad record throws
/// <see cref="ReplicationLogCorruptException"/> naming the file and offset. Truncation cuts the file too (never zeroes in
/// place): a crash then leaves the old length or the new one, never a hole followed by stale records.
/// </summary>
internal sealed partial class SegmentLog : IDisposable
{
    private const string Extension = ".log";

    private readonly string _directory;
    private readonly long _segmentBytes;
    private readonly SegmentPreparer? _preparer;
    private readonly List<Segment> _segments = [];
    private readonly Lock _gate = new();
    private byte[] _buffer = new byte[64 * 1024];
    private SafeFileHandle? _tail;
    private FileStream? _tailStream;
    private string _tailPath = "";
    private long _generation;
    private long _writtenIndex;
    private long _preallocationMisses;
    private bool _disposed;

    private SegmentLog(string directory, long segmentBytes, bool preallocate)
    {
        _directory = directory;
        _segmentBytes = segmentBytes;
        if (preallocate)
        {
            _preparer = new SegmentPreparer(directory, segmentBytes);
        }
        else
        {
            // Preallocation off: a file prepared by an earlier run is not used (and would only take space).
            File.Delete(Path.Combine(directory, SegmentPreparer.ReadyName));
            File.Delete(Path.Combine(directory, SegmentPreparer.TempName));
        }
    }

    /// <summary>
    /// Set by <see cref="Open"/> when the torn tail it cut held non-zero bytes beyond the first bad record (a batch whose pages reached
    /// the disk out of order before its fdatasync); null when the tail was clean or only a cut-short last record.
    /// </summary>
    public TornTail? TornTail { get; private set; }

    /// <summary>The position of the last record written (the snapshot's position when the log holds nothing after it).</summary>
    public LogPosition Last { get; private set; }

    /// <summary>The position the entries <see cref="Open"/> returned follow: the snapshot's, or with <c>fromCompactionPoint</c>
    /// the log's first record when it holds the snapshot's position.</summary>
    public LogPosition Base { get; private set; }

    /// <summary>The index of the first record still on disk (segments before it were compacted), or <c>Last.Index + 1</c>.</summary>
    public long FirstIndex => _segments.Count > 0 && _segments[0].Count > 0 ? _segments[0].FirstIndex : Last.Index + 1;

    /// <summary>The number of segment files.</summary>
    public int SegmentCount => _segments.Count;

    /// <summary>Whether the tail (the segment being written) is a preallocated file (appends overwrite zeros in place).</summary>
    public bool TailPreallocated => _segments.Count > 0 && _segments[^1].Capacity >= _segmentBytes;

    /// <summary>New segments (a roll or a reset) that had to be append-grown files because no prepared file was ready (preallocation
    /// on).</summary>
    public long PreallocationMisses => Interlocked.Read(ref _preallocationMisses);

    /// <summary>Prepared files made since the log opened (0 with preallocation off).</summary>
    public long PreparedSegments => _preparer?.Prepared ?? 0;

    /// <summary>Preparations that failed with an I/O error (0 with preallocation off).</summary>
    public long PreparationFailures => _preparer?.Failures ?? 0;

    /// <summary>Tests: no new preparation starts while set (one under way finishes), so that a roll finds nothing ready.</summary>
    internal bool SuspendPreparation { get; set; }

    /// <summary>Waits (at most <paramref name="timeout"/>) for the preparation under way; whether a prepared file is ready
    /// (benchmarks and tests).</summary>
    public bool WaitForPreparedSegment(TimeSpan timeout) => _preparer?.WaitReady(timeout) ?? false;

    /// <summary>Bumped by every truncation and reset: a flush result of an older generation no longer describes the log.</summary>
    public long Generation
    {
        get
        {
            lock (_gate)
            {
                return _generation;
            }
        }
    }

    /// <summary>Writes <paramref name="entries"/> after <see cref="Last"/> (not yet durable: <see cref="Flush"/> makes them so).</summary>
    /// <exception cref="InvalidOperationException">An entry does not follow the log (index gap or lower epoch).</exception>
    public void Append(ReadOnlySpan<LogEntry> entries)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var start = 0;
        while (start < entries.Length)
        {
            var tail = _segments[^1];
            if (tail.Count == 0 && tail.Capacity < _segmentBytes && _preparer is { IsReady: true })
            {
                // An empty append-grown tail (a new log's first segment, a reset's) while a prepared file is ready: use that.
                ReplaceEmptyTail();
                tail = _segments[^1];
            }
            else if (tail.Count > 0 && (tail.Size + RecordCodec.SizeOf(entries[start]) > _segmentBytes
                || (tail.Capacity < _segmentBytes && _preparer is { IsReady: true })))
            {
                // Full (the next record does not fit), or an append-grown tail while a prepared file is ready: switch to it.
                Roll(entries[start].Index);
                tail = _segments[^1];
            }

            // As many entries as fit the segment's budget (at least one) in one write.
            var size = 0;
            var end = start;
            var last = Last;
            while (end < entries.Length && (end == start || tail.Size + size + RecordCodec.SizeOf(entries[end]) <= _segmentBytes))
            {
                var entry = entries[end];
                if (entry.Index != last.Index + 1 || entry.Epoch < last.Epoch)
                {
                    throw new InvalidOperationException($"entry {entry.Position} does not follow {last}");
                }

                last = entry.Position;
                size += RecordCodec.SizeOf(entry);
                end++;
            }

            if (_buffer.Length < size)
            {
                _buffer = new byte[Math.Max(size, _buffer.Length * 2)];
            }

            var at = 0;
            for (var i = start; i < end; i++)
            {
                at += RecordCodec.Write(_buffer.AsSpan(at), entries[i]);
            }

            RandomAccess.Write(_tail!, _buffer.AsSpan(0, size), tail.Size);
            tail.Size += size;
            tail.Count += end - start;
            lock (_gate)
            {
                Last = last;
                _writtenIndex = last.Index;
            }

            start = end;
        }

        PrepareAhead();
    }

    /// <summary>
    /// Makes every record written so far durable (one fdatasync). Safe to call from another thread than the writer's, while it
    /// writes (group commit). Returns the generation and the index it covers.
    /// </summary>
    public (long Generation, long Index) Flush()
    {
        SafeFileHandle handle;
        FileStream? stream;
        long generation, index;
        string path;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            generation = _generation;
            index = _writtenIndex;
            if (_tail is null)
            {
                // The writer is replacing the tail (a roll, a truncation, a reset). A roll made the finished segment durable
                // before closing it, so everything written is durable; a truncation or reset bumps the generation when it
                // ends, and the caller ignores a flush of an older generation.
                return (generation, index);
            }

            handle = _tail;
            stream = _tailStream;
            path = _tailPath;
            var added = false;
            handle.DangerousAddRef(ref added);
        }

        try
        {
            DurableFile.DataSync(handle, stream, path);
        }
        finally
        {
            handle.DangerousRelease();
        }

        return (generation, index);
    }

    /// <summary>Removes every record after <paramref name="index"/> (durably) and bumps <see cref="Generation"/>.</summary>
    public void TruncateAfter(long index, long epochAtIndex)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (index >= Last.Index)
        {
            return;
        }

        if (index < FirstIndex - 1)
        {
            throw new InvalidOperationException($"cannot truncate after {index}: the log on disk starts at {FirstIndex}; reset it to a snapshot instead");
        }

        CloseTail();
        while (_segments.Count > 1 && _segments[^1].FirstIndex > index + 1)
        {
            File.Delete(_segments[^1].Path);
            _segments.RemoveAt(_segments.Count - 1);
        }

        var tail = _segments[^1];
        var keep = index + 1 - tail.FirstIndex;
        if (keep < tail.Count)
        {
            // Truncation is rare (a divergence): find the record's offset by reading the segment rather than keeping an index.
            tail.Size = OffsetOf(tail.Path, keep);
            tail.Count = keep;
            TruncateFile(tail.Path, tail.Size);
            tail.Capacity = tail.Size; // cut, not zeroed: append-grown until the next prepared file replaces it
        }

        DurableFile.SyncDirectory(_directory);
        OpenTail();
        lock (_gate)
        {
            _generation++;
            Last = new LogPosition(epochAtIndex, index);
            _writtenIndex = index;
        }
    }

    /// <summary>Deletes every segment (durably); the log continues after <paramref name="snapshot"/>. Bumps <see cref="Generation"/>.</summary>
    public void Reset(LogPosition snapshot)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        DeleteAllSegments();
        CreateTail(snapshot.Index + 1);
        lock (_gate)
        {
            _generation++;
            Last = snapshot;
            _writtenIndex = snapshot.Index;
        }
    }

    /// <summary>Deletes the segments whose records all have an index below <paramref name="index"/> (never the tail): the record
    /// at <paramref name="index"/> (the compaction point) stays on disk, so a reopened log knows the position its entries follow
    /// (<see cref="Open"/> with <c>fromCompactionPoint</c>).</summary>
    /// <returns>How many segment files were deleted.</returns>
    public int Compact(long index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var deleted = 0;
        long? recycled = null;
        while (_segments.Count > 1 && _segments[1].FirstIndex <= index)
        {
            var segment = _segments[0];
            if (recycled is null && _preparer is { IsIdle: true } && !SuspendPreparation && segment.Capacity >= _segmentBytes)
            {
                // Recycled as the next prepared file: its blocks are allocated and written already; only its used part
                // is zeroed again (on the preparer's thread).
                File.Move(segment.Path, _preparer.TempPath, overwrite: true);
                recycled = segment.Size;
            }
            else
            {
                File.Delete(segment.Path);
            }

            _segments.RemoveAt(0);
            deleted++;
        }

        if (deleted > 0)
        {
            DurableFile.SyncDirectory(_directory);
        }

        if (recycled is { } used && _preparer?.Start(used) != true)
        {
            File.Delete(_preparer!.TempPath);
        }

        return deleted;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _preparer?.Dispose();
        CloseTail();
    }

    private void Roll(long firstIndex)
    {
        // The finished segment is made durable here, so the flusher only ever needs to sync the tail.
        DurableFile.DataSync(_tail!, _tailStream, _segments[^1].Path);
        CloseTail();
        CreateTail(firstIndex);
    }

    private void ReplaceEmptyTail()
    {
        CloseTail();
        var tail = _segments[^1];
        if (_preparer!.TryTake(tail.Path))
        {
            DurableFile.SyncDirectory(_directory);
            tail.Capacity = _segmentBytes;
        }

        OpenTail();
    }

    private void CreateTail(long firstIndex)
    {
        var path = Path.Combine(_directory, firstIndex.ToString("D20", CultureInfo.InvariantCulture) + Extension);
        long capacity = 0;
        if (_preparer is not null && _preparer.TryTake(path))
        {
            capacity = _segmentBytes;
        }
        else
        {
            if (_preparer is not null)
            {
                Interlocked.Increment(ref _preallocationMisses);
            }

            File.WriteAllBytes(path, []);
        }

        DurableFile.SyncDirectory(_directory);
        _segments.Add(new Segment(path, firstIndex) { Capacity = capacity });
        OpenTail();
    }

    /// <summary>
    /// Starts preparing the next segment when none is ready or under way and the tail is append-grown (it is replaced as soon as
    /// the file is ready) or a quarter full (the file is ready long before the tail fills: preparing it costs about one
    /// segment's worth of writes, spread over the tail's remaining three quarters).
    /// </summary>
    private void PrepareAhead()
    {
        if (_preparer is { IsIdle: true } && _segments.Count > 0 && !SuspendPreparation)
        {
            var tail = _segments[^1];
            if (tail.Capacity < _segmentBytes || tail.Size >= _segmentBytes / 4)
            {
                _preparer.Start();
            }
        }
    }

    private void OpenTail()
    {
        var handle = File.OpenHandle(_segments[^1].Path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        var stream = OperatingSystem.IsLinux() ? null : new FileStream(handle, FileAccess.ReadWrite, bufferSize: 0);
        lock (_gate)
        {
            _tail = handle;
            _tailStream = stream;
            _tailPath = _segments[^1].Path;
        }
    }

    private void CloseTail()
    {
        SafeFileHandle? handle;
        FileStream? stream;
        // The flusher takes the tail under the lock and holds a reference while it syncs: once _tail is null it cannot take
        // the handle being closed (it used to, between this close and the next open, and failed with ObjectDisposedException).
        lock (_gate)
        {
            handle = _tail;
            stream = _tailStream;
            _tail = null;
            _tailStream = null;
        }

        stream?.Dispose();
        handle?.Dispose();
    }

    private void DeleteAllSegments()
    {
        CloseTail();
        foreach (var segment in _segments)
        {
            File.Delete(segment.Path);
        }

        _segments.Clear();
        DurableFile.SyncDirectory(_directory);
    }

    private static long OffsetOf(string path, long records)
    {
        var bytes = File.ReadAllBytes(path);
        long offset = 0;
        for (long i = 0; i < records; i++)
        {
            offset += RecordCodec.HeaderSize + System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)offset));
        }

        return offset;
    }

    /// <summary>Points the entries read from one segment (from <paramref name="first"/> on) into a copy of its first
    /// <paramref name="size"/> bytes, so that the rest of a preallocated file's buffer (zeros) is not kept in memory.</summary>
    private static void KeepPrefix(List<LogEntry> entries, int first, byte[] bytes, long size)
    {
        var prefix = new ReadOnlyMemory<byte>(bytes.AsSpan(0, (int)size).ToArray());
        for (var i = first; i < entries.Count; i++)
        {
            var entry = entries[i];
            System.Runtime.InteropServices.MemoryMarshal.TryGetArray(entry.Data, out var slice);
            entries[i] = new LogEntry(entry.Position, prefix.Slice(slice.Offset, slice.Count));
        }
    }

    private static void TruncateFile(string path, long length)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        RandomAccess.SetLength(handle, length);
        DurableFile.DataSync(handle, null, path);
    }

    private sealed class Segment(string path, long firstIndex)
    {
        public string Path { get; } = path;

        public long FirstIndex { get; } = firstIndex;

        public long Count { get; set; }

        public long Size { get; set; }

        /// <summary>The file's length when it was opened or created: the segment's size when it was preallocated; below it the
        /// file grows with each append.</summary>
        public long Capacity { get; set; }
    }
}
