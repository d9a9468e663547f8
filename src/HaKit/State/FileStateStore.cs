using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace HaKit.State;

/// <summary>
/// Stores a node's <see cref="PersistedState"/> in one small text file, durably, so that the file is always either the old or
/// the new state, never a mix: a state that fits in one 512-byte disk sector (a node with a handful of groups) is overwritten in
/// place, one sector with <c>fdatasync</c>; a larger one is written to <c>&lt;path&gt;.tmp</c>, flushed, renamed over the target,
/// and the directory fsynced.
/// </summary>
/// <remarks>
/// <para>Format (UTF-8, <c>\n</c> line ends; group names percent-encoded):</para>
/// <code>
/// hakit-state 2
/// incarnation 42
/// epoch web 7
/// epoch db%20main 3
/// sha256 &lt;64 hex digits of SHA-256 over every byte before this line&gt;
/// </code>
/// <para>Version 2 is the same text padded with NUL bytes to exactly 512 bytes (<see cref="SectorBytes"/>); version 1, unpadded,
/// is what a state too large for a sector is written as (and what earlier releases wrote: both are read). Why in place: the
/// epoch is written on the takeover's path (a new owner persists its epoch before it starts anything), and rewriting one
/// sector of an existing file costs one data flush, where a new file, a rename and a directory fsync cost two journal commits
/// (measured on this project's machines: 3.1 ms against 8–10 ms at the median, the disk shared with builds). It is safe for the
/// reason PostgreSQL keeps <c>pg_control</c> within 512 bytes: a disk writes a sector entirely or not at all, so a crash
/// during the write leaves the old state or the new one, and anything else fails the checksum below.</para>
/// <para>Any damage (wrong checksum, truncation, unknown version, malformed or duplicate line) makes
/// <see cref="Load"/> throw an <see cref="InvalidDataException"/> naming the file and the problem: a node must not
/// guess its epochs. A missing file means the node never ran and gives <see cref="PersistedState.Empty"/>.</para>
/// <para>Thread-safe: loads and saves through one instance are serialized. Two instances (or processes) must not
/// share a path.</para>
/// </remarks>
public sealed class FileStateStore : IStateStore
{
    /// <summary>The format version written by this class for a state that fits in one sector (padded, overwritten in place).</summary>
    public const int FormatVersion = 2;

    /// <summary>The format version of a state too large for one sector (unpadded, replaced by a rename), and of earlier releases.</summary>
    internal const int UnpaddedFormatVersion = 1;

    /// <summary>The size of a version-2 file: one disk sector, written by the device entirely or not at all.</summary>
    internal const int SectorBytes = 512;

    private const string Magic = "hakit-state";
    private const string IncarnationKey = "incarnation";
    private const string EpochKey = "epoch";
    private const string ChecksumKey = "sha256";
    private const int MaxFileBytes = 16 * 1024 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Lock _gate = new();

    /// <summary>Creates a store for the file at <paramref name="path"/> (created on the first save, with its directory).</summary>
    /// <param name="path">The state file path (for example <c>hakit-state/node-a.state</c>).</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or names a directory.</exception>
    public FileStateStore(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var full = System.IO.Path.GetFullPath(path);
        if (string.IsNullOrEmpty(System.IO.Path.GetFileName(full)))
        {
            throw new ArgumentException($"State file path '{path}' names a directory, not a file.", nameof(path));
        }

        Path = full;
        TempPath = full + ".tmp";
        DirectoryPath = System.IO.Path.GetDirectoryName(full) ?? throw new ArgumentException($"State file path '{path}' has no directory.", nameof(path));
    }

    /// <summary>The absolute path of the state file.</summary>
    public string Path { get; }

    /// <summary>The absolute path of the temporary file written before the rename.</summary>
    public string TempPath { get; }

    /// <summary>The directory that holds the state file.</summary>
    public string DirectoryPath { get; }

    /// <inheritdoc />
    /// <exception cref="InvalidDataException">The file exists but is corrupt or of an unsupported version.</exception>
    /// <exception cref="IOException">The file could not be read.</exception>
    public PersistedState Load()
    {
        lock (_gate)
        {
            byte[] bytes;
            try
            {
                using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
                if (stream.Length > MaxFileBytes)
                {
                    throw Corrupt($"it is {stream.Length} bytes long, more than a state file can be ({MaxFileBytes})");
                }

                bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
            }
            catch (FileNotFoundException)
            {
                return PersistedState.Empty;
            }
            catch (DirectoryNotFoundException)
            {
                return PersistedState.Empty;
            }
            catch (EndOfStreamException)
            {
                throw Corrupt("it shrank while being read");
            }

            return Parse(bytes);
        }
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A group name is empty.</exception>
    /// <exception cref="IOException">The state could not be written durably. If the failure came before the rename the previous
    /// file is unchanged; if the final directory fsync failed the new file may or may not survive a crash. Either way the caller
    /// must not act on the new state.</exception>
    public void Save(PersistedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(state.Epochs);
        var bytes = Serialize(state);

        lock (_gate)
        {
            EnsureDirectory();

            if (bytes.Length == SectorBytes && TryOverwriteInPlace(bytes))
            {
                if (File.Exists(TempPath))
                {
                    TryDelete(TempPath); // left by a crash during an earlier save by rename
                }

                return;
            }

            try
            {
                using (var stream = new FileStream(TempPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1))
                {
                    stream.Write(bytes);
                    stream.Flush(flushToDisk: true);
                }

                File.Move(TempPath, Path, overwrite: true);
            }
            catch
            {
                TryDelete(TempPath);
                throw;
            }

            DirectorySync.Fsync(DirectoryPath);
        }
    }

    /// <summary>
    /// Overwrites an existing one-sector file with <paramref name="sector"/> and flushes its data (<c>fdatasync</c>: the size and
    /// the blocks do not change, so no metadata needs the journal). <see langword="false"/> when the file is missing or not one
    /// sector long (a first save, or a file of version 1): the caller then writes a new file by rename.
    /// </summary>
    private bool TryOverwriteInPlace(byte[] sector)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(Path, FileMode.Open, FileAccess.Write, FileShare.Read, bufferSize: 1);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }

        using (stream)
        {
            if (stream.Length != SectorBytes)
            {
                return false;
            }

            RandomAccess.Write(stream.SafeFileHandle, sector, fileOffset: 0);
            FlushData(stream);
            return true;
        }
    }

    /// <summary><c>fdatasync</c> on Linux (data, and metadata only where needed to read it back); <c>fsync</c> elsewhere.</summary>
    private void FlushData(FileStream stream)
    {
        if (!OperatingSystem.IsLinux())
        {
            stream.Flush(flushToDisk: true);
            return;
        }

        if (FdataSync(stream.SafeFileHandle) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot flush state file '{Path}' to disk: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }
    }

    [DllImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int FdataSync(SafeFileHandle fd);

    /// <summary>Creates the state directory and any missing parents, fsyncing each new entry's parent so the path itself is durable.</summary>
    private void EnsureDirectory()
    {
        if (Directory.Exists(DirectoryPath))
        {
            return;
        }

        var missing = new List<string>();
        for (var dir = DirectoryPath; dir is not null && !Directory.Exists(dir); dir = System.IO.Path.GetDirectoryName(dir))
        {
            missing.Add(dir);
        }

        Directory.CreateDirectory(DirectoryPath);
        for (var i = missing.Count - 1; i >= 0; i--)
        {
            if (System.IO.Path.GetDirectoryName(missing[i]) is { } parent)
            {
                DirectorySync.Fsync(parent);
            }
        }
    }

    /// <summary>Encodes a state in the file format (checksum included): version 2 padded to one sector when it fits, else version 1.</summary>
    /// <param name="state">The state.</param>
    internal static byte[] Serialize(PersistedState state)
    {
        var padded = Encode(state, FormatVersion);
        if (padded.Length <= SectorBytes)
        {
            Array.Resize(ref padded, SectorBytes); // NUL padding
            return padded;
        }

        return Encode(state, UnpaddedFormatVersion);
    }

    private static byte[] Encode(PersistedState state, int version)
    {
        var text = new StringBuilder(64 + 32 * state.Epochs.Count);
        text.Append(CultureInfo.InvariantCulture, $"{Magic} {version}\n");
        text.Append(CultureInfo.InvariantCulture, $"{IncarnationKey} {state.Incarnation}\n");
        foreach (var (group, epoch) in state.Epochs.OrderBy(static e => e.Key, StringComparer.Ordinal))
        {
            if (string.IsNullOrEmpty(group))
            {
                throw new ArgumentException("A group name in the node state is empty.", nameof(state));
            }

            text.Append(CultureInfo.InvariantCulture, $"{EpochKey} {Uri.EscapeDataString(group)} {epoch}\n");
        }

        var body = StrictUtf8.GetBytes(text.ToString());
        var checksum = Convert.ToHexStringLower(SHA256.HashData(body));
        var tail = StrictUtf8.GetBytes($"{ChecksumKey} {checksum}\n");
        var result = new byte[body.Length + tail.Length];
        body.CopyTo(result, 0);
        tail.CopyTo(result, body.Length);
        return result;
    }

    private PersistedState Parse(byte[] file)
    {
        // A one-sector file is version 2: its text, then NUL padding. Any other length is version 1, unpadded.
        var sector = file.Length == SectorBytes;
        var length = file.Length;
        while (sector && length > 0 && file[length - 1] == 0)
        {
            length--;
        }

        var bytes = length == file.Length ? file : file[..length];
        if (bytes.Length < 2)
        {
            throw Corrupt(bytes.Length == 0 ? "it is empty" : "it is truncated");
        }

        if (bytes[^1] != (byte)'\n')
        {
            throw Corrupt("it is truncated (no final line end)");
        }

        // The checksum line is the last line; it covers every byte before it.
        var lastLineStart = Array.LastIndexOf(bytes, (byte)'\n', bytes.Length - 2) + 1;
        string checksumLine;
        string body;
        try
        {
            checksumLine = StrictUtf8.GetString(bytes, lastLineStart, bytes.Length - 1 - lastLineStart);
            body = StrictUtf8.GetString(bytes, 0, lastLineStart);
        }
        catch (DecoderFallbackException)
        {
            throw Corrupt("it is not valid UTF-8 text");
        }

        var prefix = ChecksumKey + " ";
        if (!checksumLine.StartsWith(prefix, StringComparison.Ordinal))
        {
            throw Corrupt($"its last line is not a '{ChecksumKey}' checksum (truncated?)");
        }

        var stored = checksumLine[prefix.Length..];
        var computed = Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(0, lastLineStart)));
        if (!string.Equals(stored, computed, StringComparison.Ordinal))
        {
            throw Corrupt($"checksum mismatch (stored {Abbreviate(stored)}, computed {Abbreviate(computed)})");
        }

        var lines = body.Split('\n');
        // body ends with '\n', so the last element is empty.
        if (lines.Length < 3 || lines[^1].Length != 0)
        {
            throw Corrupt("it has no header and incarnation lines");
        }

        var header = lines[0].Split(' ');
        if (header.Length != 2 || header[0] != Magic || !int.TryParse(header[1], NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            throw Corrupt($"line 1 is not a '{Magic} <version>' header");
        }

        if (version != FormatVersion && version != UnpaddedFormatVersion)
        {
            throw Corrupt($"format version {version} is not supported (this build reads versions {UnpaddedFormatVersion} and {FormatVersion})");
        }

        if ((version == FormatVersion) != sector)
        {
            throw Corrupt(sector
                ? $"it is one sector long ({SectorBytes} bytes) but of version {version}, which is never padded"
                : $"it is of version {version}, which is exactly {SectorBytes} bytes long, but it is {file.Length} bytes long");
        }

        var incarnationLine = lines[1].Split(' ');
        if (incarnationLine.Length != 2 || incarnationLine[0] != IncarnationKey || !TryParseULong(incarnationLine[1], out var incarnation))
        {
            throw Corrupt($"line 2 is not an '{IncarnationKey} <number>' line");
        }

        var epochs = new Dictionary<string, ulong>(lines.Length - 3, StringComparer.Ordinal);
        for (var i = 2; i < lines.Length - 1; i++)
        {
            var parts = lines[i].Split(' ');
            if (parts.Length != 3 || parts[0] != EpochKey || parts[1].Length == 0 || !TryParseULong(parts[2], out var epoch))
            {
                throw Corrupt($"line {i + 1} is not an '{EpochKey} <group> <number>' line");
            }

            string group;
            try
            {
                group = Uri.UnescapeDataString(parts[1]);
            }
            catch (UriFormatException)
            {
                throw Corrupt($"line {i + 1} has a badly encoded group name");
            }

            if (!epochs.TryAdd(group, epoch))
            {
                throw Corrupt($"line {i + 1} repeats the epoch of group '{group}'");
            }
        }

        return new PersistedState(incarnation, epochs);
    }

    private static bool TryParseULong(string text, out ulong value) =>
        ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static string Abbreviate(string hex) => hex.Length > 16 ? hex[..16] + "…" : hex;

    private InvalidDataException Corrupt(string what) =>
        new($"State file '{Path}' is corrupt: {what}. A node must not guess its epochs: restore the file from a backup, " +
            "or delete it only if every group's epoch on this node is known to be superseded by its peers.");

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // best effort: the next save overwrites it
        }
        catch (UnauthorizedAccessException)
        {
            // best effort: the next save overwrites it
        }
    }
}
