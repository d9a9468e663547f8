using System.Diagnostics;

namespace HaKit.Runtime;

/// <summary>How the loop thread takes its next work item and sleeps while there is none (see <see cref="LoopWaker"/>).</summary>
internal sealed partial class NodeLoop
{
    /// <summary>
    /// The next work item, waiting while there is none; <see langword="null"/> once stopped and drained. Waiting for the deadline
    /// itself (the system clock), it returns the tick once the deadline (or a <see cref="WakeAt"/>) is due, before queued inputs.
    /// </summary>
    private Action? Take()
    {
        lock (_inboxGate)
        {
            while (true)
            {
                if (_waitsItself && _ticking && !_inboxCompleted)
                {
                    var due = _wakeFor < _extraWake ? _wakeFor : _extraWake;
                    if (due != TimeSpan.MaxValue)
                    {
                        var remaining = due - Now;
                        if (remaining > TimeSpan.Zero)
                        {
                            _dueBarrier = -1; // not due (any more: a step moved the deadline)
                        }
                        else if (_inbox.Count > 0 && _dueBarrier < 0)
                        {
                            // Inputs queued before the deadline came run first, as with a timer that queues the tick behind them.
                            _dueBarrier = _inbox.Count;
                        }

                        if (remaining <= TimeSpan.Zero && _dueBarrier > 0 && _inbox.Count > 0)
                        {
                            _dueBarrier--;
                            return _inbox.Dequeue();
                        }

                        if (remaining <= TimeSpan.Zero)
                        {
                            _dueBarrier = -1;
                            if (_extraWake <= due)
                            {
                                _extraWake = TimeSpan.MaxValue;
                            }

                            _wakeFor = TimeSpan.MaxValue; // the step's end sets it again
                            return _tick ??= TickNow;
                        }

                        if (_inbox.Count == 0)
                        {
                            // The wait counts on the monotonic clock and never ends before the deadline (see WaitLocked).
                            // Deferred inputs queued during the wait wait with it (they run first when it is due).
                            WaitLocked(due, remaining);
                            continue;
                        }
                    }
                }

                if (_inbox.Count > 0)
                {
                    return _inbox.Dequeue();
                }

                if (_inboxCompleted)
                {
                    return null;
                }

                WaitLocked(TimeSpan.MaxValue, Timeout.InfiniteTimeSpan);
            }
        }
    }

    /// <summary>Whether the loop thread sleeps on a <see cref="LoopWaker"/> (Linux) rather than <see cref="Monitor.Wait(object)"/> (for tests).</summary>
    internal bool SleepsOnWaker
    {
        get
        {
            lock (_inboxGate)
            {
                return _waker is not null;
            }
        }
    }

    /// <summary>
    /// Sleeps (the loop thread, holding <see cref="_inboxGate"/>) until signalled or until <paramref name="due"/> (node time;
    /// <see cref="TimeSpan.MaxValue"/>: no deadline), <paramref name="remaining"/> from now. On the <see cref="LoopWaker"/> the lock is
    /// released for the wait and the deadline is exact (an absolute monotonic time: never early); with the monitor the wait counts
    /// whole milliseconds, rounded up (it counts on the same monotonic clock and never ends before the deadline either).
    /// </summary>
    private void WaitLocked(TimeSpan due, TimeSpan remaining)
    {
        _waiting = true;
        if (_waker is { } waker)
        {
            var deadline = due == TimeSpan.MaxValue ? long.MaxValue : _startTimestamp + checked(due.Ticks * (Stopwatch.Frequency / TimeSpan.TicksPerSecond));
            bool waited;
            Monitor.Exit(_inboxGate);
            try
            {
                waited = waker.Wait(deadline);
            }
            finally
            {
                Monitor.Enter(_inboxGate);
            }

            if (!waited)
            {
                // Not expected (the semaphore is valid until the thread ends): the monitor from now on, which every signal uses
                // under the same lock.
                RuntimeLog.LoopError(logger, new InvalidOperationException($"the loop's semaphore wait failed (errno {waker.LastError}); waiting on a monitor from now on"));
                _waker = null;
                waker.Dispose();
            }
        }
        else if (remaining == Timeout.InfiniteTimeSpan)
        {
            _ = Monitor.Wait(_inboxGate);
        }
        else
        {
            _ = Monitor.Wait(_inboxGate, (int)Math.Min(Math.Ceiling(remaining.TotalMilliseconds), int.MaxValue - 1));
        }

        _waiting = false;
    }

    /// <summary>Wakes the loop thread (under <see cref="_inboxGate"/>; the caller cleared <see cref="_waiting"/>).</summary>
    private void Signal()
    {
        if (_waker is { } waker)
        {
            waker.Wake();
        }
        else
        {
            Monitor.Pulse(_inboxGate);
        }
    }

    /// <summary>Wakes the loop thread if it sleeps (under <see cref="_inboxGate"/>), so that it looks at its deadline and queue again.</summary>
    private void SignalIfWaiting()
    {
        if (_waiting)
        {
            _waiting = false;
            Signal();
        }
    }
}
