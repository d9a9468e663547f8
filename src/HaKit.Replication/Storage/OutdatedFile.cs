using System.Buffers.Binary;

namespace HaKit.Replication.Storage;

/// <summary>
/// An outdated mark: a position in a small file (its epoch, its index and their CRC-32C), written and fsynced before the node acts
/// on it and deleted (durably) when the mark clears. Two files use it: <c>peer-outdated</c> on an owner that acknowledged writes
/// without its peer (the position it had reached), and <c>outdated</c> on a standby told by the owner that it is outdated (the
/// owner's acknowledged position it must hold before it may own the group).
/// </summary>
internal static class OutdatedFile
{
    /// <summary>The owner's mark on its peer.</summary>
    public const string PeerOutdated = "peer-outdated";

    /// <summary>This node's own mark (it was told it is outdated).</summary>
    public const string Outdated = "outdated";

    /// <summary>A standby that waits for the owner's snapshot (its state holds entries a divergence cut): the owner's epoch and
    /// the log's base then, in the same format; a restarted node still waits, and refuses promotion, until one is installed.</summary>
    public const string AwaitingSnapshot = "awaiting-snapshot";

    /// <summary>A standby that installed an owner's snapshot older than the history it held matched: the owner's epoch and the
    /// index it must hold again before it may own the group.</summary>
    public const string CatchUp = "catch-up";

    /// <summary>A standby's known lag: the owner's epoch and acknowledged index it last heard (not a mark; since the byte lag,
    /// one file with both values: <see cref="KnownLagFile"/>; earlier releases wrote this format here and the bytes apart).</summary>
    public const string KnownLag = "known-lag";

    /// <summary>A standby's known lag in bytes as earlier releases wrote it, (0, bytes) in the same format: read, then deleted, by
    /// <see cref="KnownLagFile"/>.</summary>
    public const string KnownLagBytes = "known-lag-bytes";

    /// <summary>Reads the mark (<see cref="LogPosition.Zero"/> if there is no file).</summary>
    /// <exception cref="ReplicationLogCorruptException">The file fails its checksum.</exception>
    public static LogPosition Read(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        if (!File.Exists(path))
        {
            return LogPosition.Zero;
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length != 20 || Crc32C.Compute(bytes.AsSpan(0, 16)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(16)))
        {
            throw new ReplicationLogCorruptException(path, 0, $"the {name} file fails its checksum");
        }

        return new LogPosition(BinaryPrimitives.ReadInt64LittleEndian(bytes), BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)));
    }

    /// <summary>Writes the mark durably (<see cref="LogPosition.Zero"/>: deletes it durably).</summary>
    public static void Write(string directory, string name, LogPosition position)
    {
        var path = Path.Combine(directory, name);
        if (position == LogPosition.Zero)
        {
            if (File.Exists(path))
            {
                File.Delete(path);
                DurableFile.SyncDirectory(directory);
            }

            return;
        }

        var bytes = new byte[20];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, position.Epoch);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), position.Index);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), Crc32C.Compute(bytes.AsSpan(0, 16)));
        DurableFile.Replace(directory, path, bytes);
    }
}
