using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace HaKit.Replication.Storage;

/// <summary>Opening a log: reading every segment, the end of the data, the torn tail and what counts as corruption.</summary>
internal sealed partial class SegmentLog
{
    /// <summary>
    /// Opens (or creates) the log in <paramref name="directory"/>, truncating a torn tail, and returns the records after
    /// <paramref name="snapshot"/> (the position the newest snapshot covers).
    /// </summary>
    /// <param name="directory">The group's directory.</param>
    /// <param name="segmentBytes">The size of a segment.</param>
    /// <param name="snapshot">The position the newest snapshot covers.</param>
    /// <param name="entries">Receives the records after <paramref name="snapshot"/>.</param>
    /// <param name="preallocate">Write into preallocated, zero-filled segment files (see the class's summary).</param>
    /// <param name="fromCompactionPoint">Return the records from the log's first one on instead (its position is
    /// <see cref="Base"/>, at or below <paramref name="snapshot"/>), when the log holds the snapshot's position: entries between
    /// the compaction point and the snapshot are in the snapshot already, but a later history may still cut them, and the
    /// divergence callback must then get them. Otherwise (the snapshot is ahead of the log, or the log is another history at the
    /// snapshot's index) the records after the snapshot, as without it.</param>
    /// <param name="keepShortLog">With <paramref name="fromCompactionPoint"/>: a log that ends below the snapshot is kept (a
    /// divergence cut it while the node waits for the owner's snapshot: what that snapshot replaces goes to the callback) instead
    /// of being deleted.</param>
    /// <exception cref="ReplicationLogCorruptException">A record other than the torn tail is bad.</exception>
    public static SegmentLog Open(string directory, long segmentBytes, LogPosition snapshot, List<LogEntry> entries, bool preallocate = false,
        bool fromCompactionPoint = false, bool keepShortLog = false)
    {
        Directory.CreateDirectory(directory);
        var log = new SegmentLog(directory, segmentBytes, preallocate) { Last = snapshot };
        var files = Directory.GetFiles(directory, "*" + Extension)
            .Select(f => (Path: f, First: long.TryParse(Path.GetFileNameWithoutExtension(f), NumberStyles.None, CultureInfo.InvariantCulture, out var first) ? first : -1))
            .Where(f => f.First >= 0)
            .OrderBy(f => f.First)
            .ToList();
        LogPosition previous = default;
        var any = false;
        var below = new List<LogEntry>(); // the records at or below the snapshot (fromCompactionPoint)
        for (var i = 0; i < files.Count; i++)
        {
            var (path, first) = files[i];
            var isLast = i == files.Count - 1;
            var bytes = File.ReadAllBytes(path);
            var memory = new ReadOnlyMemory<byte>(bytes);
            var segment = new Segment(path, first) { Capacity = bytes.Length };
            var firstEntry = entries.Count;
            var firstBelow = below.Count;
            var offset = 0;
            while (offset < bytes.Length)
            {
                var rest = bytes.AsSpan(offset);
                if (!rest[..Math.Min(rest.Length, RecordCodec.HeaderSize)].ContainsAnyExcept((byte)0))
                {
                    // An all-zero header: the end of the segment's data (a preallocated file's zeros). Non-zero bytes after it are
                    // the pages of a batch that reached the disk out of order when the power failed before its fdatasync: in the
                    // last segment a torn batch (cut, and reported), anywhere else corruption.
                    var stray = rest.IndexOfAnyExcept((byte)0);
                    if (stray >= 0)
                    {
                        if (!isLast)
                        {
                            throw new ReplicationLogCorruptException(path, offset, $"the segment's data ends here (an all-zero record header) but non-zero bytes follow at offset {offset + stray}, and a later segment follows it");
                        }

                        log.TornTail = new TornTail(path, offset, rest.LastIndexOfAnyExcept((byte)0) + 1, "an all-zero record header with non-zero bytes after it");
                        TruncateFile(path, offset);
                        segment.Capacity = offset;
                    }

                    break;
                }

                var result = RecordCodec.TryRead(rest, out var epoch, out var index, out var length);
                if (result != RecordCodec.ReadResult.Ok)
                {
                    // Torn: the first bad record of the last segment, and everything after it. Every fdatasync covers all that was
                    // written before it and records are written in order, so what was acknowledged is a prefix of valid records:
                    // after a bad record nothing was acknowledged (PostgreSQL ends its WAL at the first invalid record alike). A
                    // batch whose pages reached the disk out of order (a power failure before its fdatasync; no file size hides
                    // them in a preallocated file) leaves valid bytes after the bad record: cut too, and reported with their
                    // count. The same bad record in an earlier segment is corruption.
                    if (isLast)
                    {
                        var end = rest.LastIndexOfAnyExcept((byte)0) + 1;
                        var recordEnd = result switch
                        {
                            RecordCodec.ReadResult.BadChecksum => Math.Min(rest.Length, RecordCodec.HeaderSize + length),
                            RecordCodec.ReadResult.BadLength => Math.Min(rest.Length, RecordCodec.HeaderSize),
                            _ => rest.Length,
                        };
                        if (end > recordEnd)
                        {
                            log.TornTail = new TornTail(path, offset, end, $"a record that fails its {(result == RecordCodec.ReadResult.BadChecksum ? "CRC-32C" : "length check")}, with non-zero bytes after it");
                        }
                    }
                    else
                    {
                        throw new ReplicationLogCorruptException(path, offset, result switch
                        {
                            RecordCodec.ReadResult.BadLength => "the record's length field is over the 64 MiB limit",
                            RecordCodec.ReadResult.BadChecksum => "the record's CRC-32C does not match its contents",
                            _ => "the segment ends inside a record, and a later segment follows it",
                        });
                    }

                    TruncateFile(path, offset);
                    segment.Capacity = offset;
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
                else if (fromCompactionPoint)
                {
                    below.Add(new LogEntry(position, memory.Slice(offset + RecordCodec.HeaderSize, length)));
                }

                previous = position;
                any = true;
                offset += RecordCodec.HeaderSize + length;
            }

            segment.Size = Math.Min(offset, bytes.Length);
            if (segment.Size < bytes.Length / 2)
            {
                // A preallocated file holds its data in a prefix: keep only that in memory (the entries point into it).
                KeepPrefix(entries, firstEntry, bytes, segment.Size);
                KeepPrefix(below, firstBelow, bytes, segment.Size);
            }

            log._segments.Add(segment);
        }

        log.Base = snapshot;
        if (below.Count > 0 && ((below[^1].Position == snapshot && previous.Index >= snapshot.Index) || (keepShortLog && previous.Index < snapshot.Index)))
        {
            // The log holds the snapshot's position (or is a log cut below it that is kept): it goes on from its first record
            // (the compaction point or below).
            log.Base = below[0].Position;
            entries.InsertRange(0, below.Skip(1));
        }

        if (any && (previous.Index > snapshot.Index || (keepShortLog && below.Count > 0 && previous.Index < snapshot.Index)))
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
        log._preallocationMisses = 0; // a new log's first segment is not a miss: nothing could have been prepared for it
        log.PrepareAhead();
        return log;
    }
}

/// <summary>A torn tail cut at open that held data beyond its first bad record: the file, where the cut was, how many bytes went.</summary>
/// <param name="Path">The segment file.</param>
/// <param name="Offset">Where the log now ends in it.</param>
/// <param name="BytesCut">Bytes from <paramref name="Offset"/> to the last non-zero byte that were cut.</param>
/// <param name="What">What was found at <paramref name="Offset"/>.</param>
internal sealed record TornTail(string Path, long Offset, long BytesCut, string What);
