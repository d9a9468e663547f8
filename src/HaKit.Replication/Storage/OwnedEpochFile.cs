using System.Buffers.Binary;
using HaKit.Replication.Protocol;

namespace HaKit.Replication.Storage;

/// <summary>
/// The epochs this node owned and the log's last index when it took each (file <c>owned</c>: pairs of (epoch, from), the last
/// owned epoch first and then the earlier ones whose own entries may still be in the log, oldest first, and their CRC-32C,
/// replaced atomically); the first pair is zeros once the node followed another owner in that epoch. A restarted node needs it:
/// if it then follows a second owner of one of those epochs, its own entries of that epoch must be cut before positions are
/// compared. The file of earlier releases (one pair, 20 bytes) is the same format with no earlier epochs.
/// </summary>
internal static class OwnedEpochFile
{
    private const string Name = "owned";
    private const int Pair = 16;

    public static OwnedEpochs Read(string directory)
    {
        var path = Path.Combine(directory, Name);
        if (!File.Exists(path))
        {
            return default;
        }

        var bytes = File.ReadAllBytes(path);
        var pairs = (bytes.Length - 4) / Pair;
        if (bytes.Length < Pair + 4 || (bytes.Length - 4) % Pair != 0
            || Crc32C.Compute(bytes.AsSpan(0, bytes.Length - 4)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)))
        {
            throw new ReplicationLogCorruptException(path, 0, "the owned-epoch file fails its checksum");
        }

        var earlier = new List<(long Epoch, long From)>(pairs - 1);
        for (var i = 1; i < pairs; i++)
        {
            earlier.Add((BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(i * Pair)), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan((i * Pair) + 8))));
        }

        return new OwnedEpochs(BinaryPrimitives.ReadInt64LittleEndian(bytes), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)), earlier);
    }

    public static void Write(string directory, long epoch, long from, IReadOnlyList<(long Epoch, long From)>? earlier = null)
    {
        var path = Path.Combine(directory, Name);
        var count = 1 + (earlier?.Count ?? 0);
        var bytes = new byte[(count * Pair) + 4];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, epoch);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), from);
        for (var i = 1; i < count; i++)
        {
            var (e, f) = earlier![i - 1];
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * Pair), e);
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan((i * Pair) + 8), f);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4), Crc32C.Compute(bytes.AsSpan(0, bytes.Length - 4)));
        DurableFile.Replace(directory, path, bytes);
    }
}
