using System.ComponentModel;
using System.Runtime.InteropServices;

namespace HaKit.Runtime;

/// <summary>A watchdog device: armed by <see cref="Arm"/>, kept from firing by <see cref="Pet"/>, disarmed by <see cref="Disarm"/>.</summary>
internal interface IWatchdogDevice
{
    /// <summary>Opens (arms) the device and sets its timeout. Throws when it cannot.</summary>
    /// <param name="timeoutSeconds">The timeout in whole seconds.</param>
    void Arm(int timeoutSeconds);

    /// <summary>Restarts the device's countdown.</summary>
    void Pet();

    /// <summary>Disarms with the magic close (writes <c>V</c>, then closes). Nothing when not armed.</summary>
    void Disarm();
}

/// <summary>
/// The Linux watchdog API (Documentation/watchdog/watchdog-api.rst): <c>open</c> arms it, <c>WDIOC_SETTIMEOUT</c> sets the timeout,
/// <c>WDIOC_KEEPALIVE</c> pets it, writing <c>V</c> before <c>close</c> disarms it (the magic close; a driver loaded with
/// <c>nowayout=1</c> ignores it, and then the device cannot be disarmed at all).
/// </summary>
internal sealed class LinuxWatchdogDevice(string path) : IWatchdogDevice
{
    /// <summary><c>WDIOF_MAGICCLOSE</c>: the driver honours the magic close.</summary>
    public const int MagicCloseFlag = 0x0100;

    private const int OWronly = 1;
    private const int OCloexec = 0x80000;
    private const uint WdiocGetSupport = 0x80285700; // _IOR('W', 0, struct watchdog_info), 40 bytes
    private const uint WdiocKeepAlive = 0x80045705;  // _IOR('W', 5, int)
    private const uint WdiocSetTimeout = 0xC0045706; // _IOWR('W', 6, int)
    private const uint WdiocGetTimeout = 0x80045707; // _IOR('W', 7, int)
    private int _fd = -1;

    /// <summary>The timeout the driver reports after <see cref="Arm"/> (it may round the one asked for).</summary>
    public int TimeoutSeconds { get; private set; }

    /// <summary>The driver's <c>watchdog_info.options</c> flags (after <see cref="Arm"/>; 0 when it does not say).</summary>
    public int Options { get; private set; }

    /// <summary>The driver's identity (after <see cref="Arm"/>).</summary>
    public string Identity { get; private set; } = "";

    /// <inheritdoc />
    public void Arm(int timeoutSeconds)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the watchdog device is only supported on Linux");
        }

        if (_fd >= 0)
        {
            return;
        }

        var fd = Open(path, OWronly | OCloexec);
        if (fd < 0)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError(), $"cannot open the watchdog device {path}");
        }

        _fd = fd;
        try
        {
            var info = new byte[40];
            if (IoctlBytes(fd, WdiocGetSupport, info) == 0)
            {
                Options = BitConverter.ToInt32(info, 0);
                Identity = System.Text.Encoding.ASCII.GetString(info, 8, 32).TrimEnd('\0');
            }

            var timeout = timeoutSeconds;
            if (Ioctl(fd, WdiocSetTimeout, ref timeout) != 0)
            {
                throw new Win32Exception(Marshal.GetLastPInvokeError(), $"the watchdog device {path} refused a {timeoutSeconds} s timeout (WDIOC_SETTIMEOUT)");
            }

            var actual = 0;
            TimeoutSeconds = Ioctl(fd, WdiocGetTimeout, ref actual) == 0 ? actual : timeout;
            if (TimeoutSeconds > timeoutSeconds)
            {
                throw new InvalidOperationException($"the watchdog device {path} set a {TimeoutSeconds} s timeout, longer than the {timeoutSeconds} s asked for");
            }

            Pet();
        }
        catch
        {
            Disarm();
            throw;
        }
    }

    /// <inheritdoc />
    public void Pet()
    {
        var dummy = 0;
        if (_fd >= 0 && Ioctl(_fd, WdiocKeepAlive, ref dummy) != 0 && Write(_fd, [(byte)'1'], 1) != 1)
        {
            throw new Win32Exception(Marshal.GetLastPInvokeError(), $"cannot pet the watchdog device {path}");
        }
    }

    /// <inheritdoc />
    public void Disarm()
    {
        var fd = _fd;
        if (fd < 0)
        {
            return;
        }

        _fd = -1;
        _ = Write(fd, [(byte)'V'], 1);
        _ = Close(fd);
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Ioctl(int fd, nuint request, ref int argument);

    [DllImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int IoctlBytes(int fd, nuint request, byte[] argument);

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint Write(int fd, byte[] buffer, nint count);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);
}
