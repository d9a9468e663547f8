using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HaKit.Hosting.Admin;

/// <summary>
/// The safety rules of the admin socket (Unix only): the directory exists (created 0700 when missing), belongs to the node's user or
/// root and is writable by no one else (otherwise another user could replace the socket); an existing file at the path is removed
/// only when it is a socket of the node's user that nobody serves (a stale one from a crashed run); a socket someone serves, a file
/// that is not a socket, or one owned by another user stops the start with the reason.
/// </summary>
internal static class AdminSocketGuard
{
    private const int ModeTypeMask = 0xF000;
    private const int ModeSocket = 0xC000;
    private const UnixFileMode GroupOrOtherWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>The mode the socket gets right after bind, before it listens.</summary>
    public const UnixFileMode SocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Checks the directory and removes a stale socket; throws <see cref="InvalidOperationException"/> with the reason and fix.</summary>
    public static void Prepare(string socketPath, string key)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()))
        {
            return;
        }

        var directory = Path.GetDirectoryName(socketPath) ?? "/";
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        var me = GetEUid();
        if (Stat(directory) is { } dir)
        {
            if (dir.Uid != me && dir.Uid != 0)
            {
                throw Refuse(key, socketPath, $"its directory {directory} belongs to uid {dir.Uid}, not to this node's user (uid {me}) or root; use a directory of the node's own, e.g. the state directory");
            }

            if (((UnixFileMode)(dir.Mode & 0x1FF) & GroupOrOtherWrite) != 0)
            {
                throw Refuse(key, socketPath, $"its directory {directory} is writable by other users (mode {Convert.ToString(dir.Mode & 0x1FF, 8)}), who could replace the socket; `chmod go-w {directory}` or choose another directory");
            }
        }

        if (Stat(socketPath) is not { } existing)
        {
            return;
        }

        if ((existing.Mode & ModeTypeMask) != ModeSocket)
        {
            throw Refuse(key, socketPath, "a file that is not a socket is in the way; remove it or choose another path");
        }

        if (existing.Uid != me)
        {
            throw Refuse(key, socketPath, $"the existing socket belongs to uid {existing.Uid}, not to this node's user (uid {me}); remove it or choose another path");
        }

        if (IsServed(socketPath))
        {
            throw Refuse(key, socketPath, "another process serves this socket (a second node with the same NodeName and StateDirectory?); stop it or choose another path");
        }

        File.Delete(socketPath); // stale: left by a run that crashed
    }

    /// <summary>Removes the socket at stop, if it is still this node's.</summary>
    public static void Remove(string socketPath)
    {
        try
        {
            if (Stat(socketPath) is { } s && (s.Mode & ModeTypeMask) == ModeSocket && s.Uid == GetEUid())
            {
                File.Delete(socketPath);
            }
        }
        catch (IOException)
        {
            // Gone already, or the directory went away: nothing to remove.
        }
        catch (UnauthorizedAccessException)
        {
            // Not ours to remove.
        }
    }

    /// <summary>The permission bits of <paramref name="path"/> (for the check after start).</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public static UnixFileMode ModeOf(string path) => File.GetUnixFileMode(path);

    private static bool IsServed(string socketPath)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static InvalidOperationException Refuse(string key, string path, string why) =>
        new($"{key} = {path}: the admin socket is refused: {why}");

    private static (int Mode, uint Uid)? Stat(string path)
    {
        // SystemNative_LStat's FileStatus begins with Flags, Mode, Uid, Gid (int32 each); the buffer is larger than the whole struct.
        var buffer = new byte[512];
        if (LStat(path, buffer) != 0)
        {
            return null;
        }

        return (BitConverter.ToInt32(buffer, 4), BitConverter.ToUInt32(buffer, 8));
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int LStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] buffer);

    [DllImport("libc", EntryPoint = "geteuid")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern uint GetEUid();
}
