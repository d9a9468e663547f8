namespace HaKit.Resources;

/// <summary>
/// Counts restarts in a sliding window (Pacemaker's <c>migration-threshold</c> within <c>failure-timeout</c>):
/// at most <c>maxRestarts</c> restarts may be recorded within any <c>window</c>; older restarts expire.
/// </summary>
/// <remarks>Time is read only from the given <see cref="TimeProvider"/> (monotonic timestamps). Instances are thread-safe.</remarks>
public sealed class RestartTracker
{
    private readonly int _maxRestarts;
    private readonly TimeSpan _window;
    private readonly TimeProvider _timeProvider;
    private readonly Queue<long> _restarts = new();
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

    /// <summary>Restarts recorded within the last <see cref="Window"/>.</summary>
    public int RestartsInWindow
    {
        get
        {
            lock (_lock)
            {
                Expire(_timeProvider.GetTimestamp());
                return _restarts.Count;
            }
        }
    }

    /// <summary>Records a restart if the budget allows it.</summary>
    /// <returns><see langword="true"/> when the restart was recorded (and may proceed); <see langword="false"/> when <see cref="MaxRestarts"/> restarts were already recorded within <see cref="Window"/>.</returns>
    public bool TryRecordRestart()
    {
        lock (_lock)
        {
            long now = _timeProvider.GetTimestamp();
            Expire(now);
            if (_restarts.Count >= _maxRestarts)
            {
                return false;
            }

            _restarts.Enqueue(now);
            return true;
        }
    }

    /// <summary>Forgets every recorded restart (an operator cleared the failures).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _restarts.Clear();
        }
    }

    private void Expire(long now)
    {
        if (_window == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        while (_restarts.TryPeek(out long oldest) && _timeProvider.GetElapsedTime(oldest, now) >= _window)
        {
            _restarts.Dequeue();
        }
    }
}
