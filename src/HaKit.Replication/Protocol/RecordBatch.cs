using System.Buffers.Binary;
using HaKit.Replication.Storage;

namespace HaKit.Replication.Protocol;

/// <summary>
/// Consecutive entries encoded as records (<see cref="RecordCodec"/>) in one buffer: what an append message carries. The sender
/// encodes once from its log; the receiver checks every record's checksum once and reads the entries as slices of the buffer,
/// so the steady path has no object per entry.
/// </summary>
internal readonly struct RecordBatch
{
    private RecordBatch(ReadOnlyMemory<byte> records, int count, long bytes)
    {
        Records = records;
        Count = count;
        PayloadBytes = bytes;
    }

    /// <summary>No entries (a probe).</summary>
    public static RecordBatch Empty => default;

    /// <summary>The encoded records.</summary>
    public ReadOnlyMemory<byte> Records { get; }

    /// <summary>How many entries.</summary>
    public int Count { get; }

    /// <summary>The entries' payload bytes (for flow control).</summary>
    public long PayloadBytes { get; }

    /// <summary>Encodes <paramref name="entries"/> (consecutive indexes) into one new buffer.</summary>
    public static RecordBatch Encode(ReadOnlySpan<LogEntry> entries)
    {
        var size = 0;
        long payload = 0;
        foreach (var entry in entries)
        {
            size += RecordCodec.SizeOf(entry);
            payload += entry.Data.Length;
        }

        var buffer = new byte[size];
        var at = 0;
        foreach (var entry in entries)
        {
            at += RecordCodec.Write(buffer.AsSpan(at), entry);
        }

        return new RecordBatch(buffer, entries.Length, payload);
    }

    /// <summary>Checks received records: valid checksums and indexes consecutive after <paramref name="prevIndex"/>.</summary>
    public static bool TryDecode(ReadOnlyMemory<byte> records, long prevIndex, out RecordBatch batch)
    {
        batch = default;
        var span = records.Span;
        var offset = 0;
        var count = 0;
        long payload = 0;
        var expected = prevIndex + 1;
        while (offset < span.Length)
        {
            if (RecordCodec.TryRead(span[offset..], out _, out var index, out var length) != RecordCodec.ReadResult.Ok || index != expected)
            {
                return false;
            }

            expected++;
            count++;
            payload += length;
            offset += RecordCodec.HeaderSize + length;
        }

        batch = new RecordBatch(records, count, payload);
        return true;
    }

    /// <summary>The same records at another place (a copy of <see cref="Records"/>, checked already).</summary>
    public RecordBatch WithRecords(ReadOnlyMemory<byte> copy) =>
        copy.Length == Records.Length ? new RecordBatch(copy, Count, PayloadBytes) : throw new ArgumentException("not a copy of the records", nameof(copy));

    /// <summary>Enumerates the entries (slices of <see cref="Records"/>).</summary>
    public Enumerator GetEnumerator() => new(Records);

    /// <summary>The entries as a list (tests and diagnostics; allocates).</summary>
    public List<LogEntry> ToList()
    {
        var list = new List<LogEntry>(Count);
        foreach (var entry in this)
        {
            list.Add(entry);
        }

        return list;
    }

    /// <summary>A struct enumerator over the records (no allocation).</summary>
    public struct Enumerator
    {
        private readonly ReadOnlyMemory<byte> _records;
        private int _offset;

        internal Enumerator(ReadOnlyMemory<byte> records)
        {
            _records = records;
            _offset = 0;
            Current = default;
        }

        /// <summary>The current entry.</summary>
        public LogEntry Current { get; private set; }

        /// <summary>Moves to the next entry.</summary>
        public bool MoveNext()
        {
            if (_offset >= _records.Length)
            {
                return false;
            }

            var header = _records.Span[_offset..];
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(header);
            var epoch = BinaryPrimitives.ReadInt64LittleEndian(header[8..]);
            var index = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
            Current = new LogEntry(new LogPosition(epoch, index), _records.Slice(_offset + RecordCodec.HeaderSize, length));
            _offset += RecordCodec.HeaderSize + length;
            return true;
        }
    }
}
