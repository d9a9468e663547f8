using HaKit.Election;
using HaKit.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting;

/// <summary>
/// Runs the <see cref="ClusterNode"/> for the host's lifetime. Start: starts the node (links bound, loop running).
/// Stop: hands every owned group to the peer (stop here, announce, the peer starts it), waits until the peer has taken
/// each group (bounded), then closes the node.
/// </summary>
internal sealed class HaKitHostedService(IServiceProvider services, NodeLifetime lifetime) : IHostedService
{
    private readonly ILogger _logger = services.GetService<ILoggerFactory>()?.CreateLogger("HaKit.Hosting") ?? NullLogger.Instance;
    private readonly TimeProvider _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
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
        lifetime.State = NodeState.Starting;
        try
        {
            await node.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            lifetime.State = NodeState.Failed;
            HostingLog.StartFailed(_logger, options.NodeName, ex.Message);
            await node.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _options = options;
        _node = node;
        lifetime.State = NodeState.Running;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var node = Interlocked.Exchange(ref _node, null);
        if (node is null || _options is null)
        {
            return;
        }

        lifetime.State = NodeState.Stopping;
        try
        {
            var owned = node.GetStatus().Groups.Where(g => g.Role != GroupRole.Standby).Select(g => g.Group).ToList();
            HostingLog.HandingOver(_logger, node.NodeName, owned.Count == 0 ? "no group (none owned)" : string.Join(", ", owned));
            await node.ExecuteAsync(new ShutdownCommand(), cancellationToken).ConfigureAwait(false);
            await node.GroupsReleased.WaitAsync(cancellationToken).ConfigureAwait(false);
            await ConfirmHandoverAsync(node, owned, cancellationToken).ConfigureAwait(false);
            await node.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            HostingLog.ShutdownTimedOut(_logger, node.NodeName);
        }
        finally
        {
            await node.DisposeAsync().ConfigureAwait(false);
            lifetime.State = NodeState.Stopped;
        }
    }

    /// <summary>
    /// Keeps the links up after the groups were released until a peer announces each released group as Starting or Active,
    /// so the handoff announcement is repeated rather than sent once. Bounded by twice the dead time.
    /// </summary>
    private async Task ConfirmHandoverAsync(ClusterNode node, List<string> owned, CancellationToken cancellationToken)
    {
        var bound = 2 * _options!.Timing.DeadTime;
        var poll = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond * 5, _options.Timing.Interval.Ticks / 4));
        var started = _time.GetTimestamp();
        var pending = new List<string>(owned);
        while (pending.Count > 0)
        {
            var status = node.GetStatus();
            foreach (var g in status.Groups.Where(g => pending.Contains(g.Group, StringComparer.Ordinal)))
            {
                if (g.Role == GroupRole.Blocked)
                {
                    HostingLog.BlockedAtShutdown(_logger, g.Group);
                    pending.Remove(g.Group);
                }
                else if (g.Owner is { } owner && owner != node.NodeName)
                {
                    HostingLog.HandedOver(_logger, g.Group, owner);
                    pending.Remove(g.Group);
                }
            }

            if (pending.Count == 0)
            {
                return;
            }

            if (!status.Peers.Any(p => p.Health != Detection.PeerHealth.Dead && !p.Leaving))
            {
                pending.ForEach(g => HostingLog.NoPeer(_logger, g));
                return;
            }

            if (_time.GetElapsedTime(started) > bound)
            {
                pending.ForEach(g => HostingLog.HandoverUnconfirmed(_logger, g, bound.TotalSeconds));
                return;
            }

            await Task.Delay(poll, _time, cancellationToken).ConfigureAwait(false);
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
