using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>One line of a simulation trace, in virtual time.</summary>
/// <param name="At">Global virtual time.</param>
/// <param name="Node">The node concerned (or <c>-</c> for the network and the fault injector).</param>
/// <param name="Category">msg, drop, timer, cmd, event, resource, fault, admin or check.</param>
/// <param name="Text">What happened.</param>
public sealed record TraceEntry(TimeSpan At, string Node, string Category, string Text)
{
    /// <inheritdoc />
    public override string ToString() => $"{At.TotalSeconds,9:0.0000}s {Node,-3} {Category,-8} {Text}";
}

/// <summary>A fact observed by the simulator in the current step, for invariants (see <see cref="Simulation.StepEvents"/>).</summary>
/// <param name="At">Global virtual time.</param>
/// <param name="Node">The node concerned.</param>
public abstract record SimulationEvent(TimeSpan At, string Node);

/// <summary>A node's core issued <see cref="StartGroup"/>.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The node.</param>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The epoch the resources start with.</param>
public sealed record GroupStartIssued(TimeSpan At, string Node, string Group, ulong Epoch) : SimulationEvent(At, Node);

/// <summary>A node's core issued <see cref="StopGroup"/>.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The node.</param>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The epoch given up.</param>
/// <param name="Reason">Why.</param>
public sealed record GroupStopIssued(TimeSpan At, string Node, string Group, ulong Epoch, StopReason Reason) : SimulationEvent(At, Node);

/// <summary>A resource action finished on a node.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The node.</param>
/// <param name="Epoch">The epoch in the action's <see cref="ResourceContext"/>.</param>
/// <param name="Record">The action and its result.</param>
public sealed record ResourceActionObserved(TimeSpan At, string Node, ulong Epoch, ResourceActionRecord Record) : SimulationEvent(At, Node);

/// <summary>A heartbeat passed the real wire layer (authentication, replay window, decoding; with typed delivery the sender and
/// replay-window checks, see <see cref="WireDelivery"/>) and was handed to a core.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The receiving node.</param>
/// <param name="From">The sender.</param>
/// <param name="Link">The link.</param>
/// <param name="Message">The decoded heartbeat.</param>
public sealed record HeartbeatDelivered(TimeSpan At, string Node, string From, string Link, HeartbeatMessage Message) : SimulationEvent(At, Node)
{
    /// <summary>The receiver's index in <see cref="Simulation.Nodes"/> (-1: not given; invariants then look the name up).</summary>
    internal int NodeIndex { get; init; } = -1;

    /// <summary>The sender's index in <see cref="Simulation.Nodes"/> (-1: not given).</summary>
    internal int FromIndex { get; init; } = -1;
}

/// <summary>A node's core raised an event.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The node.</param>
/// <param name="Event">The event.</param>
public sealed record CoreEventObserved(TimeSpan At, string Node, ClusterEvent Event) : SimulationEvent(At, Node);

/// <summary>A fence of <paramref name="Target"/> by <paramref name="Node"/> finished.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The fencing node.</param>
/// <param name="Target">The fenced node.</param>
/// <param name="Succeeded">Whether the target was powered off.</param>
public sealed record FenceObserved(TimeSpan At, string Node, string Target, bool Succeeded) : SimulationEvent(At, Node);

/// <summary>A node process died (crash or fence) or exited (after a graceful shutdown, see <see cref="SimulatedNode.IsShuttingDown"/>).</summary>
/// <param name="At">When.</param>
/// <param name="Node">The node.</param>
public sealed record NodeCrashed(TimeSpan At, string Node) : SimulationEvent(At, Node);

/// <summary>
/// Lease modes: the lease store granted a node's renewal of a group (seen at the store, at the instant it answered): the key
/// <paramref name="Key"/>, the lease the node's arbiter renewed (<paramref name="LeaseId"/>, null when it holds none) and the key's
/// holder at that instant (null when the key is gone). A renewal is only sound when the key is still bound to that very lease.
/// </summary>
/// <param name="At">Global time.</param>
/// <param name="Node">The renewing node.</param>
/// <param name="Group">The group.</param>
/// <param name="Key">The group's key.</param>
/// <param name="LeaseId">The lease the node's arbiter holds for the group.</param>
/// <param name="Holder">The key's holder at the store.</param>
public sealed record LeaseRenewalGranted(TimeSpan At, string Node, string Group, string Key, long? LeaseId, LeaseHolder? Holder) : SimulationEvent(At, Node);

/// <summary>A graceful shutdown (<see cref="Simulation.Shutdown"/>) ran into the host's time-out (<see cref="SimulationOptions.ShutdownTimeout"/>): the core never reported <see cref="ShutdownReady"/> and the process exits anyway.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The node.</param>
/// <param name="Timeout">The host's time-out.</param>
public sealed record ShutdownTimedOut(TimeSpan At, string Node, TimeSpan Timeout) : SimulationEvent(At, Node);

/// <summary>A node process started (new incarnation).</summary>
/// <param name="At">When.</param>
/// <param name="Node">The node.</param>
/// <param name="Incarnation">Its incarnation.</param>
public sealed record NodeStarted(TimeSpan At, string Node, ulong Incarnation) : SimulationEvent(At, Node);

/// <summary>An operator command ran on a node.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The node.</param>
/// <param name="Command">The command.</param>
/// <param name="Result">The core's answer.</param>
public sealed record AdminObserved(TimeSpan At, string Node, AdminCommand Command, AdminResult Result) : SimulationEvent(At, Node);

/// <summary>An invariant does not hold.</summary>
/// <param name="Invariant">The invariant's name.</param>
/// <param name="At">Global virtual time of the step after which it was found.</param>
/// <param name="Message">What is wrong, with the values involved.</param>
public sealed record InvariantViolation(string Invariant, TimeSpan At, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Invariant} at {At.TotalSeconds:0.000}s: {Message}";
}

/// <summary>The result of <see cref="Simulation.Run"/>.</summary>
/// <param name="Seed">The seed.</param>
/// <param name="Scenario">Description of the scenario (modes and fault mix).</param>
/// <param name="Violations">Every violation found (only the first when <see cref="SimulationOptions.StopAtFirstViolation"/>).</param>
/// <param name="Steps">Steps executed.</param>
/// <param name="EndTime">Virtual time at the end.</param>
/// <param name="Trace">The trace (empty unless <see cref="SimulationOptions.RecordTrace"/>).</param>
public sealed record SimulationResult(int Seed, string Scenario, IReadOnlyList<InvariantViolation> Violations, long Steps, TimeSpan EndTime, IReadOnlyList<TraceEntry> Trace)
{
    /// <summary>Whether every invariant held.</summary>
    public bool Passed => Violations.Count == 0;
}
