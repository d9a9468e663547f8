using System.Buffers.Binary;
using HaKit.Replication;
using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;

namespace HaKit.Testing;

/// <summary>
/// One node's replication files on its simulated disk (kept across processes): the log as one buffer of records in the real
/// <see cref="RecordCodec"/> format, of which the first <see cref="Synced"/> bytes an fdatasync covered; and the small files
/// written durably at once (highest epoch seen, owned epoch, outdated marks). With snapshots on
/// (<see cref="ReplicationSimulationOptions.SnapshotEvery"/>), the newest snapshot file (written durably at once, as the store's
/// save is: synced, renamed, directory synced), the log's base after compaction, and the partial file of a snapshot transfer
/// (<c>snapshot-incoming.tmp</c>: lost with the process, deleted at start in any case).
/// </summary>
internal sealed class SimulatedReplicaDisk
{
    private byte[] _bytes = new byte[4096];
    private readonly List<int> _ends = []; // the end offset of each record, in order (record k holds index Base.Index + 1 + k)
    private byte[] _incoming = [];

    /// <summary>The last index compacted away (the records start after it); <see cref="LogPosition.Zero"/> before any compaction.</summary>
    public LogPosition Base { get; private set; }

    /// <summary>The newest snapshot file (the store's format), or <see langword="null"/>: none (the empty state).</summary>
    public (LogPosition Position, byte[] File)? Snapshot { get; set; }

    /// <summary>Bytes of a snapshot transfer's partial file (0: none).</summary>
    public int IncomingLength { get; private set; }

    /// <summary>Writes a chunk of an incoming snapshot at <paramref name="offset"/> (0: the file starts over).</summary>
    public void WriteIncoming(long offset, ReadOnlySpan<byte> data)
    {
        if (offset == 0)
        {
            IncomingLength = 0;
        }

        var end = (int)offset + data.Length;
        if (_incoming.Length < end)
        {
            Array.Resize(ref _incoming, Math.Max(end, _incoming.Length * 2));
        }

        data.CopyTo(_incoming.AsSpan((int)offset));
        IncomingLength = Math.Max(IncomingLength, end);
    }

    /// <summary>Takes the partial file (the install syncs and checks it) and deletes it.</summary>
    public byte[] TakeIncoming()
    {
        var file = _incoming.AsSpan(0, IncomingLength).ToArray();
        IncomingLength = 0;
        return file;
    }

    /// <summary>Deletes the partial file of a snapshot transfer.</summary>
    public void DiscardIncoming() => IncomingLength = 0;

    /// <summary>Drops the records at or below <paramref name="upTo"/> (a snapshot covers them); the base moves there.</summary>
    public void Compact(long upTo)
    {
        var count = (int)Math.Min(upTo - Base.Index, _ends.Count);
        if (count <= 0)
        {
            return;
        }

        var start = count > 1 ? _ends[count - 2] : 0;
        var cut = _ends[count - 1];
        RecordCodec.TryRead(_bytes.AsSpan(start, cut - start), out var epoch, out _, out _);
        Buffer.BlockCopy(_bytes, cut, _bytes, 0, Length - cut);
        Length -= cut;
        Synced = Math.Max(0, Synced - cut);
        _ends.RemoveRange(0, count);
        for (var i = 0; i < _ends.Count; i++)
        {
            _ends[i] -= cut;
        }

        Base = new LogPosition(epoch, Base.Index + count);
        Generation++;
    }

    /// <summary>An installed snapshot: the log starts over empty after <paramref name="position"/>.</summary>
    public void Reset(LogPosition position)
    {
        Length = 0;
        Synced = 0;
        _ends.Clear();
        Base = position;
        Generation++;
    }

    /// <summary>The bytes of a snapshot file in the store's format (magic, epoch, index, length, data, CRC-32C) holding
    /// <paramref name="state"/> as records.</summary>
    public static byte[] EncodeSnapshot(LogPosition position, IReadOnlyList<LogEntry> state)
    {
        var dataLength = 0;
        foreach (var entry in state)
        {
            dataLength += RecordCodec.SizeOf(entry);
        }

        var file = new byte[32 + dataLength + 4];
        "HKSNAP01"u8.CopyTo(file);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(8), position.Epoch);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(16), position.Index);
        BinaryPrimitives.WriteInt64LittleEndian(file.AsSpan(24), dataLength);
        var at = 32;
        foreach (var entry in state)
        {
            RecordCodec.Write(file.AsSpan(at), entry);
            at += RecordCodec.SizeOf(entry);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(at), Crc32C.Compute(file.AsSpan(0, at)));
        return file;
    }

    /// <summary>The state in a snapshot file, or <see langword="null"/> if the file does not check out (size, position, CRC-32C).</summary>
    public static List<LogEntry>? DecodeSnapshot(byte[] file, LogPosition expected)
    {
        if (file.Length < 36 || !file.AsSpan(0, 8).SequenceEqual("HKSNAP01"u8)
            || new LogPosition(BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(8)), BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(16))) != expected
            || BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(24)) != file.Length - 36
            || Crc32C.Compute(file.AsSpan(0, file.Length - 4)) != BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(file.Length - 4)))
        {
            return null;
        }

        var state = new List<LogEntry>();
        var span = file.AsSpan(32, file.Length - 36);
        while (span.Length > 0)
        {
            RecordCodec.TryRead(span, out var epoch, out var index, out var length);
            state.Add(new LogEntry(new LogPosition(epoch, index), span.Slice(RecordCodec.HeaderSize, length).ToArray()));
            span = span[(RecordCodec.HeaderSize + length)..];
        }

        return state;
    }

    /// <summary>Bytes written (to the OS).</summary>
    public int Length { get; private set; }

    /// <summary>Bytes an fdatasync covered (survive a crash).</summary>
    public int Synced { get; private set; }

    /// <summary>Changes whenever the log is cut: a flush begun before a cut no longer counts.</summary>
    public long Generation { get; private set; }

    /// <summary>The index of the last record written (the base's when none is).</summary>
    public long LastIndex => Base.Index + _ends.Count;

    /// <summary>The highest epoch seen (file <c>epoch</c>).</summary>
    public long SeenEpoch { get; set; }

    /// <summary>The owned epoch and the index its own entries follow (file <c>owned</c>).</summary>
    public OwnedEpochs Owned { get; set; }

    /// <summary>Owner side: the position at which this node marked its peer outdated (file <c>peer-outdated</c>).</summary>
    public LogPosition PeerOutdated { get; set; }

    /// <summary>Standby side: the position this node must hold before it may own the group (file <c>outdated</c>).</summary>
    public LogPosition Outdated { get; set; }

    /// <summary>Standby side: it waits for the owner's snapshot (file <c>awaiting-snapshot</c>; Zero: it does not).</summary>
    public LogPosition AwaitingSnapshot { get; set; }

    /// <summary>Standby side: the index it must hold again after installing an older snapshot (file <c>catch-up</c>; Zero: none).</summary>
    public LogPosition CatchUp { get; set; }

    /// <summary>Appends the records of <paramref name="entries"/> (not yet synced).</summary>
    public void Append(ReadOnlySpan<LogEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (entry.Index != LastIndex + 1)
            {
                throw new InvalidOperationException($"simulated disk: entry {entry.Position} written after index {LastIndex}");
            }

            var size = RecordCodec.SizeOf(entry);
            if (Length + size > _bytes.Length)
            {
                Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, Length + size));
            }

            RecordCodec.Write(_bytes.AsSpan(Length), entry);
            Length += size;
            _ends.Add(Length);
        }
    }

    /// <summary>The bytes written so far and the index they end at: what an fdatasync begun now covers.</summary>
    public (long Generation, int Bytes, long Index) BeginFlush() => (Generation, Length, LastIndex);

    /// <summary>An fdatasync begun at <paramref name="flush"/> completed.</summary>
    /// <returns>Whether it still counts (no cut since it began).</returns>
    public bool EndFlush((long Generation, int Bytes, long Index) flush)
    {
        if (flush.Generation != Generation)
        {
            return false;
        }

        Synced = Math.Max(Synced, Math.Min(flush.Bytes, Length));
        return true;
    }

    /// <summary>Cuts the log after <paramref name="index"/> durably (what was synced below the cut stays synced).</summary>
    public void TruncateAfter(long index)
    {
        if (index >= LastIndex)
        {
            return;
        }

        var keep = (int)Math.Max(0, index - Base.Index);
        var end = keep == 0 ? 0 : _ends[keep - 1];
        _ends.RemoveRange(keep, _ends.Count - keep);
        Length = end;
        Synced = Math.Min(Synced, end);
        Generation++;
    }

    /// <summary>
    /// The process dies: what no fdatasync covered may be lost. <paramref name="keep"/> bytes of the unsynced tail survive (the OS
    /// wrote them back before the crash); a cut inside a record leaves a torn record that recovery must find.
    /// </summary>
    public void Crash(int keep)
    {
        IncomingLength = 0; // the partial snapshot file is deleted at start in any case
        Length = Synced + Math.Clamp(keep, 0, Length - Synced);
        Synced = Length; // what is on the platter now is what a restart reads
        while (_ends.Count > 0 && _ends[^1] > Length)
        {
            _ends.RemoveAt(_ends.Count - 1);
        }

        Generation++;
    }

    /// <summary>The unsynced bytes now.</summary>
    public int Unsynced => Length - Synced;

    /// <summary>Recovery at start, as the segment log's open does: reads the records with the real codec from the start and cuts
    /// the log at the first one that is incomplete or fails its checksum (a torn tail).</summary>
    /// <param name="entries">The entries read.</param>
    /// <returns>The bytes cut (0: the log ended on a record boundary).</returns>
    public int Recover(List<LogEntry> entries)
    {
        var span = _bytes.AsSpan(0, Length);
        var offset = 0;
        var expected = Base.Index + 1;
        IncomingLength = 0;
        while (offset < span.Length)
        {
            var result = RecordCodec.TryRead(span[offset..], out var epoch, out var index, out var length);
            if (result != RecordCodec.ReadResult.Ok)
            {
                break;
            }

            if (index != expected)
            {
                throw new InvalidOperationException($"simulated disk: record at offset {offset} has index {index}, expected {expected}");
            }

            entries.Add(new LogEntry(new LogPosition(epoch, index), span.Slice(offset + RecordCodec.HeaderSize, length).ToArray()));
            offset += RecordCodec.HeaderSize + length;
            expected++;
        }

        var cut = Length - offset;
        Length = offset;
        Synced = Math.Min(Synced, offset);
        _ends.Clear();
        var at = 0;
        foreach (var entry in entries)
        {
            at += RecordCodec.SizeOf(entry);
            _ends.Add(at);
        }

        return cut;
    }

    /// <summary>Damages the last <paramref name="count"/> bytes written (a torn sector): recovery must see a bad record there.</summary>
    public void Scramble(int count, Random random)
    {
        for (var i = Math.Max(0, Length - count); i < Length; i++)
        {
            _bytes[i] = (byte)random.Next(256);
        }
    }
}
