using HaKit.Arbitration;
namespace HaKit.Ownership;

/// <summary>
/// An output of the ownership core. The runtime executes commands in order and feeds results back
/// (<c>On…</c> methods of <see cref="OwnershipCore"/>). Commands are data: the core never performs I/O.
/// </summary>
/// <remarks>
/// Every command dispatches itself to one method of <see cref="ICoreCommandHandler"/> (<see cref="AcceptAsync"/>): a new command type
/// does not compile until that interface has a method for it, and then every executor (the node's, the simulator's, test harnesses)
/// does not compile until it handles it.
/// </remarks>
internal abstract record CoreCommand
{
    /// <summary>Only the commands declared here exist.</summary>
    private protected CoreCommand()
    {
    }

    /// <summary>Calls the <paramref name="handler"/> method for this command type.</summary>
    /// <param name="handler">The executor.</param>
    /// <param name="cancellationToken">Passed to the handler (cancels the node's work when it stops).</param>
    /// <returns>The handler's result.</returns>
    public abstract ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken);
}

/// <summary>Send this heartbeat on every link.</summary>
/// <param name="Message">The heartbeat.</param>
internal sealed record SendHeartbeat(HeartbeatMessage Message) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).SendHeartbeatAsync(this, cancellationToken);
}

/// <summary>Durably record that <paramref name="Epoch"/> is the highest epoch seen or used for the group, then call <see cref="OwnershipCore.OnEpochPersisted"/>.</summary>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The epoch.</param>
internal sealed record PersistEpoch(string Group, ulong Epoch) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).PersistEpochAsync(this, cancellationToken);
}

/// <summary>Ask the arbiter, then call <see cref="OwnershipCore.OnArbiterAnswer"/> with the same request id.</summary>
/// <param name="RequestId">Correlates the answer.</param>
/// <param name="Request">The request.</param>
internal sealed record AskArbiter(long RequestId, ArbiterRequest Request) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).AskArbiterAsync(this, cancellationToken);
}

/// <summary>Tell the arbiter the group was released (no answer expected).</summary>
/// <param name="Group">The group.</param>
internal sealed record ReleaseArbiter(string Group) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).ReleaseArbiterAsync(this, cancellationToken);
}

/// <summary>Fence a node with the configured agents (in order), then call <see cref="OwnershipCore.OnFenceCompleted"/>.</summary>
/// <param name="RequestId">Correlates the answer.</param>
/// <param name="Node">The node to fence.</param>
internal sealed record FenceNode(long RequestId, string Node) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).FenceNodeAsync(this, cancellationToken);
}

/// <summary>Create the group's ownership token and start its resources with <paramref name="Epoch"/>, then call <see cref="OwnershipCore.OnGroupStarted"/>.</summary>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The new epoch (already persisted).</param>
internal sealed record StartGroup(string Group, ulong Epoch) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).StartGroupAsync(this, cancellationToken);
}

/// <summary>Cancel the group's ownership token at once (and any start in flight), stop its resources in reverse order, then call <see cref="OwnershipCore.OnGroupStopped"/>.</summary>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The epoch being given up.</param>
/// <param name="Reason">Why.</param>
internal sealed record StopGroup(string Group, ulong Epoch, StopReason Reason) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).StopGroupAsync(this, cancellationToken);
}

/// <summary>Run the group's monitor actions, then call <see cref="OwnershipCore.OnGroupMonitored"/>.</summary>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The current epoch.</param>
internal sealed record MonitorGroup(string Group, ulong Epoch) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).MonitorGroupAsync(this, cancellationToken);
}

/// <summary>Publish an event (log, metrics, subscribers).</summary>
/// <param name="Event">The event.</param>
internal sealed record EmitEvent(ClusterEvent Event) : CoreCommand
{
    /// <inheritdoc />
    public override ValueTask AcceptAsync(ICoreCommandHandler handler, CancellationToken cancellationToken) =>
        (handler ?? throw new ArgumentNullException(nameof(handler))).EmitEventAsync(this, cancellationToken);
}

/// <summary>
/// Executes the ownership core's commands: one method per command type (<see cref="CoreCommand.AcceptAsync"/> picks it). Implemented
/// by the node's runtime, the deterministic simulator and test harnesses, so the compiler finds an executor that misses a command.
/// </summary>
/// <remarks>An executor that completes synchronously returns <see langword="default"/> (a completed <see cref="ValueTask"/>).</remarks>
internal interface ICoreCommandHandler
{
    /// <summary>Sends the heartbeat on every link.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <returns>Completes when the heartbeat was handed to every link.</returns>
    ValueTask SendHeartbeatAsync(SendHeartbeat command, CancellationToken cancellationToken);

    /// <summary>Persists the epoch durably, then calls <see cref="OwnershipCore.OnEpochPersisted"/>.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Not used by a synchronous write.</param>
    /// <returns>Completes when the write is done.</returns>
    ValueTask PersistEpochAsync(PersistEpoch command, CancellationToken cancellationToken);

    /// <summary>Asks the arbiter; the answer goes to <see cref="OwnershipCore.OnArbiterAnswer"/> later.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>Completes when the request is under way (not answered).</returns>
    ValueTask AskArbiterAsync(AskArbiter command, CancellationToken cancellationToken);

    /// <summary>Tells the arbiter the group was released (no answer expected).</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Cancels the release.</param>
    /// <returns>Completes when the release is under way.</returns>
    ValueTask ReleaseArbiterAsync(ReleaseArbiter command, CancellationToken cancellationToken);

    /// <summary>Fences the node; the result goes to <see cref="OwnershipCore.OnFenceCompleted"/> later.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Cancels fencing.</param>
    /// <returns>Completes when fencing is under way.</returns>
    ValueTask FenceNodeAsync(FenceNode command, CancellationToken cancellationToken);

    /// <summary>Starts the group's resources; the outcome goes to <see cref="OwnershipCore.OnGroupStarted"/> later.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>Completes when the start is under way.</returns>
    ValueTask StartGroupAsync(StartGroup command, CancellationToken cancellationToken);

    /// <summary>Revokes the group's ownership and stops its resources; the outcome goes to <see cref="OwnershipCore.OnGroupStopped"/> later.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Not used: a stop is bounded by its timeout, never cancelled.</param>
    /// <returns>Completes when the stop is under way.</returns>
    ValueTask StopGroupAsync(StopGroup command, CancellationToken cancellationToken);

    /// <summary>Monitors the group's resources; the outcome goes to <see cref="OwnershipCore.OnGroupMonitored"/> later.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Cancels the monitor.</param>
    /// <returns>Completes when the monitor is under way.</returns>
    ValueTask MonitorGroupAsync(MonitorGroup command, CancellationToken cancellationToken);

    /// <summary>Publishes the event (log, metrics, subscribers).</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Not used.</param>
    /// <returns>Completes when the event was published.</returns>
    ValueTask EmitEventAsync(EmitEvent command, CancellationToken cancellationToken);
}
