using System.Runtime.InteropServices;

namespace HaKit.State;

/// <summary>Makes a directory entry durable: fsync of the directory itself, so that a rename or a new file survives a power loss.</summary>
internal static class DirectorySync
{
    private const int ORdOnly = 0;
    private const int OCloExec = 0x80000;
    private const int EIntr = 4;
    private const int EBadF = 9;
    private const int EInval = 22;

    /// <summary>
    /// Fsyncs <paramref name="directory"/> on Unix; does nothing on Windows, where NTFS journals renames and a
    /// directory cannot be flushed through the public API. <c>EINVAL</c>/<c>EBADF</c> from <c>fsync</c> are ignored,
    /// as PostgreSQL does: some file systems do not support syncing a directory at all.
    /// </summary>
    /// <param name="directory">The directory to sync.</param>
    /// <exception cref="IOException">The directory could not be opened or synced.</exception>
    public static void Fsync(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var flags = ORdOnly | OCloExec | (OperatingSystem.IsLinux() ? LinuxODirectory() : 0);
        int fd;
        int errno;
        do
        {
            fd = Native.Open(directory, flags);
            errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        }
        while (fd < 0 && errno == EIntr);

        if (fd < 0)
        {
            throw new IOException($"Cannot open directory '{directory}' to sync it: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        try
        {
            int rc;
            do
            {
                rc = Native.Fsync(fd);
                errno = rc < 0 ? Marshal.GetLastPInvokeError() : 0;
            }
            while (rc < 0 && errno == EIntr);

            if (rc < 0 && errno != EInval && errno != EBadF)
            {
                throw new IOException($"Cannot fsync directory '{directory}': {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
            }
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    // O_DIRECTORY is 0o200000 in the generic Linux ABI (x86, x64, s390x, riscv64, loongarch64) but 0o40000 on ARM and PowerPC.
    private static int LinuxODirectory() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.Arm or Architecture.Arm64 or Architecture.Armv6 or Architecture.Ppc64le => 0x4000,
        _ => 0x10000,
    };

    private static class Native
    {
        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        public static extern int Fsync(int fd);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        public static extern int Close(int fd);
    }
}
