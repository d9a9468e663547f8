namespace HaKit;

/// <summary>
/// A resource agent: something that runs on the node that owns its group (a virtual IP, a process, a database role).
/// The same contract as Pacemaker's OCF agents (start / stop / monitor), with typed results instead of exit codes.
/// </summary>
/// <remarks>
/// <para>Start and stop must be idempotent: starting a running resource or stopping a stopped one succeeds.</para>
/// <para>An exception thrown from an action is treated as <see cref="ResourceFailureKind.Transient"/>,
/// unless it is a <see cref="ResourceException"/>, which carries its own kind. Cancellation of
/// <c>cancellationToken</c> means the action timed out or the node is shutting down.</para>
/// </remarks>
public interface IResource
{
    /// <summary>Resource name, unique within its group (for example <c>vip</c>, <c>nginx</c>).</summary>
    string Name { get; }

    /// <summary>Starts the resource for the epoch in <paramref name="context"/>.</summary>
    /// <param name="context">Group, epoch (fencing token), ownership token.</param>
    /// <param name="cancellationToken">Cancelled when the start times out or the node shuts down.</param>
    ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken);

    /// <summary>Stops the resource. A stop that fails or times out blocks the group (it may still be running).</summary>
    /// <param name="context">Group, epoch, ownership token (already cancelled when ownership was lost).</param>
    /// <param name="cancellationToken">Cancelled when the stop times out.</param>
    ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken);

    /// <summary>Checks the resource (Pacemaker's <c>monitor</c>).</summary>
    /// <param name="context">Group, epoch, ownership token.</param>
    /// <param name="cancellationToken">Cancelled when the monitor times out.</param>
    ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the resource cannot outlive the process that runs it: it lives in the process (a server socket, an in-process
    /// service), or the process makes sure it dies too (<see cref="Resources.ProcessResource"/>'s child gets a parent-death signal).
    /// When every resource of a group says so, a crash hint lets the survivor of a TwoNode pair take the group over without
    /// waiting for the dead time (docs/architecture.md, "The crash hint"). <value>Default <see langword="false"/>: the
    /// resource may outlive a crash (a virtual IP, a detached daemon, a mount), and the takeover waits for the dead time.</value>
    /// </summary>
    bool DiesWithProcess => false;
}

/// <summary>What a resource action gets to know about its group and ownership.</summary>
/// <param name="Group">The resource group name.</param>
/// <param name="Node">The local node name.</param>
/// <param name="Epoch">The group's epoch for this ownership: a fencing token that only grows across takeovers. Hand it to anything that must reject a stale owner (storage, a database, an API).</param>
/// <param name="OwnershipToken">Cancelled the instant this node stops owning the group. Tie leader-only work to it.</param>
/// <remarks>
/// The token is cancelled by the node's loop, so it is only as fresh as the loop's last step: a process that wakes from a freeze
/// (SIGSTOP, a long GC pause, a suspended VM) may run queued work before the loop noticed that its lease ended. Check
/// <see cref="IsOwned"/> or call <see cref="EnsureOwned"/> right before every side effect that only the owner may make (answering a
/// client, writing to storage): they compare a monotonic clock with the ownership's safe end at that instant.
/// </remarks>
public sealed record ResourceContext(string Group, string Node, ulong Epoch, CancellationToken OwnershipToken)
{
    /// <summary>
    /// During a stop action, why the group is stopped here (a graceful <see cref="HaKit.StopReason.Switchover"/>, a
    /// <see cref="HaKit.StopReason.ResourceFailure"/>, ...), so that a resource can drain before a planned handover and not after a
    /// failure; <see langword="null"/> for start and monitor actions, and for the stops of a local restart.
    /// </summary>
    public StopReason? StopReason { get; init; }

    /// <summary>The node's clock-true view of this group's ownership (absent: only the token counts, as in the simulator).</summary>
    internal Resources.OwnershipGuard? Guard { get; init; }

    /// <summary>
    /// Whether this node owns the group for <see cref="Epoch"/> at this instant, by the clock: the ownership token is not cancelled,
    /// and the ownership's safe end has not passed. In lease modes (Etcd, Witness) the safe end is the lease's end minus the drift
    /// margin; in TwoNode mode it is the node loop's last step plus what is left of the dead time, and after a local stall longer
    /// than that it stays <see langword="false"/> until the peer was heard again and the node still owns the group. Cheap (a clock
    /// read and two volatile reads), safe on any thread.
    /// </summary>
    public bool IsOwned => !OwnershipToken.IsCancellationRequested && (Guard is null || Guard.IsOwned(Epoch));

    /// <summary>Throws <see cref="OwnershipLostException"/> (naming group, epoch and why) unless <see cref="IsOwned"/>.</summary>
    /// <exception cref="OwnershipLostException">This node does not own the group for <see cref="Epoch"/> now.</exception>
    public void EnsureOwned()
    {
        if (!IsOwned)
        {
            throw new OwnershipLostException(Group, Node, Epoch, OwnershipToken.IsCancellationRequested
                ? "the ownership token was cancelled (this node stopped owning the group)"
                : Guard!.Explain(Epoch));
        }
    }
}

/// <summary>How a failed action should be handled, after Pacemaker's OCF exit-code classes.</summary>
public enum ResourceFailureKind
{
    /// <summary>No failure.</summary>
    None = 0,

    /// <summary>Soft error (<c>OCF_ERR_GENERIC</c>): restart here, up to <c>MaxRestarts</c> within <c>FailureWindow</c>, then move the group.</summary>
    Transient = 1,

    /// <summary>Hard error on this node (<c>OCF_ERR_INSTALLED</c>, <c>OCF_ERR_PERM</c>): move the group away and keep it off this node until an operator clears the failure.</summary>
    PermanentOnNode = 2,

    /// <summary>Fatal error (<c>OCF_ERR_CONFIGURED</c>): stop the group everywhere and alert; it stays down until cleared.</summary>
    Fatal = 3,
}

/// <summary>The result of a start or stop action.</summary>
public readonly record struct ResourceResult
{
    private ResourceResult(ResourceFailureKind kind, string? message, Exception? exception)
    {
        Kind = kind;
        Message = message;
        Exception = exception;
    }

    /// <summary>The failure class, or <see cref="ResourceFailureKind.None"/> on success.</summary>
    public ResourceFailureKind Kind { get; }

    /// <summary>A human-readable explanation (logged and carried in events).</summary>
    public string? Message { get; }

    /// <summary>The exception behind the failure, if any.</summary>
    public Exception? Exception { get; }

    /// <summary>Whether the action succeeded.</summary>
    public bool Succeeded => Kind == ResourceFailureKind.None;

    /// <summary>Success.</summary>
    public static ResourceResult Success { get; } = new(ResourceFailureKind.None, null, null);

    /// <summary>A transient failure: retry / restart here.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="exception">The cause, if any.</param>
    public static ResourceResult Transient(string message, Exception? exception = null) => new(ResourceFailureKind.Transient, message, exception);

    /// <summary>A failure that will not heal on this node: move the group away and ban this node.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="exception">The cause, if any.</param>
    public static ResourceResult PermanentOnNode(string message, Exception? exception = null) => new(ResourceFailureKind.PermanentOnNode, message, exception);

    /// <summary>A fatal failure: stop the group everywhere.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="exception">The cause, if any.</param>
    public static ResourceResult Fatal(string message, Exception? exception = null) => new(ResourceFailureKind.Fatal, message, exception);

    /// <summary>Builds a failure of the given kind (<see cref="ResourceFailureKind.None"/> gives <see cref="Success"/>).</summary>
    /// <param name="kind">The failure class.</param>
    /// <param name="message">What went wrong.</param>
    /// <param name="exception">The cause, if any.</param>
    public static ResourceResult Failure(ResourceFailureKind kind, string? message, Exception? exception = null) =>
        kind == ResourceFailureKind.None ? Success : new(kind, message, exception);

    /// <inheritdoc />
    public override string ToString() => Succeeded ? "ok" : $"{Kind}: {Message}";
}

/// <summary>What <see cref="IResource.MonitorAsync"/> found.</summary>
public enum ResourceStatus
{
    /// <summary>Running and healthy (<c>OCF_SUCCESS</c>).</summary>
    Running = 0,

    /// <summary>Running but impaired; reported, no action taken (<c>OCF_DEGRADED</c>).</summary>
    Degraded = 1,

    /// <summary>Cleanly not running (<c>OCF_NOT_RUNNING</c>); on an active group this triggers a restart.</summary>
    NotRunning = 2,

    /// <summary>Failed; handled according to <see cref="MonitorResult.FailureKind"/>.</summary>
    Failed = 3,
}

/// <summary>The result of a monitor action.</summary>
/// <param name="Status">What the monitor found.</param>
/// <param name="FailureKind">For <see cref="ResourceStatus.Failed"/>: how to handle it (default transient).</param>
/// <param name="Message">A human-readable explanation.</param>
public readonly record struct MonitorResult(ResourceStatus Status, ResourceFailureKind FailureKind = ResourceFailureKind.None, string? Message = null)
{
    /// <summary>Running and healthy.</summary>
    public static MonitorResult Running { get; } = new(ResourceStatus.Running);

    /// <summary>Not running.</summary>
    /// <param name="message">Why.</param>
    public static MonitorResult NotRunning(string? message = null) => new(ResourceStatus.NotRunning, ResourceFailureKind.Transient, message);

    /// <summary>Running but degraded.</summary>
    /// <param name="message">Why.</param>
    public static MonitorResult Degraded(string? message = null) => new(ResourceStatus.Degraded, ResourceFailureKind.None, message);

    /// <summary>Failed with the given kind.</summary>
    /// <param name="kind">How to handle the failure.</param>
    /// <param name="message">Why.</param>
    public static MonitorResult Failed(ResourceFailureKind kind, string? message = null) => new(ResourceStatus.Failed, kind, message);
}

/// <summary>Thrown by a resource to fail an action with a specific <see cref="ResourceFailureKind"/>.</summary>
public sealed class ResourceException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="kind">The failure class.</param>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause, if any.</param>
    public ResourceException(ResourceFailureKind kind, string message, Exception? innerException = null)
        : base(message, innerException) => Kind = kind;

    /// <summary>The failure class.</summary>
    public ResourceFailureKind Kind { get; }
}
