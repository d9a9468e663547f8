using System.Buffers.Binary;

namespace HaKit.Replication.Storage;

/// <summary>
/// A standby's known lag in one small file, <c>known-lag</c>: the owner's acknowledged position it last heard (epoch, index) and
/// its lag in bytes of entries, with a CRC-32C (28 bytes), written durably (temporary file, fsync, rename) when it changed, at
/// most once per tick. Earlier releases wrote two files, <c>known-lag</c> (20 bytes: the position) and <c>known-lag-bytes</c>
/// (20 bytes: (0, bytes)); the reader still takes them, and the first write of the new format deletes the old second file.
/// </summary>
internal static class KnownLagFile
{
    /// <summary>The file's name.</summary>
    public const string Name = OutdatedFile.KnownLag;

    /// <summary>The second file of the earlier format (the bytes).</summary>
    public const string LegacyBytesName = OutdatedFile.KnownLagBytes;

    private const int Size = 28;
    private const int LegacySize = 20;

    /// <summary>Reads the known lag (<see cref="LogPosition.Zero"/> and 0 when there is none), in either format.</summary>
    /// <exception cref="ReplicationLogCorruptException">The file is torn or fails its checksum (naming the file and the fix).</exception>
    public static (LogPosition OwnerAcknowledged, long LagBytes) Read(string directory)
    {
        var path = Path.Combine(directory, Name);
        if (!File.Exists(path))
        {
            // Only the earlier format's bytes file (written alone when the position was cleared): its value, or none.
            return (LogPosition.Zero, File.Exists(Path.Combine(directory, LegacyBytesName)) ? OutdatedFile.Read(directory, LegacyBytesName).Index : 0);
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length == LegacySize)
        {
            // The earlier two-file format: the position here, the bytes in their own file (absent: 0).
            var position = OutdatedFile.Read(directory, Name);
            return (position, File.Exists(Path.Combine(directory, LegacyBytesName)) ? OutdatedFile.Read(directory, LegacyBytesName).Index : 0);
        }

        if (bytes.Length != Size || Crc32C.Compute(bytes.AsSpan(0, Size - 4)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(Size - 4)))
        {
            throw new ReplicationLogCorruptException(path, 0,
                $"the {Name} file is {bytes.Length} bytes and {(bytes.Length == Size ? "fails its checksum" : $"should be {Size} (or {LegacySize} in the earlier format)")}; " +
                $"it only holds the owner's position this standby last heard (for MaxLagOnFailover): deleting it is safe once the standby has heard the owner again, " +
                "otherwise its lag is unknown until then");
        }

        return (new LogPosition(BinaryPrimitives.ReadInt64LittleEndian(bytes), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8))),
            BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(16)));
    }

    /// <summary>Writes the known lag durably in one file (both zero: deletes it durably), and deletes the earlier format's bytes file.</summary>
    public static void Write(string directory, LogPosition ownerAcknowledged, long lagBytes)
    {
        if (ownerAcknowledged == LogPosition.Zero && lagBytes <= 0)
        {
            OutdatedFile.Write(directory, Name, LogPosition.Zero);
        }
        else
        {
            var bytes = new byte[Size];
            BinaryPrimitives.WriteInt64LittleEndian(bytes, ownerAcknowledged.Epoch);
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), ownerAcknowledged.Index);
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(16), Math.Max(0, lagBytes));
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(Size - 4), Crc32C.Compute(bytes.AsSpan(0, Size - 4)));
            DurableFile.Replace(directory, Path.Combine(directory, Name), bytes);
        }

        // After the new file is in place: a crash in between leaves a 28-byte file, which the reader prefers over the old one.
        OutdatedFile.Write(directory, LegacyBytesName, LogPosition.Zero);
    }
}
