using System.Runtime.InteropServices;

namespace HaKit.Runtime;

/// <summary>
/// The CPUs this process may run on, and pinning the calling thread to one of them (<c>sched_getaffinity</c>,
/// <c>sched_setaffinity</c>; Linux only, at most 1,024 CPUs). Used to spread the <see cref="HeartbeatSender"/>'s threads over two CPUs.
/// </summary>
internal static class CpuAffinity
{
    private const int MaskWords = 16; // 16 × 64 = 1,024 CPUs (glibc's CPU_SETSIZE)

    /// <summary>The CPUs the calling thread may run on (a new thread inherits them), in ascending order; empty off Linux or on failure.</summary>
    public static IReadOnlyList<int> Usable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return [];
        }

        try
        {
            var mask = new ulong[MaskWords];
            if (SchedGetAffinity(0, (nuint)(MaskWords * sizeof(ulong)), mask) != 0)
            {
                return [];
            }

            var cpus = new List<int>();
            for (var word = 0; word < MaskWords; word++)
            {
                for (var bit = 0; bit < 64; bit++)
                {
                    if ((mask[word] & (1UL << bit)) != 0)
                    {
                        cpus.Add((word * 64) + bit);
                    }
                }
            }

            return cpus;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return [];
        }
    }

    /// <summary>Pins the calling thread to <paramref name="cpu"/>; <see langword="false"/> when the kernel refuses (or not Linux).</summary>
    /// <param name="cpu">The CPU number.</param>
    public static bool TryPinCurrentThread(int cpu)
    {
        if (!OperatingSystem.IsLinux() || cpu < 0 || cpu >= MaskWords * 64)
        {
            return false;
        }

        try
        {
            var mask = new ulong[MaskWords];
            mask[cpu / 64] = 1UL << (cpu % 64);
            return SchedSetAffinity(0, (nuint)(MaskWords * sizeof(ulong)), mask) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The CPUs a thread may run on, from <c>/proc/self/task/&lt;tid&gt;/status</c>'s <c>Cpus_allowed_list</c> (as written there), or <see langword="null"/>.</summary>
    /// <param name="threadId">The native thread id.</param>
    public static string? AllowedList(int threadId)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/self/task/{threadId}/status"))
            {
                if (line.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal))
                {
                    return line["Cpus_allowed_list:".Length..].Trim();
                }
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    [DllImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SchedGetAffinity(int pid, nuint size, [Out] ulong[] mask);

    [DllImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SchedSetAffinity(int pid, nuint size, [In] ulong[] mask);
}
