using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using HaKit.Arbitration;

namespace HaKit.Witness;

/// <summary>
/// One cluster's outdated marks (HaKit.Replication's, <see cref="OutdatedMark"/>) in a small text file beside its state file,
/// replaced durably at every change: written to <c>&lt;path&gt;.tmp</c>, flushed to disk, renamed over the file, and the directory
/// fsynced, so that a mark the witness acknowledged survives a crash or a power loss.
/// </summary>
/// <remarks>
/// <para>Format (UTF-8, <c>\n</c> line ends; names percent-encoded):</para>
/// <code>
/// hakit-marks 1
/// mark web b 7 1042 a
/// sha256 &lt;64 hex digits of SHA-256 over every byte before this line&gt;
/// </code>
/// <para>(group, marked node, epoch, index, the owner that marked.) Any damage makes <see cref="Load"/> throw an
/// <see cref="InvalidDataException"/> naming the file: the witness must not forget a mark by guessing. A missing file means no marks.</para>
/// </remarks>
internal sealed class WitnessMarksFile(string path)
{
    private const string Magic = "hakit-marks 1";
    private const string ChecksumKey = "sha256 ";
    private const int MaxFileBytes = 16 * 1024 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The file's absolute path.</summary>
    public string Path { get; } = System.IO.Path.GetFullPath(path);

    /// <summary>Reads the marks (none when the file does not exist).</summary>
    /// <exception cref="InvalidDataException">The file is damaged.</exception>
    public Dictionary<(string Group, string Node), OutdatedMark> Load()
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(Path);
            if (info.Exists && info.Length > MaxFileBytes)
            {
                throw Corrupt($"it is {info.Length} bytes long, more than a marks file can be ({MaxFileBytes})");
            }

            bytes = File.ReadAllBytes(Path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }

        string text;
        try
        {
            text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Corrupt("it is not UTF-8");
        }

        var checksumAt = text.LastIndexOf("\n" + ChecksumKey, StringComparison.Ordinal);
        if (checksumAt < 0 || !text.EndsWith('\n'))
        {
            throw Corrupt("its checksum line is missing (truncated?)");
        }

        var body = text[..(checksumAt + 1)];
        var expected = text[(checksumAt + 1 + ChecksumKey.Length)..^1];
        var actual = Convert.ToHexStringLower(SHA256.HashData(StrictUtf8.GetBytes(body)));
        if (!string.Equals(expected, actual, StringComparison.Ordinal))
        {
            throw Corrupt($"its checksum does not match (stored {expected}, computed {actual})");
        }

        var lines = body.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length == 0 || lines[0] != Magic)
        {
            throw Corrupt($"it does not start with '{Magic}'");
        }

        var marks = new Dictionary<(string, string), OutdatedMark>();
        for (var i = 1; i < lines.Length; i++)
        {
            var f = lines[i].Split(' ');
            if (f.Length != 6 || f[0] != "mark"
                || !long.TryParse(f[3], NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
                || !long.TryParse(f[4], NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                throw Corrupt($"line {i + 1} is not 'mark <group> <node> <epoch> <index> <owner>'");
            }

            var key = (Uri.UnescapeDataString(f[1]), Uri.UnescapeDataString(f[2]));
            if (!marks.TryAdd(key, new OutdatedMark(epoch, index, Uri.UnescapeDataString(f[5]))))
            {
                throw Corrupt($"line {i + 1} repeats the mark of {key.Item2} in group {key.Item1}");
            }
        }

        return marks;
    }

    /// <summary>Replaces the file with <paramref name="marks"/>, durably (see the class remarks).</summary>
    /// <exception cref="IOException">Not written durably: the caller must not acknowledge the change.</exception>
    /// <exception cref="UnauthorizedAccessException">The directory or file cannot be written.</exception>
    public void Save(IReadOnlyDictionary<(string Group, string Node), OutdatedMark> marks)
    {
        var text = new StringBuilder(Magic).Append('\n');
        foreach (var ((group, node), mark) in marks.OrderBy(m => m.Key.Group, StringComparer.Ordinal).ThenBy(m => m.Key.Node, StringComparer.Ordinal))
        {
            text.Append(CultureInfo.InvariantCulture, $"mark {Uri.EscapeDataString(group)} {Uri.EscapeDataString(node)} {mark.Epoch} {mark.Index} {Uri.EscapeDataString(mark.MarkedBy)}\n");
        }

        var body = StrictUtf8.GetBytes(text.ToString());
        var file = StrictUtf8.GetBytes(text.Append(ChecksumKey).Append(Convert.ToHexStringLower(SHA256.HashData(body))).Append('\n').ToString());
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(directory);
        var temp = Path + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1))
            {
                stream.Write(file);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, Path, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
                // best effort
            }

            throw;
        }

        FsyncDirectory(directory);
    }

    private InvalidDataException Corrupt(string what) =>
        new($"Witness marks file '{Path}' is corrupt: {what}. The witness does not guess which nodes are outdated: restore the file from a backup, or delete it only once every pair's nodes are known to be up to date.");

    /// <summary>Makes the rename durable: fsync of the directory (Unix; <c>EINVAL</c>/<c>EBADF</c> ignored, as PostgreSQL does).</summary>
    private static void FsyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var oDirectory = OperatingSystem.IsLinux()
            ? RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 or Architecture.Armv6 or Architecture.Ppc64le ? 0x4000 : 0x10000
            : 0;
        var fd = Native.Open(directory, 0x80000 | oDirectory); // O_RDONLY | O_CLOEXEC | O_DIRECTORY
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot open directory '{directory}' to sync it: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        try
        {
            if (Native.Fsync(fd) < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno is not (22 or 9))
                {
                    throw new IOException($"Cannot fsync directory '{directory}': {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
                }
            }
        }
        finally
        {
            _ = Native.Close(fd);
        }
    }

    private static class Native
    {
        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

        [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Fsync(int fd);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Close(int fd);
    }
}
