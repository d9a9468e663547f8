namespace HaKit.Replication.Protocol;

/// <summary>
/// The entries of a group's log held in memory since its base (the compaction point: every entry at or below it is in a
/// snapshot). The owner streams catch-up from it; the driver applies and persists from it.
/// </summary>
internal sealed class MemoryLog
{
    private readonly List<LogEntry> _entries = [];

    // The byte offset (sum of the entries' data lengths) at the end of each entry held, in this log's own measure: it starts at 0
    // on a reset, so only differences between two indices of one log mean anything (the byte lag sent to the standby).
    private readonly List<long> _ends = [];

    /// <summary>The byte offset at <see cref="Base"/> in this log's measure (0 after a reset).</summary>
    private long _baseOffset;

    /// <summary>The position of the last entry dropped from memory (in a snapshot); (0, 0) when nothing was dropped.</summary>
    public LogPosition Base { get; private set; }

    /// <summary>The last entry's position (<see cref="Base"/> when empty).</summary>
    public LogPosition Last => _entries.Count > 0 ? _entries[^1].Position : Base;

    /// <summary>The number of entries held.</summary>
    public int Count => _entries.Count;

    /// <summary>Bytes of entry data held.</summary>
    public long Bytes { get; private set; }

    /// <summary>Starts over at <paramref name="basePosition"/> with <paramref name="entries"/> after it.</summary>
    public void Reset(LogPosition basePosition, IEnumerable<LogEntry> entries)
    {
        Base = basePosition;
        _entries.Clear();
        _ends.Clear();
        _baseOffset = 0;
        Bytes = 0;
        foreach (var entry in entries)
        {
            Add(entry);
        }
    }

    /// <summary>Appends an entry (its index must follow <see cref="Last"/>).</summary>
    public void Add(in LogEntry entry)
    {
        if (entry.Index != Last.Index + 1)
        {
            throw new InvalidOperationException($"entry {entry.Position} does not follow {Last}");
        }

        _entries.Add(entry);
        _ends.Add((_ends.Count > 0 ? _ends[^1] : _baseOffset) + entry.Data.Length);
        Bytes += entry.Data.Length;
    }

    /// <summary>The byte offset at the end of the entry at <paramref name="index"/> (between <c>Base.Index</c> and
    /// <c>Last.Index</c>) in this log's own measure: the bytes of the entries between two indices are the difference.</summary>
    public long OffsetAt(long index) => index <= Base.Index ? _baseOffset : _ends[(int)Math.Min(index - Base.Index - 1, _ends.Count - 1)];

    /// <summary>The entry at <paramref name="index"/> (between <c>Base.Index + 1</c> and <c>Last.Index</c>).</summary>
    public LogEntry Get(long index) => _entries[(int)(index - Base.Index - 1)];

    /// <summary>The epoch of the entry at <paramref name="index"/>: <see cref="Base"/>'s at the base, -1 if not held.</summary>
    public long EpochAt(long index)
    {
        if (index == Base.Index)
        {
            return Base.Epoch;
        }

        return index > Base.Index && index <= Last.Index ? Get(index).Epoch : -1;
    }

    /// <summary>The first index held in <paramref name="epoch"/> starting the search at <paramref name="from"/> going down.</summary>
    public long FirstIndexOfEpoch(long epoch, long from)
    {
        var index = from;
        while (index - 1 > Base.Index && Get(index - 1).Epoch == epoch)
        {
            index--;
        }

        return index;
    }

    /// <summary>The last index held with an epoch at most <paramref name="epoch"/>, or -1 if none is held in exactly that epoch.</summary>
    public long LastIndexOfEpoch(long epoch)
    {
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            var e = _entries[i].Epoch;
            if (e == epoch)
            {
                return _entries[i].Index;
            }

            if (e < epoch)
            {
                return -1;
            }
        }

        return Base.Epoch == epoch ? Base.Index : -1;
    }

    /// <summary>Removes and returns the entries after <paramref name="index"/>.</summary>
    public List<LogEntry> TruncateAfter(long index)
    {
        var keep = (int)Math.Max(0, index - Base.Index);
        var removed = _entries.GetRange(keep, _entries.Count - keep);
        _entries.RemoveRange(keep, _entries.Count - keep);
        _ends.RemoveRange(keep, _ends.Count - keep);
        foreach (var entry in removed)
        {
            Bytes -= entry.Data.Length;
        }

        return removed;
    }

    /// <summary>Drops the entries at or below <paramref name="index"/> (they are in a snapshot); the base moves there.</summary>
    public void DropThrough(long index)
    {
        if (index <= Base.Index)
        {
            return;
        }

        var count = (int)Math.Min(index - Base.Index, _entries.Count);
        var newBase = _entries[count - 1].Position;
        for (var i = 0; i < count; i++)
        {
            Bytes -= _entries[i].Data.Length;
        }

        _baseOffset = _ends[count - 1];
        _entries.RemoveRange(0, count);
        _ends.RemoveRange(0, count);
        Base = newBase;
    }

    /// <summary>The entries <paramref name="from"/>..<paramref name="to"/> in place (valid until the log changes).</summary>
    public ReadOnlySpan<LogEntry> Range(long from, long to) =>
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_entries).Slice((int)(from - Base.Index - 1), (int)(to - from + 1));
}
