using HaKit.Detection;
using HaKit.Fencing;
using HaKit.Resources;

namespace HaKit;

/// <summary>Something an operator, a log or a metric should know about. Raised by the core (and by the runtime for resource actions).</summary>
/// <param name="At">Monotonic time since the node started.</param>
public abstract record ClusterEvent(TimeSpan At);

/// <summary>A node's role for a group changed.</summary>
/// <param name="At">When.</param>
/// <param name="Group">The group.</param>
/// <param name="Node">The local node.</param>
/// <param name="From">Previous role.</param>
/// <param name="To">New role.</param>
/// <param name="Epoch">The ownership epoch involved (the new epoch on takeover).</param>
/// <param name="Why">The inputs that decided it.</param>
/// <param name="TakeoverDuration">On <see cref="GroupRole.Active"/> after a takeover: time from the decision to take over until every resource ran.</param>
/// <param name="Takeover">When the change is part of a takeover (Acquiring, Starting, Active): why the node takes the group.</param>
public sealed record RoleChanged(TimeSpan At, string Group, string Node, GroupRole From, GroupRole To, ulong Epoch, DecisionContext Why, TimeSpan? TakeoverDuration = null, TakeoverReason? Takeover = null) : ClusterEvent(At);

/// <summary>A peer's overall health changed (best of its links).</summary>
/// <param name="At">When.</param>
/// <param name="Peer">The peer.</param>
/// <param name="From">Previous health.</param>
/// <param name="To">New health.</param>
/// <param name="Observation">Per-link detail.</param>
/// <param name="Silence">Time since the last heartbeat on any link, or <see langword="null"/> if the peer was never heard.</param>
public sealed record PeerHealthChanged(TimeSpan At, string Peer, PeerHealth From, PeerHealth To, PeerObservation Observation, TimeSpan? Silence) : ClusterEvent(At);

/// <summary>
/// A transport's crash hint about a peer qualified: its connection ended without a goodbye, an immediate reconnect was refused, and
/// the peer has been silent on every other link for at least one heartbeat interval.
/// </summary>
/// <param name="At">When.</param>
/// <param name="Peer">The peer whose process is gone.</param>
/// <param name="Link">The link that saw it.</param>
/// <param name="Evidence">What the link saw (for example <c>connection reset on link grpc0, reconnect refused</c>).</param>
/// <param name="Shortened">The groups whose takeover the hint shortens; for the others it only corroborates the failure detector.</param>
/// <param name="Why">Why it shortens or only corroborates (arbiter mode, resources that may outlive the process).</param>
public sealed record PeerCrashHinted(TimeSpan At, string Peer, string Link, string Evidence, IReadOnlyList<string> Shortened, string Why) : ClusterEvent(At);

/// <summary>A peer's health on one link changed (link up/down).</summary>
/// <param name="At">When.</param>
/// <param name="Peer">The peer.</param>
/// <param name="Link">The link.</param>
/// <param name="From">Previous health.</param>
/// <param name="To">New health.</param>
/// <param name="Detail">Detector description.</param>
public sealed record LinkHealthChanged(TimeSpan At, string Peer, string Link, PeerHealth From, PeerHealth To, string Detail) : ClusterEvent(At);

/// <summary>A peer restarted (its incarnation grew).</summary>
/// <param name="At">When.</param>
/// <param name="Peer">The peer.</param>
/// <param name="PreviousIncarnation">Incarnation before.</param>
/// <param name="Incarnation">New incarnation.</param>
public sealed record PeerRestarted(TimeSpan At, string Peer, ulong PreviousIncarnation, ulong Incarnation) : ClusterEvent(At);

/// <summary>Two nodes ran the same group at once (seen when links heal). The loser stops its copy.</summary>
/// <param name="At">When.</param>
/// <param name="Group">The group.</param>
/// <param name="LocalNode">This node.</param>
/// <param name="LocalEpoch">This node's epoch.</param>
/// <param name="PeerNode">The other owner.</param>
/// <param name="PeerEpoch">The other owner's epoch.</param>
/// <param name="Winner">The node that keeps the group (higher epoch, then higher priority).</param>
public sealed record SplitBrainDetected(TimeSpan At, string Group, string LocalNode, ulong LocalEpoch, string PeerNode, ulong PeerEpoch, string Winner) : ClusterEvent(At);

/// <summary>This node should take a group over but cannot yet (arbiter refused, fencing failed or missing, owner blocked).</summary>
/// <param name="At">When.</param>
/// <param name="Group">The group.</param>
/// <param name="Reason">Why, for operators; alert on this.</param>
public sealed record TakeoverDelayed(TimeSpan At, string Group, string Reason) : ClusterEvent(At);

/// <summary>A fence attempt finished.</summary>
/// <param name="At">When.</param>
/// <param name="Node">The fenced node.</param>
/// <param name="Result">The result.</param>
public sealed record FenceCompleted(TimeSpan At, string Node, FenceResult Result) : ClusterEvent(At);

/// <summary>A group failed beyond local recovery; the failure policy was applied.</summary>
/// <param name="At">When.</param>
/// <param name="Group">The group.</param>
/// <param name="Kind">Transient (restarts exhausted: moved away for the failure window), PermanentOnNode (banned here until cleared) or Fatal (stopped everywhere until cleared).</param>
/// <param name="Resource">The failing resource, if known.</param>
/// <param name="Message">What went wrong.</param>
public sealed record GroupFailed(TimeSpan At, string Group, ResourceFailureKind Kind, string? Resource, string? Message) : ClusterEvent(At);

/// <summary>The monitor found a degraded resource or recovered one by restarting it.</summary>
/// <param name="At">When.</param>
/// <param name="Group">The group.</param>
/// <param name="Outcome">Degraded or Recovered.</param>
/// <param name="Resource">The resource.</param>
/// <param name="Message">Detail.</param>
/// <param name="Restarts">Restarts counted in the failure window.</param>
public sealed record GroupHealthReported(TimeSpan At, string Group, GroupOutcome Outcome, string? Resource, string? Message, int Restarts) : ClusterEvent(At);

/// <summary>The local node was stalled (a tick arrived late); the stall was not counted against peers.</summary>
/// <param name="At">When.</param>
/// <param name="Duration">How long the node was stalled beyond its tick interval.</param>
public sealed record LocalPauseDetected(TimeSpan At, TimeSpan Duration) : ClusterEvent(At)
{
    /// <summary>
    /// The wait came before the node's first tick (its start-up probes took that long, or the machine stalled while it
    /// started): the initial dead time of peers not yet heard counts from this tick.
    /// </summary>
    public bool BeforeFirstTick { get; init; }
}

/// <summary>The durable state could not be written; the takeover that needed it is abandoned.</summary>
/// <param name="At">When.</param>
/// <param name="Group">The group.</param>
/// <param name="Epoch">The epoch that could not be persisted.</param>
/// <param name="Error">The error.</param>
public sealed record PersistFailed(TimeSpan At, string Group, ulong Epoch, string Error) : ClusterEvent(At);

/// <summary>A resource action finished (raised by the runtime).</summary>
/// <param name="At">When.</param>
/// <param name="Record">The action and its result.</param>
public sealed record ResourceActionCompleted(TimeSpan At, ResourceActionRecord Record) : ClusterEvent(At);

/// <summary>A group this node released was taken by its handoff target (the target announced it Starting or Active).</summary>
/// <param name="At">When.</param>
/// <param name="Group">The group.</param>
/// <param name="To">The node that took it.</param>
public sealed record GroupHandedOver(TimeSpan At, string Group, string To) : ClusterEvent(At);

/// <summary>ipfail: this node lost reachability of ping targets that a peer still reaches, and moves a group there (graceful handoff).</summary>
/// <param name="At">Monotonic time.</param>
/// <param name="Group">The group that moves.</param>
/// <param name="From">This node (the owner).</param>
/// <param name="To">The peer it moves to.</param>
/// <param name="Score">Targets this node reached (its best round of the hysteresis window).</param>
/// <param name="PeerScore">Targets the peer reaches (its worst round of its window).</param>
/// <param name="Targets">Targets probed.</param>
/// <param name="Lost">The targets this node reached in no round of the window.</param>
public sealed record ReachabilityMove(TimeSpan At, string Group, string From, string To, int Score, int PeerScore, int Targets, IReadOnlyList<string> Lost) : ClusterEvent(At);

/// <summary>Every group is released and the node may exit (after a graceful shutdown request).</summary>
/// <param name="At">When.</param>
public sealed record ShutdownReady(TimeSpan At) : ClusterEvent(At);
