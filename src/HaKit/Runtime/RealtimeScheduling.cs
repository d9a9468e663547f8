using System.Runtime.InteropServices;

namespace HaKit.Runtime;

/// <summary>
/// Puts every thread of this process under the Linux real-time round-robin scheduler (<c>SCHED_RR</c>), as corosync does,
/// so that heartbeats are sent and received on time even when other processes saturate the CPUs. Threads created later
/// (thread-pool growth) inherit the policy from the thread that creates them.
/// </summary>
internal static partial class RealtimeScheduling
{
    private const int SchedOther = 0;

    private const int SchedRr = 2;

    /// <summary>Threads that left real-time scheduling on purpose (the warm-up): a later <see cref="TryApply"/> leaves them alone.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> Left = new();

    /// <summary>Applies <c>SCHED_RR</c> with <paramref name="priority"/> to every thread of the process.</summary>
    /// <returns><see langword="null"/> on success, else why it could not be applied (with what to do about it).</returns>
    public static string? TryApply(int priority)
    {
        if (!OperatingSystem.IsLinux())
        {
            return "real-time scheduling is only supported on Linux; HaKit:RealtimePriority is ignored on this OS";
        }

        var failed = 0;
        var applied = 0;
        var lastError = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var tid) || Left.ContainsKey(tid))
            {
                continue;
            }

            var param = new SchedParam { Priority = priority };
            if (SchedSetScheduler(tid, SchedRr, ref param) == 0)
            {
                applied++;
            }
            else
            {
                lastError = Marshal.GetLastPInvokeError();
                failed++;
            }
        }

        return failed == 0
            ? null
            : $"could not apply SCHED_RR priority {priority} to {failed} of {failed + applied} threads (errno {lastError}{(lastError == 1 ? ", EPERM" : "")}): run as root, grant CAP_SYS_NICE (setcap cap_sys_nice+ep), raise RLIMIT_RTPRIO, or start the process under `chrt --rr {priority}`";
    }

    /// <summary>Applies <c>SCHED_RR</c> with <paramref name="priority"/> to the calling thread only (the heartbeat sender runs one above the rest).</summary>
    /// <returns>Whether it succeeded.</returns>
    public static bool TryApplyToCurrentThread(int priority)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        var param = new SchedParam { Priority = priority };
        return SchedSetScheduler(0, SchedRr, ref param) == 0;
    }

    /// <summary>Returns the calling thread to the normal scheduler (<c>SCHED_OTHER</c>), for background work that must not compete
    /// with the real-time threads.</summary>
    /// <returns>Whether it succeeded.</returns>
    public static bool TryLeaveForCurrentThread()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        Left.TryAdd(GetTid(), 0);
        var param = new SchedParam { Priority = 0 };
        return SchedSetScheduler(0, SchedOther, ref param) == 0;
    }

    /// <summary>
    /// Puts threads created since the last call under <c>SCHED_RR</c> too (the heartbeat sender calls it every second): a thread
    /// inherits its creator's policy, so a thread-pool worker started from the warm-up thread would run the node's loop at normal
    /// priority, starved on a busy machine; and the runtime starts a managed thread of a real-time process at the middle of the
    /// range (50), above the heartbeat sender, so a thread at another <c>SCHED_RR</c> priority is brought to the node's. Threads that
    /// left on purpose stay out.
    /// </summary>
    /// <param name="priority">The node's priority.</param>
    /// <param name="above">Threads to leave as they are (the heartbeat sender's, running above the others).</param>
    public static void ReapplyAll(int priority, IReadOnlyList<int> above)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        Reapply(priority, Directory.EnumerateDirectories("/proc/self/task")
            .Select(dir => int.TryParse(Path.GetFileName(dir), out var tid) ? tid : -1)
            .Where(tid => tid > 0 && !above.Contains(tid)));
    }

    /// <summary>The rule of <see cref="ReapplyAll"/> for the given threads of this process (tests pass their own).</summary>
    /// <param name="priority">The node's priority.</param>
    /// <param name="threads">Thread ids of this process.</param>
    internal static void Reapply(int priority, IEnumerable<int> threads)
    {
        foreach (var tid in threads)
        {
            if (Left.ContainsKey(tid))
            {
                continue;
            }

            // A thread without SCHED_RR (created from a normal-priority thread), or with another SCHED_RR priority: the runtime starts
            // a managed thread of a real-time process at the middle of the range (50 for ThreadPriority.Normal), which would put
            // the loop and the receive threads above the heartbeat sender (configured priority + 1).
            var policy = SchedGetScheduler(tid);
            var current = default(SchedParam);
            if (policy == SchedOther || (policy == SchedRr && SchedGetParam(tid, ref current) == 0 && current.Priority != priority))
            {
                var param = new SchedParam { Priority = priority };
                _ = SchedSetScheduler(tid, SchedRr, ref param);
            }
        }
    }

    /// <summary>The process's thread count (<c>num_threads</c> from <c>/proc/self/stat</c>, one small read), -1 when unknown.</summary>
    public static int ThreadCount()
    {
        try
        {
            // Fields after the command name (which may contain spaces and parentheses) start after the last ')'; num_threads is the 20th field.
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 17 && int.TryParse(fields[17], System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : -1;
        }
        catch (IOException)
        {
            return -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }
    }

    /// <summary>Forgets a thread that left (it ended; its id may be reused).</summary>
    public static void Forget() => Left.TryRemove(GetTid(), out _);

    [DllImport("libc", EntryPoint = "gettid")]
    internal static extern int GetTid();

    /// <summary>The calling thread's native id on Linux, 0 elsewhere.</summary>
    internal static int CurrentThreadId()
    {
        try
        {
            return OperatingSystem.IsLinux() ? GetTid() : 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
    }

    [DllImport("libc", EntryPoint = "sched_getscheduler", SetLastError = true)]
    private static extern int SchedGetScheduler(int pid);

    [StructLayout(LayoutKind.Sequential)]
    private struct SchedParam
    {
        public int Priority;
    }

    [DllImport("libc", EntryPoint = "sched_getparam", SetLastError = true)]
    private static extern int SchedGetParam(int pid, ref SchedParam param);

    /// <summary>A thread's <c>SCHED_RR</c> priority, or <see langword="null"/> when it runs another policy (or is unknown).</summary>
    /// <param name="tid">A thread id of this process.</param>
    internal static int? RealtimePriorityOf(int tid)
    {
        var param = default(SchedParam);
        return SchedGetScheduler(tid) == SchedRr && SchedGetParam(tid, ref param) == 0 ? param.Priority : null;
    }

    [DllImport("libc", EntryPoint = "sched_setscheduler", SetLastError = true)]
    private static extern int SchedSetScheduler(int pid, int policy, ref SchedParam param);
}
