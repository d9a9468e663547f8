using System.Diagnostics;
using System.Runtime.InteropServices;

namespace HaKit.Runtime;

/// <summary>
/// How the <see cref="NodeLoop"/> thread sleeps on Linux: a POSIX semaphore (<c>sem_clockwait</c> on <c>CLOCK_MONOTONIC</c> with an
/// absolute deadline, <c>sem_post</c> to wake it), instead of <see cref="Monitor.Wait(object, int)"/>. The runtime's monitor wait goes
/// through its sync block, a per-thread event and the PAL's mutex and condition variable on every wake-up (measured here: about
/// 6-9 µs of CPU more per wake-up than this, for a loop that wakes 5-6 times a second while idle); glibc's semaphore is one atomic
/// operation when it is already posted and one <c>futex</c> call to sleep. <see cref="TryCreate"/> returns <see langword="null"/>
/// where it is not available (not Linux, no <c>sem_clockwait</c>, a <see cref="Stopwatch"/> that does not count nanoseconds); the
/// loop keeps the monitor then.
/// </summary>
/// <remarks>
/// The caller keeps the wake-up protocol: it wakes the thread only when that thread said it is about to wait (under the caller's
/// lock), so the semaphore holds at most one surplus post, and a post that crosses a timed-out wait costs one spurious return
/// (the loop looks at its queue again and sleeps). A semaphore posted before the wait began makes the wait return at once: no
/// wake-up is lost. Freed by <see cref="Dispose"/> only when no thread can call <see cref="Wake"/> or <see cref="Wait"/> any more.
/// </remarks>
internal sealed class LoopWaker : IDisposable
{
    private const int ClockMonotonic = 1;
    private const int Etimedout = 110;
    private const int SemSize = 64; // sem_t is 32 bytes on 64-bit glibc and musl; room to spare

    private nint _sem;

    private LoopWaker(nint sem) => _sem = sem;

    /// <summary>
    /// Creates a waker, or <see langword="null"/> where it cannot work: not Linux, no <c>sem_clockwait</c> (glibc before 2.30), or a
    /// <see cref="Stopwatch"/> whose timestamps are not <c>CLOCK_MONOTONIC</c> nanoseconds (the deadline is given as a timestamp).
    /// </summary>
    public static LoopWaker? TryCreate()
    {
        if (!OperatingSystem.IsLinux() || Stopwatch.Frequency != 1_000_000_000)
        {
            return null;
        }

        var sem = Marshal.AllocHGlobal(SemSize);
        try
        {
            if (SemInit(sem, 0, 0) != 0)
            {
                Marshal.FreeHGlobal(sem);
                return null;
            }

            // Probe the entry point once (an already expired deadline: returns at once with ETIMEDOUT).
            var probe = new TimeSpec();
            _ = SemClockWait(sem, ClockMonotonic, ref probe);
            return new LoopWaker(sem);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            Marshal.FreeHGlobal(sem);
            return null;
        }
    }

    /// <summary>Wakes the thread in <see cref="Wait"/>, or makes its next wait return at once (any thread).</summary>
    public void Wake() => _ = SemPost(_sem);

    /// <summary>
    /// Sleeps until <see cref="Wake"/> or until the monotonic clock reaches <paramref name="deadline"/> (a <see cref="Stopwatch"/>
    /// timestamp; <see cref="long.MaxValue"/>: no deadline). Never returns before the deadline unless woken; may return early after an
    /// interrupted call (the caller looks at the time again). <see langword="false"/>: the wait failed for another reason (the caller
    /// falls back to another wait).
    /// </summary>
    /// <param name="deadline">The absolute deadline, in <see cref="Stopwatch"/> timestamps (nanoseconds of <c>CLOCK_MONOTONIC</c>).</param>
    public bool Wait(long deadline)
    {
        int result;
        if (deadline == long.MaxValue)
        {
            result = SemWait(_sem);
        }
        else
        {
            var at = Math.Max(deadline, 0);
            var spec = new TimeSpec { Seconds = at / 1_000_000_000, Nanoseconds = at % 1_000_000_000 };
            result = SemClockWait(_sem, ClockMonotonic, ref spec);
        }

        if (result == 0)
        {
            return true;
        }

        var error = Marshal.GetLastPInvokeError();
        if (error is Etimedout or LinuxInterop.Eintr)
        {
            return true;
        }

        LastError = error;
        return false;
    }

    /// <summary>The <c>errno</c> of the last failed <see cref="Wait"/> (0: none failed).</summary>
    public int LastError { get; private set; }

    /// <inheritdoc />
    public void Dispose()
    {
        var sem = Interlocked.Exchange(ref _sem, 0);
        if (sem != 0)
        {
            _ = SemDestroy(sem);
            Marshal.FreeHGlobal(sem);
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "sem_init", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SemInit(nint sem, int shared, uint value);

    [DllImport("libc", EntryPoint = "sem_post", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SemPost(nint sem);

    [DllImport("libc", EntryPoint = "sem_wait", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SemWait(nint sem);

    [DllImport("libc", EntryPoint = "sem_clockwait", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SemClockWait(nint sem, int clock, ref TimeSpec deadline);

    [DllImport("libc", EntryPoint = "sem_destroy", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SemDestroy(nint sem);
}
