using HaKit.Diagnostics;
using HaKit.Ownership;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// The node's single loop: every call into the <see cref="OwnershipCore"/> runs here, in order (received heartbeats, ticks, results
/// of resource actions, arbiter answers, fencing, admin commands), and after each one the core's commands are executed in order.
/// Work done elsewhere (resource actions, arbiter calls, fencing) is tracked so that stopping can wait for it.
/// </summary>
/// <remarks>
/// The loop runs on its own thread ("HaKit loop"), which blocks while the queue is empty: an input wakes that one thread directly,
/// without a hop through the thread pool (each hop woke one or two pool workers). Event-driven: after every step the loop asks the core for its next deadline (<see cref="OwnershipCore.NextDeadline"/>: the next
/// heartbeat to send, a detector's next threshold, a lease renewal, a monitor, ...); the loop sleeps until that deadline or until an
/// input arrives (a datagram, an admin command, a resource result), whichever comes first. An idle node thus wakes for its own and
/// its peers' heartbeats and its monitors, not at a fixed tick rate; while anything is in motion the core asks for a tick every tick
/// interval, as before.
/// <para>
/// With the system clock (<see cref="TimeProvider.System"/>) the loop thread waits for the deadline itself: a timed wait on its own
/// queue (on Linux a semaphore with an absolute deadline, <see cref="LoopWaker"/>; elsewhere <see cref="Monitor.Wait(object, int)"/>;
/// both count on the same monotonic clock as <see cref="TimeProvider.GetTimestamp"/> and never return early by it), so a tick wakes
/// exactly one thread. A due tick runs after the inputs queued before it was due
/// and before any queued later, as a timer's queued tick did. With any other time provider (virtual time: tests, the simulator) the loop sets one
/// <see cref="TimeProvider"/> timer for the deadline instead, which queues the tick.
/// </para>
/// </remarks>
internal sealed partial class NodeLoop(TimeProvider time, ILogger logger) : ICommandLoop
{
    private readonly Queue<Action> _inbox = new();
    private readonly object _inboxGate = new(); // guards the queue; the loop thread sleeps on _waker, or on this (Monitor.Wait/Pulse) without one
    private LoopWaker? _waker; // Linux: the loop thread's semaphore (under _inboxGate; from Run until the thread ends)
    private bool _inboxCompleted;
    private readonly List<Task> _inFlight = [];
    private readonly List<Task> _releases = [];
    private readonly Lock _inFlightLock = new();
    private OwnershipCore? _core;
    private long _startTimestamp;
    private ITimer? _timer;
    private TimeSpan _armedFor = TimeSpan.MaxValue;
    private Task? _loop;
    private int _tickQueued;
    private readonly bool _waitsItself = ReferenceEquals(time, TimeProvider.System);
    private bool _ticking; // own wait: StartTicks was called (under _inboxGate)
    private TimeSpan _wakeFor = TimeSpan.MaxValue; // own wait: the core's deadline (under _inboxGate)
    private TimeSpan _extraWake = TimeSpan.MaxValue; // own wait: the earliest WakeAt (under _inboxGate)
    private Action? _tick;
    private int _dueBarrier = -1; // own wait: inputs still to run before a due tick (under _inboxGate; -1: none counted)
    private bool _waiting; // the loop thread is in Monitor.Wait on _inboxGate (under _inboxGate)
    private long _lastStep;
    private volatile ClusterStatus? _status;
    private bool _drainedForDueTick; // own wait: the due tick already looked for queued datagrams once (on the loop)
    private int _statusFingerprint; // of the snapshot in _status (on the loop)
    private TimeSpan _statusAt; // when the snapshot in _status was built (node time, on the loop)

    /// <summary>Keeps the groups' ownership guards true to the clock (set before <see cref="Run"/>; null in tests without one).</summary>
    public FreezeGuard? Freeze { get; set; }

    /// <summary>
    /// Own wait only: called on the loop before a due tick while a peer is overdue (Suspect in the last status); it delivers the
    /// datagrams already queued on the links' sockets and says how many. When some were, they run before the tick, as if their
    /// receive thread had not been held up (a thread woken on a virtual CPU the hypervisor stopped waits with it; the loop may be on
    /// the CPU that runs).
    /// </summary>
    public Func<int>? DrainBeforeTick { get; set; }

    /// <summary>
    /// How old the status snapshot may get while nothing it shows changed (<see cref="OwnershipCore.StatusFingerprint"/>): its
    /// time-based texts (a link's silence, a ban's time left) are refreshed at least this often. Zero (the default): rebuilt after every
    /// step. The node sets its heartbeat interval, at least <see cref="MinStatusRefresh"/>: an idle loop wakes about once an interval
    /// (a heartbeat sent or heard), and those steps then cost no status rebuild.
    /// </summary>
    public TimeSpan StatusRefresh { get; set; }

    /// <summary>The shortest <see cref="StatusRefresh"/> the node sets: one second, the resolution of the status's time-based texts.</summary>
    public static readonly TimeSpan MinStatusRefresh = TimeSpan.FromSeconds(1);

    /// <summary>The core (only on the loop, after <see cref="Open"/>).</summary>
    public OwnershipCore Core => _core!;

    /// <summary>Whether the loop task was started (<see cref="Run"/>).</summary>
    public bool IsRunning => _loop is not null;

    /// <summary>Whether <see cref="Open"/> was called.</summary>
    public bool IsOpen => _core is not null;

    /// <summary>The node's monotonic time since start (the core's clock).</summary>
    public TimeSpan Now => time.GetElapsedTime(_startTimestamp);

    /// <summary>The monotonic timestamp the node started at.</summary>
    public long StartTimestamp => _startTimestamp;

    /// <summary>The monotonic timestamp at which the loop last finished a step (the heartbeat sender's proof that the loop is alive).</summary>
    public long LastStepTimestamp => Volatile.Read(ref _lastStep);

    /// <summary>The latest status snapshot (after every step), or <see langword="null"/> before start.</summary>
    public ClusterStatus? Status => _status;

    /// <summary>
    /// Refreshes <see cref="Status"/> now (on the loop, before an event is raised): whoever reads the status from an event handler, or
    /// after it, sees the state that raised the event, not the one before the loop step.
    /// </summary>
    public void RefreshStatus()
    {
        if (_core is { } core)
        {
            _status = core.GetStatus();
            _statusFingerprint = core.StatusFingerprint();
            _statusAt = Now;
        }
    }

    /// <summary>Starts the clock (before the core exists: the witness voter shares it).</summary>
    public void StartClock()
    {
        _startTimestamp = time.GetTimestamp();
        Volatile.Write(ref _lastStep, _startTimestamp);
    }

    /// <summary>Sets the core the loop drives.</summary>
    public void Open(OwnershipCore core)
    {
        _core = core;
        _status = core.GetStatus();
    }

    /// <summary>Starts the loop thread; commands go to <paramref name="executor"/>.</summary>
    public void Run(ICoreCommandHandler executor, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loop = done.Task;
        lock (_inboxGate)
        {
            _waker = LoopWaker.TryCreate();
        }

        var thread = new Thread(() =>
        {
            try
            {
                try
                {
                    RunLoop(executor, cancellationToken);
                }
                finally
                {
                    lock (_inboxGate)
                    {
                        _waker?.Dispose(); // nothing signals it any more: signals come under this lock, and only while the thread waits
                        _waker = null;
                    }
                }

                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "HaKit loop",
        };
        thread.Start();
    }

    /// <summary>How many ticks the wake-up timer queued so far (on the loop).</summary>
    internal long Wakeups { get; private set; }

    /// <summary>The node time the wake-up timer is set for (<see cref="TimeSpan.MaxValue"/>: not set, or it fired).</summary>
    internal TimeSpan ArmedFor => _armedFor;

    /// <summary>
    /// Starts the wake-up timer: a first tick now, then one at each of the core's next deadlines (re-armed after every step; a tick is
    /// queued at most once at a time). While anything is in motion the core's deadline is one tick interval away.
    /// </summary>
    public void StartTicks()
    {
        _armedFor = Now;
        if (_waitsItself)
        {
            lock (_inboxGate)
            {
                _wakeFor = TimeSpan.Zero;
                _ticking = true;
                SignalIfWaiting();
            }

            return;
        }

        _timer = time.CreateTimer(static s => ((NodeLoop)s!).QueueTick(), this, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Whether the loop waits for its deadlines itself (the system clock) rather than through a <see cref="TimeProvider"/> timer.</summary>
    internal bool WaitsItself => _waitsItself;

    /// <summary>Queues work for the loop (any thread). <see langword="false"/> once the loop stopped.</summary>
    public bool Post(Action work)
    {
        lock (_inboxGate)
        {
            if (_inboxCompleted)
            {
                return false;
            }

            _inbox.Enqueue(work);
            if (_waiting)
            {
                // Only the loop thread waits. It may sleep with deferred work queued (PostDeferred), so "the queue was empty" is
                // not the test: whether it sleeps is.
                _waiting = false;
                Signal();
            }
        }

        return true;
    }

    /// <summary>
    /// Queues work that may wait for the loop's next planned wake-up, without waking the loop (any thread): the loop runs it when it
    /// next wakes, before that wake-up's tick and in order with every other input. Used for inputs that change nothing a timely
    /// step depends on (a heartbeat that only proves life again, arriving with its own receive time). Queued only when the loop
    /// waits for its deadlines itself (the system clock) and its next wake-up is planned within <paramref name="within"/>;
    /// otherwise nothing is queued and the caller posts as usual.
    /// </summary>
    /// <param name="work">The work.</param>
    /// <param name="within">How long the work may wait at most.</param>
    /// <returns>Whether the work was queued.</returns>
    public bool PostDeferred(Action work, TimeSpan within)
    {
        lock (_inboxGate)
        {
            if (_inboxCompleted || !_waitsItself || !_ticking)
            {
                return false;
            }

            var due = _wakeFor < _extraWake ? _wakeFor : _extraWake;
            if (due == TimeSpan.MaxValue || due - Now > within)
            {
                return false;
            }

            _inbox.Enqueue(work);
            DeferredPosts++;
            return true;
        }
    }

    /// <summary>How many inputs were queued with <see cref="PostDeferred"/> (under the queue's lock; for tests and diagnostics).</summary>
    internal long DeferredPosts { get; private set; }

    /// <summary>Tracks work running outside the loop (resource actions, arbiter calls, fencing).</summary>
    public void Track(Task task)
    {
        lock (_inFlightLock)
        {
            _inFlight.RemoveAll(t => t.IsCompleted);
            _inFlight.Add(task);
        }
    }

    /// <summary>Tracks an arbiter release (a graceful stop waits for them, bounded).</summary>
    public void TrackRelease(Task release)
    {
        Track(release);
        lock (_inFlightLock)
        {
            _releases.RemoveAll(t => t.IsCompleted);
            _releases.Add(release);
        }
    }

    /// <summary>The arbiter releases sent so far.</summary>
    public Task[] Releases()
    {
        lock (_inFlightLock)
        {
            return [.. _releases];
        }
    }

    /// <summary>The work still tracked.</summary>
    public Task[] InFlight()
    {
        lock (_inFlightLock)
        {
            return [.. _inFlight];
        }
    }

    /// <summary>Stops the ticks, lets the loop finish what is queued, and waits for it.</summary>
    public async Task StopAsync()
    {
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        lock (_inboxGate)
        {
            _inboxCompleted = true;
            SignalIfWaiting();
        }

        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    /// <summary>Queues one extra tick at <paramref name="at"/> (node time), for an input whose effect is due between ticks.</summary>
    public void WakeAt(TimeSpan at)
    {
        if (_waitsItself)
        {
            lock (_inboxGate)
            {
                if (at < _extraWake)
                {
                    _extraWake = at;
                    SignalIfWaiting(); // the loop thread waits for an earlier time now
                }
            }

            return;
        }

        var delay = at - Now;
        ITimer? wake = null;
        wake = time.CreateTimer(
            _ =>
            {
                QueueTick();
                wake?.Dispose();
            },
            null,
            delay > TimeSpan.Zero ? delay : TimeSpan.Zero,
            Timeout.InfiniteTimeSpan);
    }

    private void QueueTick()
    {
        if (Interlocked.Exchange(ref _tickQueued, 1) == 0 && !Post(() =>
            {
                Volatile.Write(ref _tickQueued, 0);
                _armedFor = TimeSpan.MaxValue; // whatever the timer was set for has passed: the step's end sets it again
                Wakeups++;
                _core!.Tick(Now);
            }))
        {
            Volatile.Write(ref _tickQueued, 0);
        }
    }

    /// <summary>A tick the loop thread took itself when its deadline was due (own wait).</summary>
    private void TickNow()
    {
        if (!_drainedForDueTick && DrainBeforeTick is { } drain && _status is { } status && AnyPeerOverdue(status))
        {
            _drainedForDueTick = true;
            if (drain() > 0)
            {
                // What was queued now runs first: the step's end re-arms the same deadline, and Take returns the inputs before it.
                Wakeups++;
                return;
            }
        }

        _drainedForDueTick = false;
        _armedFor = TimeSpan.MaxValue;
        Wakeups++;
        _core!.Tick(Now);
    }

    private void RunLoop(ICoreCommandHandler executor, CancellationToken cancellationToken)
    {
        while (Take() is { } work)
        {
            try
            {
                if (Freeze?.BeginStep() == true)
                {
                    // Woken from a stall: let the core see the time first, so ownership whose lease ended is given up (and its token
                    // cancelled by the commands below) before any queued work runs.
                    _core!.Tick(Now);
                    RunReady(executor, cancellationToken);
                }

                work();
            }
            catch (Exception ex)
            {
                RuntimeLog.LoopError(logger, ex);
            }

            RunReady(executor, cancellationToken);
            var traced = TakeoverTrace.InStartingStep;
            if (traced)
            {
                TakeoverTrace.Mark("loop.takeoverstep.commands-done");
            }

            Freeze?.EndStep(_core!);
            RefreshStatusAfterStep();
            Rearm();
            if (traced)
            {
                TakeoverTrace.Mark("loop.takeoverstep.end");
                TakeoverTrace.EndStep();
            }

            Volatile.Write(ref _lastStep, time.GetTimestamp());
        }
    }

    /// <summary>Rebuilds the status snapshot when what it shows changed, or when it is <see cref="StatusRefresh"/> old (on the loop).</summary>
    public void RefreshStatusIfChanged()
    {
        if (_core is not null)
        {
            RefreshStatusAfterStep();
        }
    }

    /// <inheritdoc />
    /// <remarks>Without it a synchronous start would run before the step's end published the epoch it starts for, and see
    /// itself not owned.</remarks>
    public void PublishOwnership()
    {
        if (_core is not null)
        {
            _ = Freeze?.PublishGuards(_core);
        }
    }

    private void RefreshStatusAfterStep()
    {
        var now = Now;
        if (StatusRefresh <= TimeSpan.Zero)
        {
            _status = _core!.GetStatus();
            return;
        }

        var fingerprint = _core!.StatusFingerprint();
        if (_status is null || fingerprint != _statusFingerprint || now - _statusAt >= StatusRefresh)
        {
            _status = _core.GetStatus();
            _statusFingerprint = fingerprint;
            _statusAt = now;
        }
    }

    private static bool AnyPeerOverdue(ClusterStatus status)
    {
        foreach (var peer in status.Peers)
        {
            if (peer.Health == PeerHealth.Suspect)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Sets the wake-up timer for the core's next deadline (on the loop, after every step; only when the deadline moved).</summary>
    private void Rearm()
    {
        if (_waitsItself)
        {
            lock (_inboxGate)
            {
                if (_ticking && Wakeups > 0) // before the first tick, StartTicks's "now" stands
                {
                    var next = _core!.NextDeadline();
                    Freeze?.PlanWake(_startTimestamp + ToTimestampTicks(next));
                    _armedFor = next;
                    _wakeFor = next;
                }
            }

            return;
        }

        if (_timer is not { } timer)
        {
            return; // not started, or tests without ticks
        }

        var deadline = _core!.NextDeadline();
        Freeze?.PlanWake(_startTimestamp + ToTimestampTicks(deadline));
        if (deadline == _armedFor)
        {
            return;
        }

        _armedFor = deadline;

        // The runtime's timers count whole milliseconds on a coarser clock and fire up to a millisecond before the deadline by this
        // one; a tick that early finds nothing to do and re-armed for the rest, again and again (measured: ~15 wake-ups per
        // heartbeat). So the timer is set one millisecond late, rounded up: a deadline is met 1-2 ms late, far inside every preset's
        // LocalPauseThreshold (and heartbeats go out every Interval + 1-2 ms).
        var delay = deadline - Now;
        var due = delay > TimeSpan.Zero ? TimeSpan.FromMilliseconds(Math.Ceiling(delay.TotalMilliseconds) + 1) : TimeSpan.Zero;
        try
        {
            _ = timer.Change(due, Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Stopping.
        }
    }

    private long ToTimestampTicks(TimeSpan span) => (long)(span.Ticks * (double)time.TimestampFrequency / TimeSpan.TicksPerSecond);

    /// <summary>Executes the core's commands in order, each to its end (the loop thread waits for one that completes later, as the
    /// loop always did: the next step sees its effect).</summary>
    private void RunReady(ICoreCommandHandler executor, CancellationToken cancellationToken)
    {
        while (_core!.HasReady)
        {
            foreach (var command in _core.TakeReady())
            {
                // One failing command (a send on a broken link, say) must not cost the rest of the batch.
                try
                {
                    if (TakeoverTrace.InStartingStep)
                    {
                        TakeoverTrace.MarkCommand(command.GetType().Name);
                    }

                    var accepted = command.AcceptAsync(executor, cancellationToken);
                    if (accepted.IsCompletedSuccessfully)
                    {
                        accepted.GetAwaiter().GetResult();
                    }
                    else
                    {
                        accepted.AsTask().GetAwaiter().GetResult();
                    }
                }
                catch (Exception ex)
                {
                    RuntimeLog.LoopError(logger, ex);
                }
            }
        }
    }
}
