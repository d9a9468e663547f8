using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Linux;

/// <summary>
/// A systemd unit (Pacemaker's <c>systemd:</c> class), driven with <c>systemctl start|stop|is-active</c> (no shell, output logged).
/// </summary>
/// <remarks>
/// <para>Start: <c>systemctl start UNIT</c> (waits for the unit's start job); exit 5 (unit not found) or no systemd (<c>systemctl</c>
/// missing, or the system not booted with systemd) is <see cref="ResourceFailureKind.PermanentOnNode"/>; another failure Transient.
/// Stop: <c>systemctl stop UNIT</c>; a unit that is not loaded or already inactive succeeds.
/// Monitor: <c>systemctl is-active UNIT</c>: <c>active</c>/<c>reloading</c> running, <c>activating</c>/<c>deactivating</c> degraded,
/// <c>failed</c> Failed (Transient), anything else not running. Enable the unit nowhere: HaKit starts it.</para>
/// </remarks>
public sealed class SystemdUnit : IResource
{
    private static readonly TimeSpan QueryTimeout = TimeSpan.FromSeconds(10);
    private readonly ILogger _logger;

    /// <summary>Creates the resource.</summary>
    /// <param name="options">The unit.</param>
    /// <param name="logger">Receives systemctl's output; none when <see langword="null"/>.</param>
    public SystemdUnit(SystemdUnitOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Name, nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.Unit, nameof(options));
        Unit = options.Unit;
        Name = options.Name;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The unit.</summary>
    public string Unit { get; }

    /// <summary>Why systemd cannot be used here (no <c>systemctl</c>, or <c>systemctl is-system-running</c> says <c>offline</c>), or <see langword="null"/>.</summary>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The reason, or <see langword="null"/> when systemd runs.</returns>
    public static async Task<string?> UnavailableReasonAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists("/run/systemd/system"))
        {
            return "this machine was not booted with systemd (/run/systemd/system is missing)";
        }

        var r = await Command.RunAsync("systemctl", ["is-system-running"], QueryTimeout, NullLogger.Instance, "systemd", logOutput: false, cancellationToken).ConfigureAwait(false);
        return r.ExitCode == CommandResult.NotFound ? "systemctl is not installed"
            : r.Stdout.Trim() is "offline" or "" ? $"systemd is not running (systemctl is-system-running: {r.Detail})"
            : null;
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (await UnavailableReasonAsync(cancellationToken).ConfigureAwait(false) is { } reason)
        {
            return ResourceResult.PermanentOnNode($"{Unit}: {reason} (OCF_ERR_INSTALLED)");
        }

        var r = await SystemctlAsync("start", ScriptRunner.Backstop, cancellationToken).ConfigureAwait(false);
        return r.ExitCode switch
        {
            0 => ResourceResult.Success,
            5 => ResourceResult.PermanentOnNode($"systemctl start {Unit}: unit not found (OCF_ERR_INSTALLED): {r.Detail}"),
            4 => ResourceResult.PermanentOnNode($"systemctl start {Unit}: not permitted (OCF_ERR_PERM): {r.Detail}"),
            _ => ResourceResult.Transient($"systemctl start {Unit} failed ({r.ExitCode}): {r.Detail}"),
        };
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (await UnavailableReasonAsync(cancellationToken).ConfigureAwait(false) is not null)
        {
            return ResourceResult.Success; // no systemd: nothing of it runs
        }

        var r = await SystemctlAsync("stop", ScriptRunner.Backstop, cancellationToken).ConfigureAwait(false);
        if (r.ExitCode is 0 or 5)
        {
            return ResourceResult.Success;
        }

        var state = await MonitorAsync(context, cancellationToken).ConfigureAwait(false);
        return state.Status == ResourceStatus.NotRunning ? ResourceResult.Success : ResourceResult.Transient($"systemctl stop {Unit} failed ({r.ExitCode}): {r.Detail}");
    }

    /// <inheritdoc />
    public async ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (await UnavailableReasonAsync(cancellationToken).ConfigureAwait(false) is { } reason)
        {
            return MonitorResult.NotRunning(reason);
        }

        var r = await SystemctlAsync("is-active", QueryTimeout, cancellationToken).ConfigureAwait(false);
        return r.Stdout.Trim() switch
        {
            "active" or "reloading" => MonitorResult.Running,
            "activating" or "deactivating" => MonitorResult.Degraded($"{Unit} is {r.Stdout.Trim()}"),
            "failed" => MonitorResult.Failed(ResourceFailureKind.Transient, $"{Unit} is failed"),
            var s => MonitorResult.NotRunning($"{Unit} is {(s.Length == 0 ? "unknown" : s)}"),
        };
    }

    private Task<CommandResult> SystemctlAsync(string verb, TimeSpan timeout, CancellationToken cancellationToken) =>
        Command.RunAsync("systemctl", [verb, Unit], timeout, _logger, Name, logOutput: verb != "is-active", cancellationToken);
}
