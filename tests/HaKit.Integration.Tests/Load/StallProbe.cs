using System.Diagnostics;
using System.Runtime.InteropServices;

namespace HaKit.Integration.Load;

/// <summary>
/// What the machine itself does to a real-time thread, measured beside the nodes (like <c>cyclictest</c>): one thread per CPU, pinned
/// to it, under <c>SCHED_RR</c> priority 90 (above every thread of the nodes), sleeps 1 ms again and again and keeps the longest time
/// between two wake-ups. A long gap here is a stall no priority inside the machine can prevent (a virtual CPU the hypervisor did
/// not run, a long non-preemptible kernel section). A gap during which this process ran a garbage collection is not counted (the
/// collection, not the machine, may have held the thread). Needs root for the real-time priority (<see cref="RealTime"/>).
/// </summary>
public sealed partial class StallProbe : IDisposable
{
    private const int SchedRr = 2;
    private const int Priority = 90;
    private readonly Thread[] _threads;
    private readonly long[] _worst;
    private readonly bool[] _realTime;
    private readonly Lock _gate = new();
    private readonly List<(DateTimeOffset Start, DateTimeOffset End)> _long = [];
    private readonly long _longTicks;
    private long _discounted;
    private volatile bool _stopped;

    /// <summary>Starts one probe thread per CPU.</summary>
    /// <param name="keepFrom">Gaps at least this long are kept with their wall-clock times (<see cref="LongStalls"/>).</param>
    public StallProbe(TimeSpan keepFrom)
    {
        _longTicks = (long)(keepFrom.TotalSeconds * Stopwatch.Frequency);
        var cpus = Environment.ProcessorCount;
        _worst = new long[cpus];
        _realTime = new bool[cpus];
        _threads = [.. Enumerable.Range(0, cpus).Select(cpu => new Thread(() => Run(cpu)) { IsBackground = true, Name = $"stall probe cpu{cpu}" })];
        foreach (var t in _threads)
        {
            t.Start();
        }
    }

    /// <summary>Whether every probe thread got its CPU and its real-time priority.</summary>
    public bool RealTime => _realTime.All(r => r);

    /// <summary>The longest time between two wake-ups of any probe thread (the 1 ms sleep included).</summary>
    public TimeSpan WorstGap => WorstGapPerCpu.Max();

    /// <summary>The longest gap per CPU, for messages.</summary>
    public IReadOnlyList<TimeSpan> WorstGapPerCpu => [.. _worst.Select(w => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref w)))];

    /// <summary>The gaps of at least the constructor's <c>keepFrom</c>, as wall-clock intervals (UTC), on any CPU.</summary>
    public IReadOnlyList<(DateTimeOffset Start, DateTimeOffset End)> LongStalls
    {
        get
        {
            lock (_gate)
            {
                return [.. _long];
            }
        }
    }

    /// <summary>Gaps not counted because this process collected garbage meanwhile.</summary>
    public long Discounted => Interlocked.Read(ref _discounted);

    /// <summary>Stops the probe threads (waits at most 1 s for each).</summary>
    public void Dispose()
    {
        _stopped = true;
        foreach (var t in _threads)
        {
            t.Join(TimeSpan.FromSeconds(1));
        }
    }

    private void Run(int cpu)
    {
        var mask = 1UL << cpu;
        var pinned = SchedSetAffinity(0, (nuint)sizeof(ulong), ref mask) == 0;
        var priority = Priority;
        _realTime[cpu] = pinned && SchedSetScheduler(0, SchedRr, ref priority) == 0;
        var last = Stopwatch.GetTimestamp();
        var collections = GC.CollectionCount(0);
        while (!_stopped)
        {
            Thread.Sleep(1);
            var now = Stopwatch.GetTimestamp();
            var after = GC.CollectionCount(0);
            if (after != collections)
            {
                Interlocked.Increment(ref _discounted);
            }
            else
            {
                if (now - last > _worst[cpu])
                {
                    Interlocked.Exchange(ref _worst[cpu], now - last);
                }

                if (now - last >= _longTicks)
                {
                    var end = DateTimeOffset.UtcNow;
                    lock (_gate)
                    {
                        _long.Add((end - Stopwatch.GetElapsedTime(last, now), end));
                    }
                }
            }

            collections = after;
            last = now;
        }
    }

    [LibraryImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static partial int SchedSetScheduler(int pid, int policy, ref int priority);

    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int SchedSetAffinity(int pid, nuint size, ref ulong mask);
}
