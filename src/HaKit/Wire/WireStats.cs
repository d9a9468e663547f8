using System.Text;

namespace HaKit.Wire;

/// <summary>
/// Counters of the wire layer: packets accepted and packets dropped per <see cref="DropReason"/>.
/// Thread-safe and allocation-free to update; one instance is usually shared by every link of a node.
/// </summary>
public sealed class WireStats
{
    /// <summary>The number of <see cref="DropReason"/> values (they are numbered from 0 without gaps).</summary>
    internal const int ReasonCount = (int)DropReason.RateLimited + 1;

    private readonly long[] _dropped = new long[ReasonCount];
    private long _accepted;

    /// <summary>Packets accepted so far.</summary>
    public long Accepted => Volatile.Read(ref _accepted);

    /// <summary>Packets dropped so far, for every reason.</summary>
    public long TotalDropped
    {
        get
        {
            long total = 0;
            for (int i = 0; i < _dropped.Length; i++)
            {
                total += Volatile.Read(ref _dropped[i]);
            }

            return total;
        }
    }

    /// <summary>Packets dropped so far for one reason.</summary>
    /// <param name="reason">The reason.</param>
    /// <returns>The count.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reason"/> is not a defined value.</exception>
    public long GetDropped(DropReason reason) => Volatile.Read(ref _dropped[Index(reason)]);

    /// <summary>Counts one accepted packet.</summary>
    public void RecordAccepted() => Interlocked.Increment(ref _accepted);

    /// <summary>Counts one dropped packet (for example a transport may count a datagram cut by the socket as <see cref="DropReason.Oversized"/>).</summary>
    /// <param name="reason">Why the packet was dropped.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reason"/> is not a defined value.</exception>
    public void RecordDropped(DropReason reason) => Interlocked.Increment(ref _dropped[Index(reason)]);

    /// <summary>
    /// Copies the counters. Each counter is read atomically, but counters updated while the copy is made may be
    /// one packet apart from each other.
    /// </summary>
    /// <returns>An immutable copy.</returns>
    public WireStatsSnapshot Snapshot()
    {
        var dropped = new long[ReasonCount];
        for (int i = 0; i < dropped.Length; i++)
        {
            dropped[i] = Volatile.Read(ref _dropped[i]);
        }

        return new WireStatsSnapshot(Accepted, dropped);
    }

    private static int Index(DropReason reason)
    {
        uint index = (uint)reason;
        if (index >= ReasonCount)
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason, "Not a defined DropReason.");
        }

        return (int)index;
    }
}

/// <summary>An immutable copy of <see cref="WireStats"/>, made by <see cref="WireStats.Snapshot"/>.</summary>
public sealed class WireStatsSnapshot
{
    private readonly long[] _dropped;

    internal WireStatsSnapshot(long accepted, long[] dropped)
    {
        Accepted = accepted;
        _dropped = dropped;
        long total = 0;
        foreach (long d in dropped)
        {
            total += d;
        }

        TotalDropped = total;
    }

    /// <summary>Packets accepted.</summary>
    public long Accepted { get; }

    /// <summary>Packets dropped, for every reason.</summary>
    public long TotalDropped { get; }

    /// <summary>Packets dropped for one reason.</summary>
    /// <param name="reason">The reason.</param>
    /// <returns>The count.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="reason"/> is not a defined value.</exception>
    public long GetDropped(DropReason reason)
    {
        uint index = (uint)reason;
        if (index >= (uint)_dropped.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(reason), reason, "Not a defined DropReason.");
        }

        return _dropped[index];
    }

    /// <summary>A one-line summary such as <c>accepted=10 dropped=2 (BadMac=1, Replayed=1)</c>.</summary>
    /// <returns>The summary.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append("accepted=").Append(Accepted).Append(" dropped=").Append(TotalDropped);
        string separator = " (";
        for (int i = 0; i < _dropped.Length; i++)
        {
            if (_dropped[i] != 0)
            {
                text.Append(separator).Append((DropReason)i).Append('=').Append(_dropped[i]);
                separator = ", ";
            }
        }

        if (separator == ", ")
        {
            text.Append(')');
        }

        return text.ToString();
    }
}
