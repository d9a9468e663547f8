using System.Threading.Channels;
using HaKit.Ownership;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// The node's single loop: every call into the <see cref="OwnershipCore"/> runs here, in order (received heartbeats, ticks, results
/// of resource actions, arbiter answers, fencing, admin commands), and after each one the core's commands are executed in order.
/// Work done elsewhere (resource actions, arbiter calls, fencing) is tracked so that stopping can wait for it.
/// </summary>
internal sealed class NodeLoop(TimeProvider time, ILogger logger) : ICommandLoop
{
    private readonly Channel<Action> _inbox = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<Task> _inFlight = [];
    private readonly List<Task> _releases = [];
    private readonly Lock _inFlightLock = new();
    private OwnershipCore? _core;
    private long _startTimestamp;
    private ITimer? _timer;
    private Task? _loop;
    private int _tickQueued;
    private long _lastStep;
    private volatile ClusterStatus? _status;

    /// <summary>Keeps the groups' ownership guards true to the clock (set before <see cref="Run"/>; null in tests without one).</summary>
    public FreezeGuard? Freeze { get; set; }

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

    /// <summary>Starts the loop task; commands go to <paramref name="executor"/>.</summary>
    public void Run(ICoreCommandHandler executor, CancellationToken cancellationToken) =>
        _loop = Task.Run(() => RunAsync(executor, cancellationToken), CancellationToken.None);

    /// <summary>Starts the tick timer (a tick is queued at most once at a time).</summary>
    public void StartTicks(TimeSpan interval) =>
        _timer = time.CreateTimer(static s => ((NodeLoop)s!).QueueTick(), this, TimeSpan.Zero, interval);

    /// <summary>Queues work for the loop (any thread). <see langword="false"/> once the loop stopped.</summary>
    public bool Post(Action work) => _inbox.Writer.TryWrite(work);

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

        _inbox.Writer.TryComplete();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    /// <summary>Queues one extra tick at <paramref name="at"/> (node time), for an input whose effect is due between ticks.</summary>
    public void WakeAt(TimeSpan at)
    {
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
                _core!.Tick(Now);
            }))
        {
            Volatile.Write(ref _tickQueued, 0);
        }
    }

    private async Task RunAsync(ICoreCommandHandler executor, CancellationToken cancellationToken)
    {
        await foreach (var work in _inbox.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                if (Freeze?.BeginStep() == true)
                {
                    // Woken from a stall: let the core see the time first, so ownership whose lease ended is given up (and its token
                    // cancelled by the commands below) before any queued work runs.
                    _core!.Tick(Now);
                    await RunReadyAsync(executor, cancellationToken).ConfigureAwait(false);
                }

                work();
            }
            catch (Exception ex)
            {
                RuntimeLog.LoopError(logger, ex);
            }

            await RunReadyAsync(executor, cancellationToken).ConfigureAwait(false);
            Freeze?.EndStep(_core!);
            _status = _core!.GetStatus();
            Volatile.Write(ref _lastStep, time.GetTimestamp());
        }
    }

    private async Task RunReadyAsync(ICoreCommandHandler executor, CancellationToken cancellationToken)
    {
        while (_core!.HasReady)
        {
            foreach (var command in _core.TakeReady())
            {
                // One failing command (a send on a broken link, say) must not cost the rest of the batch.
                try
                {
                    await command.AcceptAsync(executor, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    RuntimeLog.LoopError(logger, ex);
                }
            }
        }
    }
}
