using System.Runtime.InteropServices;

namespace HaKit.Runtime;

/// <summary>
/// The libc calls that HaKit's own waits share (<see cref="KernelTimer"/>, the Grpc link's connection-end watcher): <c>poll</c> on
/// a set of descriptors, and <c>read</c>/<c>close</c> of an event or timer descriptor's 8-byte counter. Linux only; callers check
/// <see cref="OperatingSystem.IsLinux"/> first.
/// </summary>
internal static class LinuxInterop
{
    /// <summary><c>POLLIN</c>.</summary>
    public const short PollIn = 0x001;

    /// <summary><c>EINTR</c>.</summary>
    public const int Eintr = 4;

    /// <summary>One entry of <c>poll(2)</c>'s descriptor array.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        /// <summary>The descriptor.</summary>
        public int Fd;

        /// <summary>The events asked for.</summary>
        public short Events;

        /// <summary>The events that happened.</summary>
        public short Revents;
    }

    /// <summary><c>poll(2)</c>: waits up to <paramref name="timeout"/> ms (-1: no limit) for an event on any of <paramref name="fds"/>.</summary>
    [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int Poll([In, Out] PollFd[] fds, nuint count, int timeout);

    /// <summary><c>read(2)</c> of an 8-byte counter (eventfd, timerfd).</summary>
    [DllImport("libc", EntryPoint = "read", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern nint Read(int fd, ref ulong value, nint count);

    /// <summary><c>close(2)</c>.</summary>
    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    public static extern int Close(int fd);
}
