using System.Buffers;
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

/// <summary>A snapshot file whose checksum was verified: its position, its path (<see langword="null"/>: the empty initial state,
/// no file) and its size in bytes (the whole file, as the owner sends it).</summary>
internal sealed record SnapshotFile(LogPosition Position, string? Path, long Bytes)
{
    /// <summary>The empty state before the first entry (no file; sent as <see cref="SnapshotStore.EmptyFile"/>).</summary>
    public static SnapshotFile Empty { get; } = new(LogPosition.Zero, null, SnapshotStore.EmptyFileBytes);
}

/// <summary>
/// Snapshot files <c>snapshot-{index:D20}-{epoch:D20}.snap</c>: an 8-byte magic, the epoch, the index, the data's length, the
/// data and a CRC-32C of everything before it. Written to a temporary file, synced, renamed and the directory synced, so a
/// crash leaves either the old snapshot or the new one; older snapshots are deleted once the new one is durable. Snapshots are
/// written, read and transferred as streams (never whole in memory): the owner sends the file's bytes in chunks, the standby
/// writes them to <c>snapshot-incoming.tmp</c> and installs it once the whole file is synced and its checksum holds.
/// </summary>
internal sealed class SnapshotStore
{
    /// <summary>The size of the file of an empty snapshot (header and checksum).</summary>
    public const long EmptyFileBytes = HeaderSize + 4;

    private const string Prefix = "snapshot-";
    private const string Extension = ".snap";
    private const string IncomingName = "snapshot-incoming.tmp";
    private const int HeaderSize = 32;
    private const int CopyBuffer = 64 << 10;
    private static ReadOnlySpan<byte> Magic => "HKSNAP01"u8;

    private readonly string _directory;
    private FileStream? _incoming;

    /// <summary>Creates the store over <paramref name="directory"/> (created if missing).</summary>
    public SnapshotStore(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
    }

    /// <summary>The bytes of an empty snapshot's file at <see cref="LogPosition.Zero"/> (what an owner without a snapshot sends).</summary>
    public static byte[] EmptyFile()
    {
        var bytes = new byte[EmptyFileBytes];
        WriteHeader(bytes, LogPosition.Zero, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(HeaderSize), Crc32C.Compute(bytes.AsSpan(0, HeaderSize)));
        return bytes;
    }

    /// <summary>At start: deletes leftover temporary files (a save or a transfer interrupted by a crash: never installed).</summary>
    public void RemoveLeftovers()
    {
        DiscardIncoming();
        foreach (var tmp in Directory.GetFiles(_directory, "*.tmp"))
        {
            File.Delete(tmp);
        }
    }

    /// <summary>Finds the newest snapshot and verifies its checksum (reading it as a stream); <see cref="SnapshotFile.Empty"/> if there is none.</summary>
    /// <exception cref="ReplicationLogCorruptException">The newest snapshot file fails its checksum.</exception>
    public SnapshotFile Latest()
    {
        var newest = List().LastOrDefault();
        return newest.Path is null ? SnapshotFile.Empty : Verify(newest.Path, expected: null);
    }

    /// <summary>Loads the newest snapshot whole into memory, or <see cref="SnapshotData.Empty"/> if there is none (tests, small states).</summary>
    /// <exception cref="ReplicationLogCorruptException">The newest snapshot file fails its checksum.</exception>
    public SnapshotData LoadLatest()
    {
        var latest = Latest();
        if (latest.Path is null)
        {
            return SnapshotData.Empty;
        }

        using var data = OpenData(latest);
        var bytes = new byte[data.Length];
        data.ReadExactly(bytes);
        return new SnapshotData(latest.Position, bytes);
    }

    /// <summary>A read-only stream over the state machine's bytes in <paramref name="snapshot"/> (empty for the empty snapshot).</summary>
    public static Stream OpenData(SnapshotFile snapshot)
    {
        if (snapshot.Path is null)
        {
            return new MemoryStream([], writable: false);
        }

        var file = new FileStream(snapshot.Path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, CopyBuffer);
        file.Position = HeaderSize;
        return new SliceStream(file, snapshot.Bytes - HeaderSize - 4);
    }

    /// <summary>Opens the whole file of the snapshot at <paramref name="position"/> for sending (it stays readable while open even
    /// if a newer snapshot deletes it); <see langword="null"/> if that snapshot is no longer there.</summary>
    public Stream? OpenForSend(LogPosition position)
    {
        if (position == LogPosition.Zero)
        {
            return new MemoryStream(EmptyFile(), writable: false);
        }

        try
        {
            return new FileStream(PathOf(position), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 0);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Writes <paramref name="snapshot"/> durably and deletes the older snapshots.</summary>
    public void Save(SnapshotData snapshot) =>
        SaveAsync(snapshot.Position, (s, ct) => s.WriteAsync(snapshot.Data, ct), CancellationToken.None).AsTask().GetAwaiter().GetResult();

    /// <summary>Writes the snapshot at <paramref name="position"/> durably, its data streamed by <paramref name="write"/> (never
    /// held whole in memory), and deletes the older snapshots.</summary>
    /// <returns>The new snapshot file.</returns>
    public async ValueTask<SnapshotFile> SaveAsync(LogPosition position, Func<Stream, CancellationToken, ValueTask> write, CancellationToken cancellationToken) =>
        PublishWritten(await WriteAsync(position, write, cancellationToken).ConfigureAwait(false));

    /// <summary>Writes the snapshot at <paramref name="position"/> to a temporary file and syncs it, without putting it in place
    /// (safe off the log's loop: it touches only its own temporary file): then <see cref="PublishWritten"/> or
    /// <see cref="DiscardWritten"/>. A restart deletes a temporary file left behind.</summary>
    /// <returns>The written file (its path the temporary one).</returns>
    public async ValueTask<SnapshotFile> WriteAsync(LogPosition position, Func<Stream, CancellationToken, ValueTask> write, CancellationToken cancellationToken)
    {
        var tmp = PathOf(position) + ".tmp";
        long length;
        try
        {
            using var file = new FileStream(tmp, FileMode.Create, FileAccess.ReadWrite, FileShare.None, CopyBuffer);
            var header = new byte[HeaderSize];
            file.Write(header); // the data's length is known at the end: the header is written last
            await using (var data = new CountingStream(file))
            {
                await write(data, cancellationToken).ConfigureAwait(false);
                length = data.Written;
            }

            WriteHeader(header, position, length);
            var crc = Checksum(Crc32C.Append(Crc32C.Seed, header), file, length);
            var trailer = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(trailer, Crc32C.Finish(crc));
            file.Write(trailer);
            file.Position = 0;
            file.Write(header);
            file.Flush();
            DurableFile.DataSync(file.SafeFileHandle, file, tmp);
        }
        catch
        {
            File.Delete(tmp);
            throw;
        }

        return new SnapshotFile(position, tmp, HeaderSize + length + 4);
    }

    /// <summary>Puts a file <see cref="WriteAsync"/> wrote in place (directory synced) and deletes the older snapshots: from here
    /// on a restart restores it.</summary>
    /// <returns>The snapshot under its own name.</returns>
    public SnapshotFile PublishWritten(SnapshotFile written)
    {
        var path = PathOf(written.Position);
        Publish(written.Path!, path);
        return written with { Path = path };
    }

    /// <summary>Deletes a file <see cref="WriteAsync"/> wrote that must not be put in place (the state it holds was replaced).</summary>
    public static void DiscardWritten(SnapshotFile written) => File.Delete(written.Path!);

    /// <summary>Standby: writes a chunk of an incoming snapshot file at <paramref name="offset"/> (0: a new transfer starts over).</summary>
    public void WriteIncoming(long offset, ReadOnlySpan<byte> data)
    {
        if (offset == 0 || _incoming is null)
        {
            DiscardIncoming();
            _incoming = new FileStream(System.IO.Path.Combine(_directory, IncomingName), FileMode.Create, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        }

        _incoming.Position = offset;
        _incoming.Write(data);
    }

    /// <summary>Standby: the incoming file is complete: synced and checked (its header names <paramref name="position"/> and
    /// <paramref name="bytes"/>, its CRC-32C holds), still under its temporary name (a restart deletes it): put it in place with
    /// <see cref="PublishIncoming"/>.</summary>
    /// <returns>The checked file (its path the temporary one), or <see langword="null"/> if it does not check out (it is deleted).</returns>
    public SnapshotFile? CheckIncoming(LogPosition position, long bytes, out string? problem)
    {
        var incoming = _incoming;
        _incoming = null;
        var tmp = System.IO.Path.Combine(_directory, IncomingName);
        if (incoming is null)
        {
            problem = "no incoming snapshot file is open";
            return null;
        }

        using (incoming)
        {
            incoming.Flush();
            DurableFile.DataSync(incoming.SafeFileHandle, incoming, tmp);
        }

        try
        {
            var file = Verify(tmp, (position, bytes));
            problem = null;
            return file with { Path = tmp };
        }
        catch (ReplicationLogCorruptException ex)
        {
            File.Delete(tmp);
            problem = ex.Message;
            return null;
        }
    }

    /// <summary>Standby: renames a file <see cref="CheckIncoming"/> accepted into place (directory synced) and deletes the older
    /// snapshots: from here on a restart restores it.</summary>
    /// <returns>The installed snapshot.</returns>
    public SnapshotFile PublishIncoming(SnapshotFile checkedFile)
    {
        var path = PathOf(checkedFile.Position);
        Publish(System.IO.Path.Combine(_directory, IncomingName), path);
        return checkedFile with { Path = path };
    }

    /// <summary>Standby: drops a partial incoming snapshot (never installed).</summary>
    public void DiscardIncoming()
    {
        _incoming?.Dispose();
        _incoming = null;
        var tmp = System.IO.Path.Combine(_directory, IncomingName);
        if (File.Exists(tmp))
        {
            File.Delete(tmp);
        }
    }

    private string PathOf(LogPosition position) =>
        System.IO.Path.Combine(_directory, string.Create(CultureInfo.InvariantCulture, $"{Prefix}{position.Index:D20}-{position.Epoch:D20}{Extension}"));

    private void Publish(string tmp, string path)
    {
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

    /// <summary>Adds the <paramref name="length"/> data bytes just written to <paramref name="file"/> to the header's running CRC
    /// (read back from the page cache: the checksum covers the header first, and the header is only known at the end).</summary>
    private static uint Checksum(uint crc, FileStream file, long length)
    {
        var end = file.Position;
        file.Position = HeaderSize;
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBuffer);
        try
        {
            var left = length;
            while (left > 0)
            {
                var n = file.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0)
                {
                    throw new IOException($"{file.Name}: the snapshot's data ended early while it was checksummed");
                }

                crc = Crc32C.Append(crc, buffer.AsSpan(0, n));
                left -= n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        file.Position = end;
        return crc;
    }

    /// <summary>Reads the file through once: magic, length and CRC-32C (and, for an incoming file, the expected identity).</summary>
    private static SnapshotFile Verify(string path, (LogPosition Position, long Bytes)? expected)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, bufferSize: 0);
        var size = file.Length;
        var header = new byte[HeaderSize];
        if (size < HeaderSize + 4 || file.Read(header) != HeaderSize || !header.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new ReplicationLogCorruptException(path, 0, "not a HaKit snapshot file (bad magic or too short)");
        }

        var position = new LogPosition(BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(8)), BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(16)));
        var length = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(24));
        if (length != size - HeaderSize - 4)
        {
            throw new ReplicationLogCorruptException(path, 24, $"the snapshot says it holds {length} bytes but the file holds {size - HeaderSize - 4}");
        }

        if (expected is { } e && (e.Position != position || e.Bytes != size))
        {
            throw new ReplicationLogCorruptException(path, 8, $"the snapshot is at {position} with {size} bytes, but the owner sent {e.Position} with {e.Bytes} bytes");
        }

        var crc = Crc32C.Append(Crc32C.Seed, header);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBuffer);
        try
        {
            var left = length;
            while (left > 0)
            {
                var n = file.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0)
                {
                    throw new ReplicationLogCorruptException(path, size - left - 4, "the snapshot file ended early");
                }

                crc = Crc32C.Append(crc, buffer.AsSpan(0, n));
                left -= n;
            }

            file.ReadExactly(buffer, 0, 4);
            if (Crc32C.Finish(crc) != BinaryPrimitives.ReadUInt32LittleEndian(buffer))
            {
                throw new ReplicationLogCorruptException(path, size - 4, "the snapshot's CRC-32C does not match its contents");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return new SnapshotFile(position, path, size);
    }

    private static void WriteHeader(Span<byte> header, LogPosition position, long length)
    {
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt64LittleEndian(header[8..], position.Epoch);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], position.Index);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], length);
    }

    private List<(string Path, long Index)> List() =>
        Directory.GetFiles(_directory, Prefix + "*" + Extension)
            .Select(p => (Path: p, Index: long.TryParse(System.IO.Path.GetFileNameWithoutExtension(p).AsSpan(Prefix.Length, 20), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : -1))
            .Where(s => s.Index >= 0)
            .OrderBy(s => s.Index)
            .ToList();
}
