using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace HaKit.Replication.Storage;

/// <summary>
/// Flushing to stable storage. On Linux: <c>fdatasync(2)</c> through a P/Invoke, because .NET's <see cref="FileStream.Flush(bool)"/>
/// and <see cref="RandomAccess"/> offer only <c>fsync(2)</c>, which also writes the file's timestamps (an extra metadata write per
/// commit on most file systems); fdatasync writes the data and the metadata needed to read it back (the file size), which is
/// all a log append needs. Elsewhere: <c>FileStream.Flush(true)</c>. A new or renamed file is made durable by also syncing its
/// directory (Linux).
/// </summary>
internal static partial class DurableFile
{
    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000; // Linux (x86-64 and arm64 share the value)

    /// <summary>Writes the file's data (and the size) to stable storage.</summary>
    /// <exception cref="IOException">The flush failed (the data may not be durable).</exception>
    public static void DataSync(SafeFileHandle handle, FileStream? fallback, string path)
    {
        if (OperatingSystem.IsLinux())
        {
            if (fdatasync(handle) != 0)
            {
                throw new IOException($"fdatasync of {path} failed (errno {Marshal.GetLastPInvokeError()}): the data may not be on disk");
            }

            return;
        }

        if (fallback is not null)
        {
            fallback.Flush(flushToDisk: true);
        }
    }

    /// <summary>
    /// Replaces <paramref name="path"/> (in <paramref name="directory"/>) with <paramref name="bytes"/> atomically and durably:
    /// written to a temporary file and fdatasynced, renamed over the old one, and the directory synced, so a crash leaves either
    /// the old content or the new, never a torn file.
    /// </summary>
    /// <param name="directory">The directory holding the file.</param>
    /// <param name="path">The file.</param>
    /// <param name="bytes">The new content.</param>
    public static void Replace(string directory, string path, ReadOnlySpan<byte> bytes)
    {
        var tmp = path + ".tmp";
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            file.Write(bytes);
            DataSync(file.SafeFileHandle, file, tmp);
        }

        File.Move(tmp, path, overwrite: true);
        SyncDirectory(directory);
    }

    /// <summary>Makes the directory's entries (files created, renamed or deleted in it) durable (Linux; elsewhere nothing).</summary>
    /// <exception cref="IOException">The directory could not be opened or synced.</exception>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        var fd = open(directory, ORdOnly | ODirectory);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} to sync it (errno {Marshal.GetLastPInvokeError()})");
        }

        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {directory} failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }
        finally
        {
            _ = close(fd);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(SafeFileHandle fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
