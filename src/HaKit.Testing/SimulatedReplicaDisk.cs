using HaKit.Replication;
using HaKit.Replication.Protocol;
using HaKit.Replication.Storage;

namespace HaKit.Testing;

/// <summary>
/// One node's replication files on its simulated disk (kept across processes): the log as one buffer of records in the real
/// <see cref="RecordCodec"/> format, of which the first <see cref="Synced"/> bytes an fdatasync covered; and the small files
/// written durably at once (highest epoch seen, owned epoch, outdated marks).
/// </summary>
internal sealed class SimulatedReplicaDisk
{
    private byte[] _bytes = new byte[4096];
    private readonly List<int> _ends = []; // the end offset of each record, in order (record k holds index First + k)

    /// <summary>Bytes written (to the OS).</summary>
    public int Length { get; private set; }

    /// <summary>Bytes an fdatasync covered (survive a crash).</summary>
    public int Synced { get; private set; }

    /// <summary>Changes whenever the log is cut: a flush begun before a cut no longer counts.</summary>
    public long Generation { get; private set; }

    /// <summary>The index of the last record written.</summary>
    public long LastIndex => _ends.Count;

    /// <summary>The highest epoch seen (file <c>epoch</c>).</summary>
    public long SeenEpoch { get; set; }

    /// <summary>The owned epoch and the index its own entries follow (file <c>owned</c>).</summary>
    public OwnedEpochs Owned { get; set; }

    /// <summary>Owner side: the position at which this node marked its peer outdated (file <c>peer-outdated</c>).</summary>
    public LogPosition PeerOutdated { get; set; }

    /// <summary>Standby side: the position this node must hold before it may own the group (file <c>outdated</c>).</summary>
    public LogPosition Outdated { get; set; }

    /// <summary>Appends the records of <paramref name="entries"/> (not yet synced).</summary>
    public void Append(ReadOnlySpan<LogEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (entry.Index != _ends.Count + 1)
            {
                throw new InvalidOperationException($"simulated disk: entry {entry.Position} written after index {_ends.Count}");
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
    public (long Generation, int Bytes, long Index) BeginFlush() => (Generation, Length, _ends.Count);

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
        if (index >= _ends.Count)
        {
            return;
        }

        var keep = (int)Math.Max(0, index);
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
        var expected = 1L;
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
