using HaKit.Arbitration;
using HaKit.Fencing;
using HaKit.State;
using HaKit.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit;

/// <summary>Optional collaborators of a <see cref="ClusterNode"/>; every one has a production default.</summary>
public sealed class ClusterNodeServices
{
    /// <summary>Time source for timers, timeouts and detection. <value>Default <see cref="TimeProvider.System"/>.</value></summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Logger factory. <value>Default: no logging.</value></summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Meter factory for the <c>HaKit</c> meter. <value>Default: a standalone meter.</value></summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>The arbiter. <value>Default: <see cref="TwoNodeArbiter"/> with the configured ping targets.</value></summary>
    public IArbiter? Arbiter { get; init; }

    /// <summary>For <see cref="ArbiterMode.Etcd"/> when <see cref="Arbiter"/> is not set: the lease store the default <see cref="LeaseStoreArbiter"/> uses. <value>Default: none.</value></summary>
    public ILeaseStore? LeaseStore { get; init; }

    /// <summary>Fence agents, tried in order (fencing levels), after the built-in agents configured in <see cref="FencingOptions.Agents"/>. <value>Default: none.</value></summary>
    public IReadOnlyList<IFenceAgent> FenceAgents { get; init; } = [];

    /// <summary>Durable state. <value>Default: <see cref="FileStateStore"/> at <c>StateDirectory/NodeName.state</c>.</value></summary>
    public IStateStore? StateStore { get; init; }

    /// <summary>Heartbeat links. <value>Default: built from <see cref="HaKitOptions.Links"/> by <see cref="HeartbeatTransportFactory"/>.</value></summary>
    public IReadOnlyList<IHeartbeatTransport>? Transports { get; init; }

    /// <summary>
    /// Builders for link kinds the core does not build itself (<see cref="LinkKind.Grpc"/>: the HaKit.Grpc package's factory), used
    /// when <see cref="Transports"/> is not set. <value>Default: none (a Grpc link then fails at start-up, naming the fix).</value>
    /// </summary>
    public IReadOnlyList<IHeartbeatLinkFactory> LinkFactories { get; init; } = [];
}
