using HaKit.Arbitration;
namespace HaKit.Ownership;

/// <summary>
/// An output of the ownership core. The runtime executes commands in order and feeds results back
/// (<c>On…</c> methods of <see cref="OwnershipCore"/>). Commands are data: the core never performs I/O.
/// </summary>
public abstract record CoreCommand;

/// <summary>Send this heartbeat on every link.</summary>
/// <param name="Message">The heartbeat.</param>
public sealed record SendHeartbeat(HeartbeatMessage Message) : CoreCommand;

/// <summary>Durably record that <paramref name="Epoch"/> is the highest epoch seen or used for the group, then call <see cref="OwnershipCore.OnEpochPersisted"/>.</summary>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The epoch.</param>
public sealed record PersistEpoch(string Group, ulong Epoch) : CoreCommand;

/// <summary>Ask the arbiter, then call <see cref="OwnershipCore.OnArbiterAnswer"/> with the same request id.</summary>
/// <param name="RequestId">Correlates the answer.</param>
/// <param name="Request">The request.</param>
public sealed record AskArbiter(long RequestId, ArbiterRequest Request) : CoreCommand;

/// <summary>Tell the arbiter the group was released (no answer expected).</summary>
/// <param name="Group">The group.</param>
public sealed record ReleaseArbiter(string Group) : CoreCommand;

/// <summary>Fence a node with the configured agents (in order), then call <see cref="OwnershipCore.OnFenceCompleted"/>.</summary>
/// <param name="RequestId">Correlates the answer.</param>
/// <param name="Node">The node to fence.</param>
public sealed record FenceNode(long RequestId, string Node) : CoreCommand;

/// <summary>Create the group's ownership token and start its resources with <paramref name="Epoch"/>, then call <see cref="OwnershipCore.OnGroupStarted"/>.</summary>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The new epoch (already persisted).</param>
public sealed record StartGroup(string Group, ulong Epoch) : CoreCommand;

/// <summary>Cancel the group's ownership token at once (and any start in flight), stop its resources in reverse order, then call <see cref="OwnershipCore.OnGroupStopped"/>.</summary>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The epoch being given up.</param>
/// <param name="Reason">Why.</param>
public sealed record StopGroup(string Group, ulong Epoch, StopReason Reason) : CoreCommand;

/// <summary>Run the group's monitor actions, then call <see cref="OwnershipCore.OnGroupMonitored"/>.</summary>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The current epoch.</param>
public sealed record MonitorGroup(string Group, ulong Epoch) : CoreCommand;

/// <summary>Publish an event (log, metrics, subscribers).</summary>
/// <param name="Event">The event.</param>
public sealed record EmitEvent(ClusterEvent Event) : CoreCommand;
