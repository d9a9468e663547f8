using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Linux;

/// <summary>
/// A mount (the <c>Filesystem</c> resource agent): a device with a file system type, or a bind mount, on a directory.
/// </summary>
/// <remarks>
/// <para>Start: creates the directory when missing, then <c>mount [-t FsType] [-o MountOptions] Device Directory</c>; already mounted
/// succeeds. Exit 32 with "does not exist"/"special device" (no such device) is <see cref="ResourceFailureKind.PermanentOnNode"/>,
/// an unknown file system type too; other failures Transient. Monitor: the directory is a mount point in <c>/proc/self/mountinfo</c>.
/// Stop: <c>umount Directory</c>; with <see cref="FilesystemOptions.ForceUnmount"/>, the processes holding the mount (found by a scan of
/// <c>/proc/&lt;pid&gt;/cwd</c>, <c>root</c>, <c>exe</c> and <c>fd/*</c>) get SIGTERM, then SIGKILL after 2 s, before the unmount;
/// not mounted succeeds (idempotent).</para>
/// </remarks>
public sealed class FilesystemResource : IResource
{
    private static readonly TimeSpan MountTimeout = TimeSpan.FromSeconds(60);
    private readonly FilesystemOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _directory;

    /// <summary>Creates the resource.</summary>
    /// <param name="options">Device, mount point, type and options.</param>
    /// <param name="logger">Receives mount's output; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for the force-unmount grace; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public FilesystemResource(FilesystemOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Name, nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.Device, nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.Directory, nameof(options));
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _directory = Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.Directory));
        Name = options.Name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (IsMounted(_directory))
        {
            return ResourceResult.Success;
        }

        Directory.CreateDirectory(_directory);
        List<string> args = [];
        if (_options.FsType.Length > 0)
        {
            args.AddRange(["-t", _options.FsType]);
        }

        if (_options.MountOptions.Length > 0)
        {
            args.AddRange(["-o", _options.MountOptions]);
        }

        args.AddRange([_options.Device, _directory]);
        var r = await Command.RunAsync("mount", args, MountTimeout, _logger, Name, logOutput: true, cancellationToken).ConfigureAwait(false);
        if (r.ExitCode == 0 || IsMounted(_directory))
        {
            return ResourceResult.Success;
        }

        return r.ExitCode == CommandResult.NotFound || r.Stderr.Contains("does not exist", StringComparison.Ordinal) || r.Stderr.Contains("special device", StringComparison.Ordinal) || r.Stderr.Contains("unknown filesystem type", StringComparison.Ordinal)
            ? ResourceResult.PermanentOnNode($"mount {_options.Device} {_directory} (OCF_ERR_INSTALLED): {r.Detail}")
            : r.Stderr.Contains("permission denied", StringComparison.OrdinalIgnoreCase) || r.Stderr.Contains("must be superuser", StringComparison.Ordinal)
                ? ResourceResult.PermanentOnNode($"mount {_options.Device} {_directory} (OCF_ERR_PERM): {r.Detail}")
                : ResourceResult.Transient($"mount {_options.Device} {_directory} failed ({r.ExitCode}): {r.Detail}");
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (!IsMounted(_directory))
        {
            return ResourceResult.Success;
        }

        if (_options.ForceUnmount)
        {
            await KillHoldersAsync(cancellationToken).ConfigureAwait(false);
        }

        var r = await Command.RunAsync("umount", [_directory], MountTimeout, _logger, Name, logOutput: true, cancellationToken).ConfigureAwait(false);
        return r.ExitCode == 0 || !IsMounted(_directory)
            ? ResourceResult.Success
            : ResourceResult.Transient($"umount {_directory} failed ({r.ExitCode}): {r.Detail}{(_options.ForceUnmount ? "" : "; ForceUnmount kills the processes holding it")}");
    }

    /// <inheritdoc />
    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        new(IsMounted(_directory) ? MonitorResult.Running : MonitorResult.NotRunning($"{_directory} is not a mount point"));

    /// <summary>Whether <paramref name="directory"/> is a mount point (field 5 of a line of <c>/proc/self/mountinfo</c>).</summary>
    internal static bool IsMounted(string directory)
    {
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            var fields = line.Split(' ');
            if (fields.Length > 4 && string.Equals(Unescape(fields[4]), directory, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>mountinfo escapes blanks, tabs, newlines and backslashes as \ooo (octal).</summary>
    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var sb = new StringBuilder();
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && int.TryParse(field.AsSpan(i + 1, 3), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                sb.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(field[i]);
            }
        }

        return sb.ToString();
    }

    /// <summary>The processes with a cwd, root, executable or open file under the mount point (a /proc scan, as fuser -m does).</summary>
    internal List<int> Holders()
    {
        var prefix = _directory + "/";
        var self = Environment.ProcessId;
        var holders = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == self)
            {
                continue;
            }

            try
            {
                IEnumerable<string> links = [Path.Combine(dir, "cwd"), Path.Combine(dir, "root"), Path.Combine(dir, "exe"), .. Directory.EnumerateFiles(Path.Combine(dir, "fd"))];
                if (links.Select(Target).Any(t => t is not null && (t == _directory || t.StartsWith(prefix, StringComparison.Ordinal))))
                {
                    holders.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone, or not readable.
            }
        }

        return holders;
    }

    private static string? Target(string link)
    {
        try
        {
            return new FileInfo(link).LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private async Task KillHoldersAsync(CancellationToken cancellationToken)
    {
        var holders = Holders();
        if (holders.Count == 0)
        {
            return;
        }

        foreach (var pid in holders)
        {
            LinuxLog.KillingHolder(_logger, Name, pid, Comm(pid), _directory);
            _ = NativeMethods.Kill(pid, 15);
        }

        await Task.Delay(TimeSpan.FromSeconds(2), _time, cancellationToken).ConfigureAwait(false);
        foreach (var pid in Holders())
        {
            _ = NativeMethods.Kill(pid, 9);
        }

        await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
    }

    private static string Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "?";
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Kill(int pid, int signal);
    }
}
