using System.Buffers.Binary;

namespace HaKit.Replication.Storage;

/// <summary>
/// The record format shared by segment files and the wire: a 24-byte header (payload length u32, CRC-32C u32, epoch i64, index
/// i64, little-endian) and the payload. The checksum covers the length, the epoch, the index and the payload.
/// </summary>
internal static class RecordCodec
{
    /// <summary>The header's size in bytes.</summary>
    public const int HeaderSize = 24;

    /// <summary>The largest payload a record may hold (64 MiB): a longer length field is garbage.</summary>
    public const int MaxPayload = 64 << 20;

    /// <summary>The encoded size of an entry.</summary>
    public static int SizeOf(in LogEntry entry) => HeaderSize + entry.Data.Length;

    /// <summary>Writes the header of <paramref name="entry"/> into <paramref name="header"/> (its payload follows it).</summary>
    public static void WriteHeader(Span<byte> header, in LogEntry entry)
    {
        var payload = entry.Data.Span;
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)payload.Length);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], entry.Epoch);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], entry.Index);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], Checksum(header, payload));
    }

    /// <summary>Writes the whole record (header and payload) into <paramref name="destination"/>; returns its size.</summary>
    public static int Write(Span<byte> destination, in LogEntry entry)
    {
        WriteHeader(destination, entry);
        entry.Data.Span.CopyTo(destination[HeaderSize..]);
        return HeaderSize + entry.Data.Length;
    }

    /// <summary>The checksum of a record given its header (the checksum field is not read) and payload.</summary>
    public static uint Checksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload)
    {
        var crc = Crc32C.Append(Crc32C.Seed, header[..4]);
        crc = Crc32C.Append(crc, header[8..HeaderSize]);
        return Crc32C.Finish(Crc32C.Append(crc, payload));
    }

    /// <summary>How one record reads.</summary>
    public enum ReadResult
    {
        /// <summary>A valid record.</summary>
        Ok,

        /// <summary>The buffer ends inside the header or the payload.</summary>
        Incomplete,

        /// <summary>The length field is over <see cref="MaxPayload"/>.</summary>
        BadLength,

        /// <summary>The checksum does not match.</summary>
        BadChecksum,
    }

    /// <summary>Reads the record at the start of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">The bytes.</param>
    /// <param name="epoch">The record's epoch.</param>
    /// <param name="index">The record's index.</param>
    /// <param name="payloadLength">The payload's length (when the result is not <see cref="ReadResult.Incomplete"/> for lack of a header).</param>
    public static ReadResult TryRead(ReadOnlySpan<byte> buffer, out long epoch, out long index, out int payloadLength)
    {
        epoch = 0;
        index = 0;
        payloadLength = 0;
        if (buffer.Length < HeaderSize)
        {
            return ReadResult.Incomplete;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        if (length > MaxPayload)
        {
            return ReadResult.BadLength;
        }

        payloadLength = (int)length;
        if (buffer.Length < HeaderSize + payloadLength)
        {
            return ReadResult.Incomplete;
        }

        epoch = BinaryPrimitives.ReadInt64LittleEndian(buffer[8..]);
        index = BinaryPrimitives.ReadInt64LittleEndian(buffer[16..]);
        var expected = BinaryPrimitives.ReadUInt32LittleEndian(buffer[4..]);
        return Checksum(buffer, buffer.Slice(HeaderSize, payloadLength)) == expected ? ReadResult.Ok : ReadResult.BadChecksum;
    }
}
