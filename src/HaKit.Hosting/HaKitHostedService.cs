using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting;

/// <summary>
/// Runs the <see cref="ClusterNode"/> for the host's lifetime. Start: starts the node (links bound, loop running).
/// Stop: <see cref="ClusterNode.StopAsync"/> hands every owned group to the peer (stop here, announce, the peer starts it)
/// and waits until the peer has taken each group (bounded by twice the dead time), then the node is closed.
/// </summary>
internal sealed class HaKitHostedService(IServiceProvider services, NodeLifetime lifetime) : IHostedService
{
    private readonly ILogger _logger = services.GetService<ILoggerFactory>()?.CreateLogger("HaKit.Hosting") ?? NullLogger.Instance;
    private ClusterNode? _node;
    private HaKitOptions? _options;

    /// <summary>The shortest <see cref="HostOptions.ShutdownTimeout"/> that fits a graceful handover of every group.</summary>
    internal static TimeSpan RequiredShutdownTimeout(HaKitOptions options, IReadOnlyDictionary<string, int> resourceCounts, out TimeSpan stops, out TimeSpan deadTimes)
    {
        stops = TimeSpan.Zero;
        foreach (var g in options.Groups)
        {
            stops += g.StopTimeout * (resourceCounts.TryGetValue(g.Name, out var n) ? n : 1);
        }

        deadTimes = 2 * options.Timing.DeadTime;
        return stops + deadTimes + TimeSpan.FromSeconds(5);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = services.GetRequiredService<IOptions<HaKitOptions>>().Value;
        var node = services.GetRequiredService<ClusterNode>();
        EnsureShutdownTimeout(options);
        lifetime.State = HostedNodeState.Starting;
        try
        {
            await node.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            lifetime.State = HostedNodeState.Failed;
            HostingLog.StartFailed(_logger, options.NodeName, ex.Message);
            await node.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _options = options;
        _node = node;
        lifetime.State = HostedNodeState.Running;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var node = Interlocked.Exchange(ref _node, null);
        if (node is null || _options is null)
        {
            return;
        }

        lifetime.State = HostedNodeState.Stopping;
        try
        {
            var owned = node.GetStatus().Groups.Where(g => g.Role != GroupRole.Standby).Select(g => g.Group).ToList();
            HostingLog.HandingOver(_logger, node.NodeName, owned.Count == 0 ? "no group (none owned)" : string.Join(", ", owned));

            // Releases every group and keeps the links up until each handoff target announced the group (bounded by 2 x dead time).
            await node.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            HostingLog.ShutdownTimedOut(_logger, node.NodeName);
        }
        finally
        {
            await node.DisposeAsync().ConfigureAwait(false);
            lifetime.State = HostedNodeState.Stopped;
        }
    }

    private void EnsureShutdownTimeout(HaKitOptions options)
    {
        var hostOptions = services.GetService<IOptions<HostOptions>>()?.Value;
        if (hostOptions is null || hostOptions.ShutdownTimeout == Timeout.InfiniteTimeSpan)
        {
            return;
        }

        var counts = services.GetRequiredService<ResourceCatalog>().Resolve(options).ByGroup.ToDictionary(g => g.Key, g => g.Value.Count, StringComparer.Ordinal);
        var required = RequiredShutdownTimeout(options, counts, out var stops, out var deadTimes);
        if (hostOptions.ShutdownTimeout < required)
        {
            // The host reads ShutdownTimeout from this same instance when it stops.
            HostingLog.ShutdownTimeoutRaised(_logger, hostOptions.ShutdownTimeout, required, stops, deadTimes);
            hostOptions.ShutdownTimeout = required;
        }
    }
}
