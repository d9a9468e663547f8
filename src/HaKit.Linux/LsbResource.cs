using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Linux;

/// <summary>
/// An LSB init script (Pacemaker's <c>lsb:</c> class) or a Heartbeat resource script (<c>script::arg1::arg2</c> in <c>haresources</c>),
/// run directly (no shell) as <c>script [args] start|stop|status</c>, its output logged line by line.
/// </summary>
/// <remarks>
/// <para>Exit codes (LSB 3.0 §20.2, as Pacemaker reads them): <c>start</c> 0 ok, 5 (not installed) and 4 (insufficient privilege)
/// <see cref="ResourceFailureKind.PermanentOnNode"/>, 6 (not configured) <see cref="ResourceFailureKind.Fatal"/>, 2/3 (invalid or
/// unimplemented argument) PermanentOnNode, anything else <see cref="ResourceFailureKind.Transient"/>. <c>stop</c> 0 ok; a stop that fails
/// is Transient (the group blocks). <c>status</c> 0 running, 3 stopped (and 1, 2: dead with a pid or lock file, reported as not running),
/// 4 unknown: Failed Transient. A missing script is PermanentOnNode.</para>
/// <para>Start and stop are idempotent: a start first asks <c>status</c> and succeeds when the script says it runs; a stop of a stopped
/// script succeeds (LSB requires stop of a stopped service to exit 0; a status of 3 afterwards is accepted too).</para>
/// </remarks>
public sealed class LsbResource : IResource
{
    private readonly ILogger _logger;
    private readonly string _script;
    private readonly List<string> _arguments;

    /// <summary>Creates the resource.</summary>
    /// <param name="options">The script and its arguments.</param>
    /// <param name="logger">Receives the script's output; none when <see langword="null"/>.</param>
    public LsbResource(LsbResourceOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Name, nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.Script, nameof(options));
        var (script, args) = ScriptRunner.SplitHeartbeatForm(options.Script);
        _script = script.Contains('/', StringComparison.Ordinal)
            ? script
            : options.SearchPath.Select(d => Path.Combine(d, script)).FirstOrDefault(File.Exists) ?? Path.Combine(options.SearchPath.FirstOrDefault() ?? "/etc/init.d", script);
        _arguments = [.. args, .. options.Arguments];
        _logger = logger ?? NullLogger.Instance;
        Name = options.Name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The script's full path.</summary>
    public string ScriptPath => _script;

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (!File.Exists(_script))
        {
            return ResourceResult.PermanentOnNode($"script {_script} not found (LSB 5, OCF_ERR_INSTALLED)");
        }

        if ((await MonitorAsync(context, cancellationToken).ConfigureAwait(false)).Status == ResourceStatus.Running)
        {
            return ResourceResult.Success;
        }

        var r = await RunAsync("start", cancellationToken).ConfigureAwait(false);
        return r.ExitCode switch
        {
            0 => ResourceResult.Success,
            CommandResult.NotFound or 5 => ResourceResult.PermanentOnNode($"{_script} start: program not installed (exit {r.ExitCode}): {r.Detail}"),
            CommandResult.NotExecutable or 4 => ResourceResult.PermanentOnNode($"{_script} start: insufficient privilege (exit {r.ExitCode}): {r.Detail}"),
            6 => ResourceResult.Fatal($"{_script} start: program not configured (exit 6): {r.Detail}"),
            2 or 3 => ResourceResult.PermanentOnNode($"{_script} start: invalid or unimplemented argument (exit {r.ExitCode}): {r.Detail}"),
            _ => ResourceResult.Transient($"{_script} start failed (exit {r.ExitCode}): {r.Detail}"),
        };
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (!File.Exists(_script))
        {
            return ResourceResult.Success; // nothing installed here, nothing running
        }

        var r = await RunAsync("stop", cancellationToken).ConfigureAwait(false);
        if (r.ExitCode == 0)
        {
            return ResourceResult.Success;
        }

        // Non-conforming scripts fail a stop of a stopped service: status decides.
        var status = await MonitorAsync(context, cancellationToken).ConfigureAwait(false);
        return status.Status == ResourceStatus.NotRunning ? ResourceResult.Success : ResourceResult.Transient($"{_script} stop failed (exit {r.ExitCode}): {r.Detail}");
    }

    /// <inheritdoc />
    public async ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (!File.Exists(_script))
        {
            return MonitorResult.NotRunning($"script {_script} not found");
        }

        var r = await RunAsync("status", cancellationToken).ConfigureAwait(false);
        return r.ExitCode switch
        {
            0 => MonitorResult.Running,
            1 => MonitorResult.NotRunning($"{_script} status: dead, pid file exists (1)"),
            2 => MonitorResult.NotRunning($"{_script} status: dead, lock file exists (2)"),
            3 => MonitorResult.NotRunning($"{_script} status: not running (3)"),
            _ => MonitorResult.Failed(ResourceFailureKind.Transient, $"{_script} status: unknown (exit {r.ExitCode}): {r.Detail}"),
        };
    }

    private Task<CommandResult> RunAsync(string action, CancellationToken cancellationToken) =>
        ScriptRunner.RunAsync(_script, [.. _arguments, action], _logger, Name, cancellationToken);
}
