using System.Buffers.Binary;

namespace HaKit.Replication.Storage;

/// <summary>
/// The epoch this node owned last and the log's last index when it took it (file <c>owned</c>: both and their CRC-32C,
/// replaced atomically); none (zeros) once the node followed another owner in that epoch. A restarted node needs it: if it
/// then follows a second owner of the same epoch, its own entries of that epoch must be cut before positions are compared.
/// </summary>
internal static class OwnedEpochFile
{
    private const string Name = "owned";

    /// <summary>Reads the owned epoch and the index its own entries follow ((0, 0) if there is no file).</summary>
    /// <exception cref="ReplicationLogCorruptException">The file fails its checksum.</exception>
    public static (long Epoch, long From) Read(string directory)
    {
        var path = Path.Combine(directory, Name);
        if (!File.Exists(path))
        {
            return (0, 0);
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != 20 || Crc32C.Compute(bytes.AsSpan(0, 16)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(16)))
        {
            throw new ReplicationLogCorruptException(path, 0, "the owned-epoch file fails its checksum");
        }

        return (BinaryPrimitives.ReadInt64LittleEndian(bytes), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)));
    }

    /// <summary>Writes the owned epoch and the index its own entries follow, durably.</summary>
    public static void Write(string directory, long epoch, long from)
    {
        var path = Path.Combine(directory, Name);
        var bytes = new byte[20];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, epoch);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), from);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), Crc32C.Compute(bytes.AsSpan(0, 16)));
        DurableFile.Replace(directory, path, bytes);
    }
}
