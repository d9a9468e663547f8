using System.Buffers.Binary;
using System.Globalization;

namespace HaKit.Replication.Storage;

/// <summary>A snapshot of the state machine: the position it covers (every entry up to it is in it) and its bytes.</summary>
/// <param name="Position">The last entry the snapshot includes; <see cref="LogPosition.Zero"/> for the empty initial state.</param>
/// <param name="Data">The bytes the state machine wrote.</param>
internal sealed record SnapshotData(LogPosition Position, ReadOnlyMemory<byte> Data)
{
    /// <summary>The empty state before the first entry.</summary>
    public static SnapshotData Empty { get; } = new(LogPosition.Zero, ReadOnlyMemory<byte>.Empty);
}

/// <summary>
/// Snapshot files <c>snapshot-{index:D20}-{epoch:D20}.snap</c>: an 8-byte magic, the epoch, the index, the data's length, the
/// data and a CRC-32C of everything before it. Written to a temporary file, synced, renamed and the directory synced, so a
/// crash leaves either the old snapshot or the new one; older snapshots are deleted once the new one is durable.
/// </summary>
internal sealed class SnapshotStore
{
    private const string Prefix = "snapshot-";
    private const string Extension = ".snap";
    private const int HeaderSize = 32;
    private static ReadOnlySpan<byte> Magic => "HKSNAP01"u8;

    private readonly string _directory;

    /// <summary>Creates the store over <paramref name="directory"/> (created if missing).</summary>
    public SnapshotStore(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
    }

    /// <summary>Loads the newest snapshot, or <see cref="SnapshotData.Empty"/> if there is none.</summary>
    /// <exception cref="ReplicationLogCorruptException">The newest snapshot file fails its checksum.</exception>
    public SnapshotData LoadLatest()
    {
        foreach (var tmp in Directory.GetFiles(_directory, "*.tmp"))
        {
            File.Delete(tmp);
        }

        var newest = List().LastOrDefault();
        if (newest.Path is null)
        {
            return SnapshotData.Empty;
        }

        var bytes = File.ReadAllBytes(newest.Path);
        if (bytes.Length < HeaderSize + 4 || !bytes.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new ReplicationLogCorruptException(newest.Path, 0, "not a HaKit snapshot file (bad magic or too short)");
        }

        var epoch = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8));
        var index = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(16));
        var length = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(24));
        if (length != bytes.Length - HeaderSize - 4)
        {
            throw new ReplicationLogCorruptException(newest.Path, 24, $"the snapshot says it holds {length} bytes but the file holds {bytes.Length - HeaderSize - 4}");
        }

        var crcAt = bytes.Length - 4;
        if (Crc32C.Compute(bytes.AsSpan(0, crcAt)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(crcAt)))
        {
            throw new ReplicationLogCorruptException(newest.Path, crcAt, "the snapshot's CRC-32C does not match its contents");
        }

        return new SnapshotData(new LogPosition(epoch, index), bytes.AsMemory(HeaderSize, (int)length));
    }

    /// <summary>Writes <paramref name="snapshot"/> durably and deletes the older snapshots.</summary>
    public void Save(SnapshotData snapshot)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"{Prefix}{snapshot.Position.Index:D20}-{snapshot.Position.Epoch:D20}{Extension}");
        var path = Path.Combine(_directory, name);
        var tmp = path + ".tmp";
        var header = new byte[HeaderSize];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(8), snapshot.Position.Epoch);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), snapshot.Position.Index);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(24), snapshot.Data.Length);
        var crc = Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, header), snapshot.Data.Span));
        var trailer = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, crc);
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            file.Write(header);
            file.Write(snapshot.Data.Span);
            file.Write(trailer);
            DurableFile.DataSync(file.SafeFileHandle, file, tmp);
        }

        File.Move(tmp, path, overwrite: true);
        DurableFile.SyncDirectory(_directory);
        foreach (var old in List())
        {
            if (old.Path != path)
            {
                File.Delete(old.Path);
            }
        }

        DurableFile.SyncDirectory(_directory);
    }

    private List<(string Path, long Index)> List() =>
        Directory.GetFiles(_directory, Prefix + "*" + Extension)
            .Select(p => (Path: p, Index: long.TryParse(Path.GetFileNameWithoutExtension(p).AsSpan(Prefix.Length, 20), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : -1))
            .Where(s => s.Index >= 0)
            .OrderBy(s => s.Index)
            .ToList();
}
