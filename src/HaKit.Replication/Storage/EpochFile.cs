using System.Buffers.Binary;

namespace HaKit.Replication.Storage;

/// <summary>The highest epoch a node has seen, in a small file (<c>epoch</c>: the epoch and its CRC-32C), replaced atomically.</summary>
internal static class EpochFile
{
    private const string Name = "epoch";

    /// <summary>Reads the epoch (0 if there is no file).</summary>
    /// <exception cref="ReplicationLogCorruptException">The file fails its checksum.</exception>
    public static long Read(string directory)
    {
        var path = Path.Combine(directory, Name);
        if (!File.Exists(path))
        {
            return 0;
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != 12 || Crc32C.Compute(bytes.AsSpan(0, 8)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)))
        {
            throw new ReplicationLogCorruptException(path, 0, "the epoch file fails its checksum");
        }

        return BinaryPrimitives.ReadInt64LittleEndian(bytes);
    }

    /// <summary>Writes the epoch durably.</summary>
    public static void Write(string directory, long epoch)
    {
        var path = Path.Combine(directory, Name);
        var bytes = new byte[12];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, epoch);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(8), Crc32C.Compute(bytes.AsSpan(0, 8)));
        DurableFile.Replace(directory, path, bytes);
    }
}
