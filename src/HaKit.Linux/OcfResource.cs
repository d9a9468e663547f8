using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Linux;

/// <summary>
/// An OCF resource agent (Pacemaker's <c>ocf:provider:type</c>), run directly (no shell) as <c>agent start|stop|monitor</c> with
/// <c>OCF_ROOT</c>, <c>OCF_RESOURCE_INSTANCE</c> and one <c>OCF_RESKEY_&lt;name&gt;</c> per parameter in its environment; output logged.
/// </summary>
/// <remarks>
/// <para>Exit codes (OCF 1.1): 0 <c>OCF_SUCCESS</c>; 7 <c>OCF_NOT_RUNNING</c> (monitor: not running; stop: already stopped, ok);
/// 1 <c>OCF_ERR_GENERIC</c> <see cref="ResourceFailureKind.Transient"/>; 2 <c>OCF_ERR_ARGS</c>, 3 <c>OCF_ERR_UNIMPLEMENTED</c>,
/// 4 <c>OCF_ERR_PERM</c>, 5 <c>OCF_ERR_INSTALLED</c> <see cref="ResourceFailureKind.PermanentOnNode"/>; 6 <c>OCF_ERR_CONFIGURED</c>
/// <see cref="ResourceFailureKind.Fatal"/>; 8 <c>OCF_RUNNING_PROMOTED</c> is running; 190/191 (degraded) are
/// <see cref="ResourceStatus.Degraded"/>.</para>
/// <para>Before the first start (<see cref="OcfResourceOptions.ValidateAtStart"/>), <c>meta-data</c> is read and every parameter the
/// agent declares <c>required="1"</c> must be given (else Fatal, naming it), then <c>validate-all</c> runs and its exit code is mapped
/// as above. Start and stop are idempotent as OCF requires of agents.</para>
/// </remarks>
public sealed class OcfResource : IResource
{
    private readonly OcfResourceOptions _options;
    private readonly ILogger _logger;
    private readonly string _agent;
    private readonly Dictionary<string, string> _environment;
    private bool _validated;

    /// <summary>Creates the resource.</summary>
    /// <param name="options">The agent and its parameters.</param>
    /// <param name="logger">Receives the agent's output; none when <see langword="null"/>.</param>
    public OcfResource(OcfResourceOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Name, nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.Agent, nameof(options));
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _agent = ResolveAgent(options.Agent, options.OcfRoot);
        _environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["OCF_ROOT"] = options.OcfRoot,
            ["OCF_RESOURCE_INSTANCE"] = options.Name,
            ["OCF_RESOURCE_TYPE"] = Path.GetFileName(_agent),
        };
        foreach (var (key, value) in options.Parameters)
        {
            _environment["OCF_RESKEY_" + key] = value;
        }

        Name = options.Name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The agent's full path.</summary>
    public string AgentPath => _agent;

    /// <summary><c>ocf:heartbeat:apache</c> or <c>heartbeat/apache</c> → <c>&lt;root&gt;/resource.d/heartbeat/apache</c>; a path stays.</summary>
    internal static string ResolveAgent(string agent, string root)
    {
        if (agent.StartsWith('/'))
        {
            return agent;
        }

        var parts = agent.StartsWith("ocf:", StringComparison.Ordinal) ? agent[4..].Split(':') : agent.Split('/');
        return parts.Length == 2 ? Path.Combine(root, "resource.d", parts[0], parts[1]) : Path.Combine(root, "resource.d", "heartbeat", agent);
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!File.Exists(_agent))
        {
            return ResourceResult.PermanentOnNode($"agent {_agent} not found (OCF_ERR_INSTALLED)");
        }

        if (_options.ValidateAtStart && !_validated)
        {
            var check = await ValidateAsync(cancellationToken).ConfigureAwait(false);
            if (!check.Succeeded)
            {
                return check;
            }

            _validated = true;
        }

        var r = await RunAsync("start", context, cancellationToken).ConfigureAwait(false);
        return r.ExitCode == 0 ? ResourceResult.Success : ResourceResult.Failure(Kind(r.ExitCode), $"{_agent} start: {Describe(r)}");
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (!File.Exists(_agent))
        {
            return ResourceResult.Success;
        }

        var r = await RunAsync("stop", context, cancellationToken).ConfigureAwait(false);
        return r.ExitCode is 0 or 7 ? ResourceResult.Success : ResourceResult.Failure(Kind(r.ExitCode), $"{_agent} stop: {Describe(r)}");
    }

    /// <inheritdoc />
    public async ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (!File.Exists(_agent))
        {
            return MonitorResult.NotRunning($"agent {_agent} not found");
        }

        var r = await RunAsync("monitor", context, cancellationToken).ConfigureAwait(false);
        return r.ExitCode switch
        {
            0 or 8 => MonitorResult.Running,
            7 => MonitorResult.NotRunning($"{_agent} monitor: not running (OCF_NOT_RUNNING)"),
            190 or 191 => MonitorResult.Degraded($"{_agent} monitor: degraded ({r.ExitCode})"),
            _ => MonitorResult.Failed(Kind(r.ExitCode), $"{_agent} monitor: {Describe(r)}"),
        };
    }

    /// <summary>The OCF exit code's failure class.</summary>
    internal static ResourceFailureKind Kind(int exitCode) => exitCode switch
    {
        0 => ResourceFailureKind.None,
        2 or 3 or 4 or 5 or CommandResult.NotFound or CommandResult.NotExecutable => ResourceFailureKind.PermanentOnNode,
        6 => ResourceFailureKind.Fatal,
        _ => ResourceFailureKind.Transient,
    };

    /// <summary><c>meta-data</c> (required parameters present) and <c>validate-all</c>.</summary>
    internal async Task<ResourceResult> ValidateAsync(CancellationToken cancellationToken)
    {
        var meta = await ScriptRunner.RunAsync(_agent, ["meta-data"], NullLogger.Instance, Name, cancellationToken, _environment).ConfigureAwait(false);
        if (meta.ExitCode == 0 && meta.Stdout.Contains("<resource-agent", StringComparison.Ordinal))
        {
            try
            {
                var doc = System.Xml.Linq.XDocument.Parse(meta.Stdout);
                var missing = doc.Descendants("parameter")
                    .Where(p => (string?)p.Attribute("required") is "1" or "true")
                    .Select(p => (string?)p.Attribute("name") ?? "")
                    .Where(n => n.Length > 0 && !_options.Parameters.ContainsKey(n))
                    .ToList();
                if (missing.Count > 0)
                {
                    return ResourceResult.Fatal($"{_agent}: required parameter(s) {string.Join(", ", missing)} not given (OCF_ERR_CONFIGURED); add them to Parameters");
                }
            }
            catch (System.Xml.XmlException)
            {
                // Unreadable meta-data: validate-all still checks the parameters.
            }
        }

        var validate = await ScriptRunner.RunAsync(_agent, ["validate-all"], _logger, Name, cancellationToken, WithAction("validate-all")).ConfigureAwait(false);
        return validate.ExitCode is 0 or 3 // 3: validate-all not implemented
            ? ResourceResult.Success
            : ResourceResult.Failure(Kind(validate.ExitCode), $"{_agent} validate-all: {Describe(validate)}");
    }

    private Task<CommandResult> RunAsync(string action, ResourceContext context, CancellationToken cancellationToken)
    {
        var env = WithAction(action);
        env["HAKIT_GROUP"] = context.Group;
        env["HAKIT_NODE"] = context.Node;
        env["HAKIT_EPOCH"] = context.Epoch.ToString(CultureInfo.InvariantCulture);
        return ScriptRunner.RunAsync(_agent, [action], _logger, Name, cancellationToken, env);
    }

    private Dictionary<string, string> WithAction(string action) => new(_environment, StringComparer.Ordinal) { ["__OCF_ACTION"] = action };

    private static string Describe(CommandResult r) =>
        $"exit {r.ExitCode} ({r.ExitCode switch { 1 => "OCF_ERR_GENERIC", 2 => "OCF_ERR_ARGS", 3 => "OCF_ERR_UNIMPLEMENTED", 4 => "OCF_ERR_PERM", 5 => "OCF_ERR_INSTALLED", 6 => "OCF_ERR_CONFIGURED", 7 => "OCF_NOT_RUNNING", CommandResult.NotFound => "not found", CommandResult.NotExecutable => "not executable", _ => "unknown" }}): {r.Detail}";
}
