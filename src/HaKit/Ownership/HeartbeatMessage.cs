namespace HaKit.Ownership;

/// <summary>What one node announces about one group in its heartbeats.</summary>
/// <param name="Group">Group name.</param>
/// <param name="Role">The sender's role for the group.</param>
/// <param name="Epoch">The sender's ownership epoch (0 when Standby or Acquiring).</param>
/// <param name="HighestEpoch">Highest epoch the sender has seen or used for the group.</param>
/// <param name="Eligible">Whether the sender may run the group (not banned, not in standby, not leaving).</param>
/// <param name="HandoffTo">After a graceful release: the node that should start the group next.</param>
/// <param name="FatalMark">Epoch at which a fatal failure stopped the group everywhere (0 = never).</param>
/// <param name="FatalCleared">Highest fatal mark an operator has cleared.</param>
public sealed record GroupAnnouncement(
    string Group,
    GroupRole Role,
    ulong Epoch,
    ulong HighestEpoch,
    bool Eligible,
    string? HandoffTo,
    ulong FatalMark,
    ulong FatalCleared);

/// <summary>The content of a heartbeat, independent of its wire encoding.</summary>
/// <param name="Priority">The sender's priority.</param>
/// <param name="Leaving">The sender is shutting down gracefully.</param>
/// <param name="Groups">The sender's view of every group.</param>
/// <param name="Sequence">The sender's announcement number: grows with every announcement within one incarnation (every link
/// carries the same number for the same announcement); 0 when unknown. A receiver acts only on an announcement newer than the
/// last it acted on, so a heartbeat that arrives late (held back on a slow link) never brings back a state the sender has left.</param>
public sealed record HeartbeatMessage(int Priority, bool Leaving, IReadOnlyList<GroupAnnouncement> Groups, ulong Sequence = 0)
{
    /// <summary>
    /// The sender is checking a crash hint about its peers (a link saw a connection end without a goodbye): every live receiver
    /// answers at once with a heartbeat of its own, so a hint about a live node is contradicted within a round trip instead of
    /// a heartbeat interval.
    /// </summary>
    public bool Probe { get; init; }

    /// <summary>
    /// ipfail: the sender's reachability score, sustained over its last probe rounds (<see cref="ArbiterOptions.Ipfail"/>);
    /// <see langword="null"/> when unknown (ipfail off, fewer rounds than the window so far, or a sender that predates the field).
    /// </summary>
    public ReachabilityScore? Reachability { get; init; }
}

/// <summary>A node's reachability score (Heartbeat's ipfail, Pacemaker's <c>pingd</c> attribute): how many of its ping targets it reaches.</summary>
/// <param name="Score">Targets reached (the fewest reached in any round of the hysteresis window).</param>
/// <param name="Targets">Targets probed.</param>
public sealed record ReachabilityScore(int Score, int Targets);
