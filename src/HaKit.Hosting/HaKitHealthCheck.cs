using System.Globalization;
using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HaKit.Hosting;

/// <summary>Registers <see cref="HaKitHealthCheck"/>.</summary>
public static class HaKitHealthChecksBuilderExtensions
{
    /// <summary>Adds the HaKit health check (needs <c>services.AddHaKit(...)</c>).</summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name. <value>Default <c>hakit</c>.</value></param>
    /// <param name="tags">Tags to filter checks by (for example <c>ready</c>).</param>
    /// <returns>The builder.</returns>
    public static IHealthChecksBuilder AddHaKit(this IHealthChecksBuilder builder, string name = "hakit", IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return builder.Add(new HealthCheckRegistration(
            name,
            sp => new HaKitHealthCheck(sp.GetRequiredService<ClusterNode>(), sp.GetRequiredService<NodeLifetime>()),
            failureStatus: null,
            tags));
    }
}

/// <summary>
/// Reports the node's role and its peers: <see cref="HealthStatus.Unhealthy"/> when the node is not running or a group is
/// Blocked or fatally stopped; <see cref="HealthStatus.Degraded"/> when a peer is Suspect or Dead, a link to a live peer is down,
/// the arbiter could not answer lately (lease modes),
/// or this node is banned from a group; <see cref="HealthStatus.Healthy"/> otherwise.
/// </summary>
/// <remarks>
/// The description is one line, for example <c>a: web Active epoch 3; peer b Alive (lan0 up)</c>. <see cref="HealthCheckResult.Data"/>
/// holds <c>node</c>, then per group <c>group.&lt;name&gt;.role</c>, <c>.epoch</c> (the ownership epoch, or the highest known when
/// not owning), <c>.owner</c> (<c>none</c> when nobody runs it) and <c>.banned</c> (when banned), and per peer
/// <c>peer.&lt;name&gt;.health</c> and <c>.links</c> (<c>lan0 up, lan1 down</c>).
/// </remarks>
public sealed class HaKitHealthCheck : IHealthCheck
{
    private readonly ClusterNode _node;
    private readonly NodeLifetime _lifetime;

    internal HaKitHealthCheck(ClusterNode node, NodeLifetime lifetime)
    {
        _node = node;
        _lifetime = lifetime;
    }

    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var state = _lifetime.State;
        return Task.FromResult(Evaluate(_node.NodeName, state, state == HostedNodeState.Running ? _node.GetStatus() : null));
    }

    /// <summary>The health of a node in <paramref name="state"/> with <paramref name="status"/> (pure; tested directly).</summary>
    internal static HealthCheckResult Evaluate(string node, HostedNodeState state, ClusterStatus? status)
    {
        var data = new Dictionary<string, object> { ["node"] = node };
        if (state != HostedNodeState.Running || status is null)
        {
            data["state"] = state.ToString();
            return HealthCheckResult.Unhealthy($"{node}: not running ({Describe(state)})", data: data);
        }

        var unhealthy = false;
        var degraded = false;
        var groups = new List<string>();
        foreach (var g in status.Groups)
        {
            var epoch = g.Epoch != 0 ? g.Epoch : g.HighestEpoch;
            data[$"group.{g.Group}.role"] = g.Role.ToString();
            data[$"group.{g.Group}.epoch"] = epoch;
            data[$"group.{g.Group}.owner"] = g.Owner ?? "none";
            var text = g.Role is GroupRole.Standby && g.Owner is { } owner && owner != node
                ? $"{g.Group} {g.Role} owner {owner} epoch {epoch.ToString(CultureInfo.InvariantCulture)}"
                : $"{g.Group} {g.Role} epoch {epoch.ToString(CultureInfo.InvariantCulture)}";
            if (g.Role == GroupRole.Blocked)
            {
                unhealthy = true;
                text += " (stop failed: fence this node or clean up)";
            }

            if (g.FatalStopped)
            {
                unhealthy = true;
                data[$"group.{g.Group}.fatal"] = true;
                text += " (fatally stopped everywhere: clear failures)";
            }

            if (g.Banned is { } banned)
            {
                degraded = true;
                data[$"group.{g.Group}.banned"] = banned;
                text += $" (banned here: {banned})";
            }

            if (g.Maintenance)
            {
                text += " (maintenance)";
            }

            groups.Add(text);
        }

        var peers = new List<string>();
        foreach (var p in status.Peers)
        {
            var links = string.Join(", ", p.Links.Select(l => $"{l.Link} {LinkWord(l.Health)}"));
            data[$"peer.{p.Peer}.health"] = p.Health.ToString();
            data[$"peer.{p.Peer}.links"] = links;
            if (p.Health != PeerHealth.Alive)
            {
                degraded = true;
            }
            else if (p.Links.Any(l => l.Health == PeerHealth.Dead))
            {
                degraded = true;
            }

            peers.Add($"peer {p.Peer} {p.Health}{(p.Leaving ? " leaving" : "")}{(p.Fenced ? " fenced" : "")} ({links})");
        }

        var parts = new List<string>();
        if (status.Standby)
        {
            parts.Add("node in standby");
        }

        if (status.ArbiterUnavailable is { } why)
        {
            degraded = true;
            data["arbiter"] = why;
            parts.Add($"arbiter unavailable: {why}");
        }

        parts.Add(groups.Count == 0 ? "no groups" : string.Join(", ", groups));
        parts.AddRange(peers);
        var description = $"{node}: {string.Join("; ", parts)}";
        return unhealthy ? HealthCheckResult.Unhealthy(description, data: data)
            : degraded ? HealthCheckResult.Degraded(description, data: data)
            : HealthCheckResult.Healthy(description, data);
    }

    private static string LinkWord(PeerHealth health) => health switch
    {
        PeerHealth.Alive => "up",
        PeerHealth.Suspect => "late",
        _ => "down",
    };

    private static string Describe(HostedNodeState state) => state switch
    {
        HostedNodeState.NotStarted => "not started yet",
        HostedNodeState.Starting => "starting",
        HostedNodeState.Stopping => "stopping: handing groups over",
        HostedNodeState.Stopped => "stopped",
        HostedNodeState.Failed => "start-up failed",
        _ => state.ToString(),
    };
}
