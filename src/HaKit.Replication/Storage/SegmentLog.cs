using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace HaKit.Replication.Storage;

/// <summary>
/// The on-disk log of one group: append-only segment files <c>{firstIndex:D20}.log</c> of records in the
/// <see cref="RecordCodec"/> format. Appends are written (page cache) by the replica's loop and made durable by
/// <see cref="Flush"/> from the group-commit flusher: one fdatasync covers every append written before it. On open, a torn tail
/// (the last records of the last segment, cut or left unwritten by a crash) is truncated at the last valid record; any other bad
/// record throws <see cref="ReplicationLogCorruptException"/> naming the file and offset.
/// </summary>
internal sealed class SegmentLog : IDisposable
{
    private const string Extension = ".log";

    private readonly string _directory;
    private readonly long _segmentBytes;
    private readonly List<Segment> _segments = [];
    private readonly Lock _gate = new();
    private byte[] _buffer = new byte[64 * 1024];
    private SafeFileHandle? _tail;
    private FileStream? _tailStream;
    private string _tailPath = "";
    private long _generation;
    private long _writtenIndex;
    private bool _disposed;

    private SegmentLog(string directory, long segmentBytes)
    {
        _directory = directory;
        _segmentBytes = segmentBytes;
    }

    /// <summary>The position of the last record written (the snapshot's position when the log holds nothing after it).</summary>
    public LogPosition Last { get; private set; }

    /// <summary>The index of the first record still on disk (segments before it were compacted), or <c>Last.Index + 1</c>.</summary>
    public long FirstIndex => _segments.Count > 0 && _segments[0].Count > 0 ? _segments[0].FirstIndex : Last.Index + 1;

    /// <summary>The number of segment files.</summary>
    public int SegmentCount => _segments.Count;

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

    /// <summary>
    /// Opens (or creates) the log in <paramref name="directory"/>, truncating a torn tail, and returns the records after
    /// <paramref name="snapshot"/> (the position the newest snapshot covers).
    /// </summary>
    /// <exception cref="ReplicationLogCorruptException">A record other than the torn tail is bad.</exception>
    public static SegmentLog Open(string directory, long segmentBytes, LogPosition snapshot, List<LogEntry> entries)
    {
        Directory.CreateDirectory(directory);
        var log = new SegmentLog(directory, segmentBytes) { Last = snapshot };
        var files = Directory.GetFiles(directory, "*" + Extension)
            .Select(f => (Path: f, First: long.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out var first) ? first : -1))
            .Where(f => f.First >= 0)
            .OrderBy(f => f.First)
            .ToList();
        LogPosition previous = default;
        var any = false;
        for (var i = 0; i < files.Count; i++)
        {
            var (path, first) = files[i];
            var isLast = i == files.Count - 1;
            var bytes = File.ReadAllBytes(path);
            var memory = new ReadOnlyMemory<byte>(bytes);
            var segment = new Segment(path, first);
            var offset = 0;
            while (offset < bytes.Length)
            {
                var result = RecordCodec.TryRead(bytes.AsSpan(offset), out var epoch, out var index, out var length);
                if (result != RecordCodec.ReadResult.Ok)
                {
                    var rest = bytes.AsSpan(offset);
                    var torn = isLast && (result == RecordCodec.ReadResult.Incomplete
                        || (result == RecordCodec.ReadResult.BadChecksum && offset + RecordCodec.HeaderSize + length == bytes.Length)
                        || !rest.ContainsAnyExcept((byte)0));
                    if (!torn)
                    {
                        throw new ReplicationLogCorruptException(path, offset, result switch
                        {
                            RecordCodec.ReadResult.BadLength => "the record's length field is over the 64 MiB limit",
                            RecordCodec.ReadResult.BadChecksum => "the record's CRC-32C does not match its contents",
                            _ => "the segment ends inside a record, and a later segment follows it",
                        });
                    }

                    TruncateFile(path, offset);
                    break;
                }

                var position = new LogPosition(epoch, index);
                if (segment.Count == 0 && index != first)
                {
                    throw new ReplicationLogCorruptException(path, offset, $"the first record has index {index}, the file's name says {first}");
                }

                if (any && (index != previous.Index + 1 || epoch < previous.Epoch))
                {
                    throw new ReplicationLogCorruptException(path, offset, $"the record at {position} does not follow {previous} (indexes are consecutive, epochs never go down)");
                }

                segment.Count++;
                if (index > snapshot.Index)
                {
                    if (entries.Count == 0 && index != snapshot.Index + 1)
                    {
                        throw new ReplicationLogCorruptException(path, offset, $"the log resumes at index {index} but the newest snapshot ends at {snapshot.Index}: entries in between are missing");
                    }

                    entries.Add(new LogEntry(position, memory.Slice(offset + RecordCodec.HeaderSize, length)));
                }

                previous = position;
                any = true;
                offset += RecordCodec.HeaderSize + length;
            }

            segment.Size = Math.Min(offset, bytes.Length);
            log._segments.Add(segment);
        }

        if (any && previous.Index > snapshot.Index)
        {
            log.Last = previous;
        }
        else if (any && previous.Index < snapshot.Index)
        {
            // The snapshot (installed from the peer, or written after a reset) is ahead of every record: start afresh after it.
            log.DeleteAllSegments();
        }

        if (log._segments.Count == 0)
        {
            log.CreateTail(log.Last.Index + 1);
        }
        else
        {
            log.OpenTail();
        }

        log._writtenIndex = log.Last.Index;
        return log;
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
            if (tail.Size >= _segmentBytes && tail.Count > 0)
            {
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

    /// <summary>Deletes the segments whose records all have an index at or below <paramref name="index"/> (never the tail).</summary>
    /// <returns>How many segment files were deleted.</returns>
    public int Compact(long index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var deleted = 0;
        while (_segments.Count > 1 && _segments[1].FirstIndex <= index + 1)
        {
            File.Delete(_segments[0].Path);
            _segments.RemoveAt(0);
            deleted++;
        }

        if (deleted > 0)
        {
            DurableFile.SyncDirectory(_directory);
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

        CloseTail();
    }

    private void Roll(long firstIndex)
    {
        // The finished segment is made durable here, so the flusher only ever needs to sync the tail.
        DurableFile.DataSync(_tail!, _tailStream, _segments[^1].Path);
        CloseTail();
        CreateTail(firstIndex);
    }

    private void CreateTail(long firstIndex)
    {
        var path = Path.Combine(_directory, firstIndex.ToString("D20", CultureInfo.InvariantCulture) + Extension);
        File.WriteAllBytes(path, []);
        DurableFile.SyncDirectory(_directory);
        _segments.Add(new Segment(path, firstIndex));
        OpenTail();
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
    }
}
