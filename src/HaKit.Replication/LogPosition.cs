using System.Globalization;

namespace HaKit.Replication;

/// <summary>
/// A position in a replicated log: the epoch of the owner that wrote the entry and the entry's index (1-based; 0 is the empty
/// log). Two logs that hold an entry with the same position hold the same entry and the same history before it (log matching).
/// </summary>
/// <param name="Epoch">The group's epoch (the fencing token of the owner that appended the entry).</param>
/// <param name="Index">The entry's index, 1 for the first entry ever appended.</param>
public readonly record struct LogPosition(long Epoch, long Index) : IComparable<LogPosition>
{
    /// <summary>The position before the first entry: (0, 0).</summary>
    public static LogPosition Zero => default;

    /// <inheritdoc />
    public int CompareTo(LogPosition other)
    {
        var byEpoch = Epoch.CompareTo(other.Epoch);
        return byEpoch != 0 ? byEpoch : Index.CompareTo(other.Index);
    }

    /// <summary>Whether <paramref name="left"/> comes before <paramref name="right"/> (by epoch, then index).</summary>
    /// <param name="left">A position.</param>
    /// <param name="right">Another position.</param>
    /// <returns><see langword="true"/> if <paramref name="left"/> is lower.</returns>
    public static bool operator <(LogPosition left, LogPosition right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> comes after <paramref name="right"/> (by epoch, then index).</summary>
    /// <param name="left">A position.</param>
    /// <param name="right">Another position.</param>
    /// <returns><see langword="true"/> if <paramref name="left"/> is higher.</returns>
    public static bool operator >(LogPosition left, LogPosition right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> is at or before <paramref name="right"/>.</summary>
    /// <param name="left">A position.</param>
    /// <param name="right">Another position.</param>
    /// <returns><see langword="true"/> if <paramref name="left"/> is not higher.</returns>
    public static bool operator <=(LogPosition left, LogPosition right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> is at or after <paramref name="right"/>.</summary>
    /// <param name="left">A position.</param>
    /// <param name="right">Another position.</param>
    /// <returns><see langword="true"/> if <paramref name="left"/> is not lower.</returns>
    public static bool operator >=(LogPosition left, LogPosition right) => left.CompareTo(right) >= 0;

    /// <summary>The position as <c>epoch=E index=I</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"epoch={Epoch} index={Index}");
}
