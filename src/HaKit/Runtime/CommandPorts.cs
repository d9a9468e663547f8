using HaKit.Fencing;
using HaKit.Ownership;

namespace HaKit.Runtime;

// The ports of NodeCommandExecutor: what it needs from the node around it. The node implements them with NodeLoop, NodeLinks,
// FenceCoordinator and GroupDriver; the simulator (HaKit.Testing) with virtual-time versions, so that it runs the very executor the
// node runs. Durable state is DurableNodeState over an IStateStore, and the arbiter an IArbiter, in both.

/// <summary>The loop that drives the core: where results are posted back and where work in flight is tracked.</summary>
internal interface ICommandLoop
{
    /// <summary>The core (only on the loop).</summary>
    OwnershipCore Core { get; }

    /// <summary>The node's monotonic time (the core's clock).</summary>
    TimeSpan Now { get; }

    /// <summary>Queues work for the loop. <see langword="false"/> once the loop stopped.</summary>
    /// <param name="work">The work (runs on the loop, then the core's commands are executed).</param>
    bool Post(Action work);

    /// <summary>Tracks work running outside the loop (resource actions, arbiter calls, fencing).</summary>
    /// <param name="task">The work.</param>
    void Track(Task task);

    /// <summary>Tracks an arbiter release (a graceful stop waits for them).</summary>
    /// <param name="release">The release.</param>
    void TrackRelease(Task release);

    /// <summary>Publishes the groups' ownership (<see cref="ResourceContext.IsOwned"/>) as the core stands now, in the
    /// middle of a step: a group's start runs inline until its first real wait, so it must see the epoch it starts for.</summary>
    void PublishOwnership();
}

/// <summary>Where heartbeats go out: every link.</summary>
internal interface IHeartbeatLinks
{
    /// <summary>Sends one heartbeat on every link.</summary>
    /// <param name="message">The heartbeat.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    ValueTask SendHeartbeatAsync(HeartbeatMessage message, CancellationToken cancellationToken);
}

/// <summary>Fences a node: the fence levels in order.</summary>
internal interface IFenceRunner
{
    /// <summary>Fences <paramref name="node"/>.</summary>
    /// <param name="node">The node to power off.</param>
    /// <param name="cancellationToken">Cancels the attempt.</param>
    Task<FenceResult> FenceAsync(string node, CancellationToken cancellationToken);
}

/// <summary>Runs one group's actions (start, stop, monitor) and owns its ownership token; results are posted to the loop.</summary>
internal interface IGroupDriver
{
    /// <summary>The core's start: a new ownership token, then the start.</summary>
    /// <param name="loop">Where the outcome is posted.</param>
    /// <param name="epoch">The epoch being started.</param>
    /// <param name="shutdown">The node's shutdown token.</param>
    void Start(ICommandLoop loop, ulong epoch, CancellationToken shutdown);

    /// <summary>The core's stop: the ownership token is cancelled at once, an action in flight aborted, then the stop.</summary>
    /// <param name="loop">Where the outcome is posted.</param>
    /// <param name="command">The stop (epoch and reason).</param>
    void Stop(ICommandLoop loop, StopGroup command);

    /// <summary>The core's monitor.</summary>
    /// <param name="loop">Where the outcome is posted.</param>
    /// <param name="epoch">The epoch being monitored.</param>
    /// <param name="shutdown">The node's shutdown token.</param>
    void Monitor(ICommandLoop loop, ulong epoch, CancellationToken shutdown);
}
