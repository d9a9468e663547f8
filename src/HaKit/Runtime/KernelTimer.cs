using System.Runtime.InteropServices;

namespace HaKit.Runtime;

/// <summary>
/// A one-shot Linux <c>timerfd</c> on the monotonic clock that one thread blocks on while others re-arm it: a deadline that is pushed
/// back before it expires wakes nobody (the <see cref="HeartbeatSender"/> waits for "the loop has not sent for a while" this way,
/// instead of waking at every heartbeat to find that it has). <see cref="TryCreate"/> returns <see langword="null"/> where
/// <c>timerfd</c> is not available; callers keep a timed wait then.
/// </summary>
internal sealed class KernelTimer : IDisposable
{
    private const int ClockMonotonic = 1;
    private const int TfdFlags = 0x80000 | 0x800; // TFD_CLOEXEC | TFD_NONBLOCK: a re-arm between poll and read must not block the read

    private readonly int _fd;
    private readonly LinuxInterop.PollFd[] _poll = new LinuxInterop.PollFd[1]; // only the waiting thread uses it
    private int _disposed;

    private KernelTimer(int fd) => _fd = fd;

    /// <summary>Creates a disarmed timer, or <see langword="null"/> when the platform has no <c>timerfd</c>.</summary>
    public static KernelTimer? TryCreate()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            var fd = TimerFdCreate(ClockMonotonic, TfdFlags);
            return fd < 0 ? null : new KernelTimer(fd);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Sets the timer to expire once, <paramref name="after"/> from now (at least 1 ns: zero would disarm it), replacing any earlier setting (any thread).</summary>
    /// <param name="after">When, from now.</param>
    public void Arm(TimeSpan after)
    {
        var ticks = Math.Max(after.Ticks, 0);
        var spec = new ITimerSpec
        {
            ValueSeconds = ticks / TimeSpan.TicksPerSecond,
            ValueNanoseconds = Math.Max((ticks % TimeSpan.TicksPerSecond) * 100, ticks == 0 ? 1 : 0),
        };
        if (Volatile.Read(ref _disposed) == 0)
        {
            _ = TimerFdSetTime(_fd, 0, ref spec, IntPtr.Zero);
        }
    }

    /// <summary>
    /// Blocks until the timer expires (then <see langword="true"/>, and it is disarmed until the next <see cref="Arm"/>) or
    /// <paramref name="timeout"/> passes (<see langword="false"/>; <see cref="Timeout.InfiniteTimeSpan"/>: no limit).
    /// </summary>
    /// <param name="timeout">The longest wait.</param>
    public bool Wait(TimeSpan timeout)
    {
        var ms = timeout == Timeout.InfiniteTimeSpan ? -1 : (int)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 0, int.MaxValue - 1);
        while (true)
        {
            _poll[0] = new LinuxInterop.PollFd { Fd = _fd, Events = LinuxInterop.PollIn };
            var ready = LinuxInterop.Poll(_poll, 1, ms);
            if (ready < 0)
            {
                if (Marshal.GetLastPInvokeError() == LinuxInterop.Eintr)
                {
                    continue;
                }

                throw new InvalidOperationException($"poll on a timerfd failed (errno {Marshal.GetLastPInvokeError()})");
            }

            if (ready == 0)
            {
                return false;
            }

            ulong expirations = 0;
            _ = LinuxInterop.Read(_fd, ref expirations, sizeof(ulong)); // clears the readable state (EAGAIN, harmless, when a re-arm came first)
            return true;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _ = LinuxInterop.Close(_fd);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ITimerSpec
    {
        public long IntervalSeconds;
        public long IntervalNanoseconds;
        public long ValueSeconds;
        public long ValueNanoseconds;
    }


    [DllImport("libc", EntryPoint = "timerfd_create", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int TimerFdCreate(int clockId, int flags);

    [DllImport("libc", EntryPoint = "timerfd_settime", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int TimerFdSetTime(int fd, int flags, ref ITimerSpec value, IntPtr old);



}
