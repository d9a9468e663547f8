namespace HaKit.Resources;

/// <summary>
/// Counts restarts in a sliding window (Pacemaker's <c>migration-threshold</c> within <c>failure-timeout</c>):
/// at most <c>maxRestarts</c> restarts may be recorded within any <c>window</c>; older restarts expire.
/// </summary>
/// <remarks>Time is either passed in (<see cref="TryRecordRestart(TimeSpan)"/>, <see cref="RestartsAt"/>: monotonic time as a
/// <see cref="TimeSpan"/> on the scale of <see cref="Now"/>) or read from the given <see cref="TimeProvider"/>
/// (<see cref="TryRecordRestart()"/>, <see cref="RestartsInWindow"/>). Instances are thread-safe.</remarks>
internal sealed class RestartTracker
{
    private readonly int _maxRestarts;
    private readonly TimeSpan _window;
    private readonly TimeProvider _timeProvider;
    private readonly Queue<TimeSpan> _restarts = new();
    private readonly Lock _lock = new();

    /// <summary>Creates a tracker.</summary>
    /// <param name="maxRestarts">Restarts allowed within <paramref name="window"/>; 0 allows none.</param>
    /// <param name="window">How long a recorded restart counts. Must be positive (or <see cref="Timeout.InfiniteTimeSpan"/> for "never expires").</param>
    /// <param name="timeProvider">The clock.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxRestarts"/> is negative or <paramref name="window"/> is not positive.</exception>
    public RestartTracker(int maxRestarts, TimeSpan window, TimeProvider timeProvider)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRestarts);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (window <= TimeSpan.Zero && window != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(window), window, "The failure window must be positive.");
        }

        _maxRestarts = maxRestarts;
        _window = window;
        _timeProvider = timeProvider;
    }

    /// <summary>Restarts allowed within <see cref="Window"/>.</summary>
    public int MaxRestarts => _maxRestarts;

    /// <summary>How long a recorded restart counts.</summary>
    public TimeSpan Window => _window;

        /// <summary>Restarts recorded within the last <see cref="Window"/>, on the tracker's clock.</summary>
    public int RestartsInWindow => RestartsAt(Now(_timeProvider));

    /// <summary>Records a restart, on the tracker's clock, if the budget allows it.</summary>
    /// <returns><see langword="true"/> when the restart was recorded (and may proceed); <see langword="false"/> when <see cref="MaxRestarts"/> restarts were already recorded within <see cref="Window"/>.</returns>
    public bool TryRecordRestart() => TryRecordRestart(Now(_timeProvider));

    /// <summary>Restarts recorded within the <see cref="Window"/> that ends at <paramref name="now"/>. Reads no clock.</summary>
    /// <param name="now">Monotonic time on the tracker's clock as a <see cref="TimeSpan"/> (see <see cref="Now"/>).</param>
    /// <returns>How many restarts count at <paramref name="now"/>.</returns>
    public int RestartsAt(TimeSpan now)
    {
        lock (_lock)
        {
            Expire(now);
            return _restarts.Count;
        }
    }

    /// <summary>Records a restart at <paramref name="now"/> if the budget allows it. Reads no clock.</summary>
    /// <param name="now">Monotonic time on the tracker's clock as a <see cref="TimeSpan"/> (see <see cref="Now"/>).</param>
    /// <returns><see langword="true"/> when the restart was recorded (and may proceed); <see langword="false"/> when <see cref="MaxRestarts"/> restarts were already recorded within <see cref="Window"/>.</returns>
    public bool TryRecordRestart(TimeSpan now)
    {
        lock (_lock)
        {
            Expire(now);
            if (_restarts.Count >= _maxRestarts)
            {
                return false;
            }

            _restarts.Enqueue(now);
            return true;
        }
    }

    /// <summary>The time scale of the <c>now</c> arguments: <paramref name="timeProvider"/>'s monotonic timestamp as a <see cref="TimeSpan"/>.</summary>
    /// <param name="timeProvider">The clock.</param>
    /// <returns>The clock's current monotonic time.</returns>
    public static TimeSpan Now(TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(timeProvider);
        return timeProvider.GetElapsedTime(0, timeProvider.GetTimestamp());
    }

    /// <summary>Forgets every recorded restart (an operator cleared the failures).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _restarts.Clear();
        }
    }

    private void Expire(TimeSpan now)
    {
        if (_window == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        while (_restarts.TryPeek(out var oldest) && now - oldest >= _window)
        {
            _restarts.Dequeue();
        }
    }
}
