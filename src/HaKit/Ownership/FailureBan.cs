namespace HaKit.Ownership;

/// <summary>
/// Whether resource failures made this node ineligible for a group: for <see cref="GroupConfig.FailureWindow"/> after a
/// transient failure, or until an operator clears failures after a permanent one.
/// </summary>
/// <remarks>Local only: a ban is announced as "not eligible", never spread to other nodes (a fatal failure is, see <see cref="FatalMarks"/>).</remarks>
internal sealed class FailureBan
{
    /// <summary>Ineligible until this time (null: no timed ban).</summary>
    public TimeSpan? Until { get; set; }

    /// <summary>Ineligible until an operator clears failures.</summary>
    public bool Permanent { get; set; }

    /// <summary>Whether the ban keeps this node ineligible at <paramref name="now"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    public bool Active(TimeSpan now) => Permanent || (Until is { } until && now < until);

    /// <summary>The ban in words for the status view (null: none).</summary>
    /// <param name="now">Monotonic time.</param>
    public string? Describe(TimeSpan now) =>
        Permanent ? "permanent failure on this node (clear failures to allow it again)"
        : Until is { } until && now < until ? $"restarts exhausted; eligible again in {(until - now).TotalSeconds:0.#} s"
        : null;

    /// <summary>Lifts the ban (operator cleanup).</summary>
    public void Clear()
    {
        Until = null;
        Permanent = false;
    }
}
