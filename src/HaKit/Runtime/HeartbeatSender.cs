using HaKit.Transport;
using HaKit.Wire;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// When the <see cref="HeartbeatSender"/> repeats the last heartbeat: pure (node times in, a decision out), so the rule is tested on
/// virtual time.
/// </summary>
/// <param name="RepeatAfter">
/// Silence of the loop's own sends after which the sender repeats the last heartbeat: one interval plus two ticks (a healthy loop
/// sends within one interval plus one tick, so on a healthy node the sender never sends).
/// </param>
/// <param name="StaleAfter">
/// How long after the loop's last step the sender still repeats: twice the dead time minus one interval, so a loop frozen for about
/// a dead time (a hypervisor that takes a virtual CPU away for 100 ms; a long GC pause) is not mistaken for a dead node, while a loop
/// frozen longer falls silent and the peer declares this node dead at most this much later than without the sender.
/// </param>
internal readonly record struct HeartbeatRepeatRule(TimeSpan RepeatAfter, TimeSpan StaleAfter)
{
    /// <summary>The rule for a node's timing: repeat after <c>Interval + 2 × TickInterval</c>, stay silent once the loop is <c>2 × DeadTime - Interval</c> old.</summary>
    public static HeartbeatRepeatRule For(TimingOptions timing) => new(
        timing.Interval + timing.EffectiveTickInterval + timing.EffectiveTickInterval,
        timing.DeadTime + timing.DeadTime - timing.Interval);

    /// <summary>What to do at <paramref name="now"/>.</summary>
    /// <param name="now">Now (node time).</param>
    /// <param name="lastSent">When the last heartbeat went out (the loop's or a repeat).</param>
    /// <param name="loopStep">When the loop last finished a step.</param>
    /// <returns>Whether to repeat the last heartbeat now, and when to look again.</returns>
    public (bool Repeat, TimeSpan WakeAt) Decide(TimeSpan now, TimeSpan lastSent, TimeSpan loopStep)
    {
        var due = lastSent + RepeatAfter;
        if (now < due)
        {
            return (false, due);
        }

        // The loop is frozen for longer than is safe to hide: say nothing, so that the peer sees this node's silence.
        return now - loopStep > StaleAfter ? (false, now + RepeatAfter) : (true, now + RepeatAfter);
    }
}

/// <summary>
/// Dedicated threads that keep heartbeats flowing on the UDP links when the node's loop is late (a busy machine, a slow step, a
/// virtual CPU the hypervisor took away): the loop sends every heartbeat as before and hands its payload here; when no heartbeat went
/// out for <see cref="HeartbeatRepeatRule.RepeatAfter"/>, a sender thread repeats the last payload in a fresh envelope (next
/// sequence number, HMAC) encoded into its own reused buffers, allocation-free. It never claims more than the loop said: a repeat
/// carries the same announcement number, which receivers take as proof of life only (the content was already applied); a probe flag
/// is not repeated. It stays silent once the loop has not finished a step for <see cref="HeartbeatRepeatRule.StaleAfter"/>, so a
/// frozen loop is still seen as this node's death. Under <c>HaKit:RealtimePriority</c> the threads run one real-time priority above
/// the node's other threads. On Linux with the system clock each thread blocks on its own <see cref="KernelTimer"/> that each
/// <see cref="Sent"/> pushes back, so a loop that sends on time never wakes them.
/// </summary>
/// <remarks>
/// <para>
/// A virtual machine's CPU can stop for 100 ms while the other runs on (measured on the 2-core machines HaKit is tested on), and a
/// thread, or a kernel timer, that waits on the stopped CPU waits with it; the main sender thread's timer is armed by the loop, so it
/// lives on the loop's CPU and stops with it. Where such a stop would outlast what the peer tolerates (the repeat time plus
/// <see cref="CpuStopAllowance"/> reaches the dead time: the Fast preset, not Lan), two backup threads ("lanes") are added on Linux
/// with two or more usable CPUs, each pinned to its own CPU and waking on its own clock every <see cref="BackupPeriod"/>; their
/// repeat is due one tick after the main thread's, and a lock taken with <c>TryEnter</c> keeps two lanes from repeating at once.
/// </para>
/// </remarks>
internal sealed class HeartbeatSender : IDisposable
{
    private readonly IHeartbeatTransport[] _links;
    private readonly EnvelopeCodec _codec;
    private readonly HaKitMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly long _startTimestamp;
    private readonly Func<long> _loopStep;
    private readonly HeartbeatRepeatRule _rule;
    private readonly TimeSpan _laneLag;
    private readonly int _realtimePriority;
    private readonly Lock _gate = new();
    private readonly Lock _repeatGate = new();
    private readonly byte[] _pending;
    private readonly byte[] _current;
    private readonly byte[][] _packets;
    private readonly AutoResetEvent _wake = new(false);
    private readonly Lane[] _lanes;
    private readonly TimeSpan _backupPeriod;
    private int _pendingLength = -1;
    private int _currentLength = -1;
    private int _pendingVersion;
    private int _currentVersion;
    private long _lastSent;
    private long _wakes;
    private long _repeats;
    private long _backupWakes;
    private volatile bool _stopping;

    /// <param name="links">The links to repeat on (UDP: sends complete synchronously and may run next to the loop's).</param>
    /// <param name="codec">The node's codec (thread-safe; every envelope gets the next sequence number).</param>
    /// <param name="maxPacketSize">The largest packet.</param>
    /// <param name="rule">When to repeat.</param>
    /// <param name="time">The node's clock.</param>
    /// <param name="startTimestamp">The node's start (node time 0).</param>
    /// <param name="loopStep">The monotonic timestamp of the loop's last finished step.</param>
    /// <param name="realtimePriority">The node's <c>HaKit:RealtimePriority</c> (0: off).</param>
    /// <param name="metrics">Counts repeats as sent heartbeats.</param>
    /// <param name="logger">For failures of the thread.</param>
    /// <param name="laneLag">How much later than the main thread's the backup lanes' repeat is due (the node's tick interval).</param>
    /// <param name="backupPeriod">How often the backup lanes look (<see cref="BackupPeriod"/>); <see langword="null"/>: no backup lanes.</param>
    /// <param name="cpus">The CPUs to pin the backup lanes to (one each, at most two); <see langword="null"/>: the first two the process may use (backup lanes only where there are two, on Linux with the system clock).</param>
    public HeartbeatSender(IReadOnlyList<IHeartbeatTransport> links, EnvelopeCodec codec, int maxPacketSize, HeartbeatRepeatRule rule, TimeProvider time,
        long startTimestamp, Func<long> loopStep, int realtimePriority, HaKitMetrics metrics, ILogger logger, TimeSpan? laneLag = null,
        TimeSpan? backupPeriod = null, IReadOnlyList<int>? cpus = null)
    {
        _links = [.. links];
        _codec = codec;
        _rule = rule;
        _time = time;
        _startTimestamp = startTimestamp;
        _loopStep = loopStep;
        _realtimePriority = realtimePriority;
        _metrics = metrics;
        _logger = logger;
        _laneLag = laneLag ?? TimeSpan.FromMilliseconds(5);
        _pending = new byte[maxPacketSize];
        _current = new byte[maxPacketSize];
        _packets = [.. _links.Select(_ => new byte[maxPacketSize])];
        _lastSent = time.GetTimestamp();
        _backupPeriod = backupPeriod ?? TimeSpan.Zero;
        var system = ReferenceEquals(time, TimeProvider.System);
        var main = new Lane(0, system ? KernelTimer.TryCreate() : null, -1);
        var pins = backupPeriod is null || main.Timer is null ? [] : cpus ?? CpuAffinity.Usable();
        if (pins.Count >= 2 && KernelTimer.TryCreate() is { } one && KernelTimer.TryCreate() is { } two)
        {
            _lanes = [main, new Lane(1, one, pins[0]), new Lane(2, two, pins[1])];
        }
        else
        {
            _lanes = [main];
        }
    }

    /// <summary>How long one CPU of a virtual machine was seen to stop while the other ran on (100 ms here), with a margin.</summary>
    internal static readonly TimeSpan CpuStopAllowance = TimeSpan.FromMilliseconds(150);

    /// <summary>
    /// How often the backup lanes look, or <see langword="null"/> when the node's timing needs none (a CPU stop of
    /// <see cref="CpuStopAllowance"/> after the repeat time still ends before the peer's dead time). The period keeps the longest
    /// silence a backup lane allows (repeat time + its lag + one period) a tick short of the dead time: Fast 40 ms.
    /// </summary>
    /// <param name="timing">The node's timing.</param>
    public static TimeSpan? BackupPeriod(TimingOptions timing)
    {
        var rule = HeartbeatRepeatRule.For(timing);
        var tick = timing.EffectiveTickInterval;
        if (rule.RepeatAfter + CpuStopAllowance < timing.DeadTime)
        {
            return null;
        }

        var period = timing.DeadTime - rule.RepeatAfter - tick - tick;
        return period > tick ? period : tick;
    }

    /// <summary>
    /// Whether the threads wait on kernel timers that every <see cref="Sent"/> pushes back (Linux, system clock): while the loop
    /// sends on time they never wake. Otherwise the one thread wakes at each would-be repeat and finds the loop's send.
    /// </summary>
    internal bool UsesKernelTimer => _lanes[0].Timer is not null;

    /// <summary>The CPU each sender thread is pinned to (-1: the main thread, not pinned), in lane order.</summary>
    internal IReadOnlyList<int> LaneCpus => [.. _lanes.Select(l => l.Cpu)];

    /// <summary>The native thread id of each lane's thread once it runs (0 before), in lane order.</summary>
    internal IReadOnlyList<int> LaneThreadIds => [.. _lanes.Select(l => Volatile.Read(ref l.ThreadId))];

    /// <summary>How many times the main thread woke to look at the loop's sends (after its first look).</summary>
    internal long Wakes => Interlocked.Read(ref _wakes);

    /// <summary>How many times the backup lanes looked (they wake on their own clock).</summary>
    internal long BackupWakes => Interlocked.Read(ref _backupWakes);

    /// <summary>Heartbeats the threads repeated so far.</summary>
    public long Repeats => Interlocked.Read(ref _repeats);

    /// <summary>Test hook: runs on a lane's thread before each look (the lane's index); a test blocks it to stand for a stopped CPU.</summary>
    internal Action<int>? BeforeLook { get; set; }

    /// <summary>Starts the threads.</summary>
    public void Start()
    {
        foreach (var lane in _lanes)
        {
            var name = lane.Backup ? $"HaKit hb cpu{lane.Cpu}" : "HaKit heartbeat sender";
            lane.Thread = new Thread(() => Run(lane)) { IsBackground = true, Name = name, Priority = ThreadPriority.Highest };
            lane.Thread.Start();
        }
    }

    /// <summary>
    /// The loop sent a heartbeat with <paramref name="payload"/> (a serialized <c>ClusterMessage</c>, without the probe flag):
    /// it becomes what a repeat carries, and the repeat clock starts over. Copies under a lock, allocation-free.
    /// </summary>
    public void Sent(ReadOnlySpan<byte> payload)
    {
        lock (_gate)
        {
            payload.CopyTo(_pending);
            _pendingLength = payload.Length;
            _pendingVersion++;
        }

        Interlocked.Exchange(ref _lastSent, _time.GetTimestamp());
        _lanes[0].Timer?.Arm(_rule.RepeatAfter); // the backup lanes keep their own clock: a timer armed here would live on this CPU
    }

    /// <summary>Stops the threads (bounded wait); no repeat goes out afterwards.</summary>
    public void Stop()
    {
        _stopping = true;
        _wake.Set();
        foreach (var lane in _lanes)
        {
            lane.Timer?.Arm(TimeSpan.Zero);
        }

        foreach (var lane in _lanes)
        {
            if (lane.Thread is { } t && t != Thread.CurrentThread)
            {
                t.Join(TimeSpan.FromSeconds(2));
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Stop();
        _wake.Dispose();
        foreach (var lane in _lanes)
        {
            lane.Timer?.Dispose();
        }
    }


    private TimeSpan NodeTime(long timestamp) => _time.GetElapsedTime(_startTimestamp, timestamp);

    private void Run(Lane lane)
    {
        Volatile.Write(ref lane.ThreadId, RealtimeScheduling.CurrentThreadId());
        if (lane.Cpu >= 0 && !CpuAffinity.TryPinCurrentThread(lane.Cpu))
        {
            RuntimeLog.HeartbeatSenderUnpinned(_logger, lane.Cpu);
        }

        if (_realtimePriority > 0)
        {
            RealtimeScheduling.TryApplyToCurrentThread(Math.Min(_realtimePriority + 1, 99));
        }

        var rule = lane.Backup ? _rule with { RepeatAfter = _rule.RepeatAfter + _laneLag } : _rule;
        var reapplies = lane.Index == 0 && _realtimePriority > 0; // one lane keeps the other threads' priorities
        var nextReapply = TimeSpan.MinValue;
        var nextFullReapply = TimeSpan.MinValue;
        var threads = -1;
        try
        {
            while (!_stopping)
            {
                BeforeLook?.Invoke(lane.Index);
                var now = NodeTime(_time.GetTimestamp());
                if (reapplies && now >= nextReapply)
                {
                    // Scanning every thread is the expensive part: do it when the process's thread count changed (a new thread-pool
                    // worker, say), and every 10 s in any case (a thread that ended and one that started in the same second).
                    var count = RealtimeScheduling.ThreadCount();
                    if (count != threads || now >= nextFullReapply)
                    {
                        RealtimeScheduling.ReapplyAll(_realtimePriority, LaneThreadIds);
                        threads = count;
                        nextFullReapply = now + TimeSpan.FromSeconds(10);
                    }

                    nextReapply = now + TimeSpan.FromSeconds(1);
                }

                var wakeAt = Look(rule, now);
                if (lane.Backup)
                {
                    // Its own clock, on its own CPU (the wait's timer lives where the thread sleeps); only Stop arms the timer.
                    _ = lane.Timer!.Wait(_backupPeriod);
                    Interlocked.Increment(ref _backupWakes);
                    continue;
                }

                var wait = wakeAt - NodeTime(_time.GetTimestamp());
                if (lane.Timer is { } timer)
                {
                    // The loop's next send pushes this back; only a late loop (or the 1 s real-time check) wakes the thread.
                    timer.Arm(wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
                    if (_stopping)
                    {
                        break; // Stop armed the timer to fire at once before this thread's own setting replaced it
                    }

                    _ = timer.Wait(reapplies ? TimeSpan.FromSeconds(1) : Timeout.InfiniteTimeSpan);
                }
                else if (wait > TimeSpan.Zero)
                {
                    _wake.WaitOne(wait);
                }

                Interlocked.Increment(ref _wakes);
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            RuntimeLog.HeartbeatSenderFailed(_logger, ex);
        }
    }

    /// <summary>Decides and, when due, repeats; one lane at a time (a lane that finds the other sending leaves it to that one).</summary>
    private TimeSpan Look(HeartbeatRepeatRule rule, TimeSpan now)
    {
        if (!_repeatGate.TryEnter())
        {
            return now + rule.RepeatAfter; // the other lane is repeating right now
        }

        try
        {
            var (repeat, wakeAt) = rule.Decide(now, NodeTime(Interlocked.Read(ref _lastSent)), NodeTime(_loopStep()));
            if (repeat)
            {
                Repeat();
            }

            return wakeAt;
        }
        finally
        {
            _repeatGate.Exit();
        }
    }

    /// <summary>Sends the last payload once more on every link, each in a fresh envelope.</summary>
    internal void Repeat()
    {
        lock (_gate)
        {
            if (_pendingVersion != _currentVersion)
            {
                _pending.AsSpan(0, Math.Max(_pendingLength, 0)).CopyTo(_current);
                _currentLength = _pendingLength;
                _currentVersion = _pendingVersion;
            }
        }

        if (_currentLength < 0)
        {
            return; // the loop has not sent its first heartbeat yet
        }

        Interlocked.Exchange(ref _lastSent, _time.GetTimestamp());
        for (var i = 0; i < _links.Length && !_stopping; i++)
        {
            try
            {
                var length = _codec.Encode(_current.AsSpan(0, _currentLength), _packets[i]);
                var send = _links[i].SendAsync(_packets[i].AsMemory(0, length), CancellationToken.None);
                if (send.IsCompletedSuccessfully)
                {
                    send.GetAwaiter().GetResult();
                }
                else
                {
                    send.AsTask().GetAwaiter().GetResult();
                }

                _metrics.HeartbeatSent(_links[i].LinkName);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException && _stopping)
            {
                return;
            }
        }

        Interlocked.Increment(ref _repeats);
    }

    /// <summary>One sender thread: its timer, the CPU it is pinned to, whether it is a backup lane.</summary>
    private sealed class Lane(int index, KernelTimer? timer, int cpu)
    {
        public int Index { get; } = index;

        public KernelTimer? Timer { get; } = timer;

        public int Cpu { get; } = cpu;

        public bool Backup => Index > 0; // lane 0 is the main thread

        public Thread? Thread { get; set; }

        public int ThreadId;
    }
}
