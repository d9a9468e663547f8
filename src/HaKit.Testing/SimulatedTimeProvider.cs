namespace HaKit.Testing;

/// <summary>
/// A node's monotonic clock in a <see cref="Simulation"/>: it starts at zero when the node's process starts and runs at the
/// node's own rate (clock drift). Timestamps are in <see cref="TimeSpan"/> ticks. Timers are not supported: the simulator
/// schedules everything itself.
/// </summary>
public sealed class SimulatedTimeProvider : TimeProvider
{
    private static readonly DateTimeOffset Origin = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly Func<TimeSpan> _globalNow;
    private readonly TimeSpan _bootedAt;

    internal SimulatedTimeProvider(Func<TimeSpan> globalNow, TimeSpan bootedAt, double rate)
    {
        _globalNow = globalNow;
        _bootedAt = bootedAt;
        Rate = rate;
    }

    /// <summary>How fast this clock runs relative to global virtual time (1 = exact).</summary>
    public double Rate { get; }

    /// <summary>The node's local monotonic time (since its process started).</summary>
    public TimeSpan LocalNow => ToLocal(_globalNow());

    /// <inheritdoc />
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <inheritdoc />
    public override long GetTimestamp() => LocalNow.Ticks;

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => Origin + _bootedAt + LocalNow;

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">Always: the simulator schedules every timer itself.</exception>
    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        throw new NotSupportedException("SimulatedTimeProvider has no timers: the Simulation schedules every action in virtual time. Use Simulation.Schedule instead.");

    /// <summary>Converts global virtual time to this node's local time.</summary>
    /// <param name="global">Global virtual time.</param>
    public TimeSpan ToLocal(TimeSpan global) => TimeSpan.FromTicks((long)((global - _bootedAt).Ticks * Rate));

    /// <summary>Converts a local duration to global virtual time.</summary>
    /// <param name="local">A duration on this clock.</param>
    public TimeSpan ToGlobalDuration(TimeSpan local) => TimeSpan.FromTicks((long)Math.Ceiling(local.Ticks / Rate));
}
