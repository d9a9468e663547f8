using HaKit.Detection;

namespace HaKit;

/// <summary>A point-in-time view of one group on the local node.</summary>
/// <param name="Group">Group name.</param>
/// <param name="Role">Local role.</param>
/// <param name="Epoch">Local ownership epoch (0 when not owning).</param>
/// <param name="HighestEpoch">Highest epoch seen or used.</param>
/// <param name="Owner">The node believed to run the group (this one or a live peer announcing Active/Starting), or <see langword="null"/>.</param>
/// <param name="Eligible">Whether this node may run the group now.</param>
/// <param name="Banned">Why this node is banned from the group, or <see langword="null"/>.</param>
/// <param name="FatalStopped">Whether a fatal failure stopped the group everywhere.</param>
/// <param name="Maintenance">Whether the group is in maintenance.</param>
public sealed record GroupStatusView(string Group, GroupRole Role, ulong Epoch, ulong HighestEpoch, string? Owner, bool Eligible, string? Banned, bool FatalStopped, bool Maintenance);

/// <summary>A point-in-time view of one peer.</summary>
/// <param name="Peer">Peer name.</param>
/// <param name="Health">Overall health.</param>
/// <param name="Links">Per-link health.</param>
/// <param name="Incarnation">Last incarnation heard (0 = never heard).</param>
/// <param name="Fenced">Whether the peer is fenced.</param>
/// <param name="Leaving">Whether the peer announced a graceful shutdown.</param>
public sealed record PeerStatusView(string Peer, PeerHealth Health, IReadOnlyList<LinkObservation> Links, ulong Incarnation, bool Fenced, bool Leaving);

/// <summary>A point-in-time view of the local node's cluster state.</summary>
/// <param name="Node">Local node name.</param>
/// <param name="Standby">Whether the node is in standby.</param>
/// <param name="ShuttingDown">Whether a graceful shutdown is under way.</param>
/// <param name="Groups">Every group.</param>
/// <param name="Peers">Every peer.</param>
public sealed record ClusterStatus(string Node, bool Standby, bool ShuttingDown, IReadOnlyList<GroupStatusView> Groups, IReadOnlyList<PeerStatusView> Peers)
{
    /// <summary>
    /// Lease modes: why the arbiter could not answer lately (etcd or the witness and the peer unreachable), or <see langword="null"/>
    /// when its last answer was a real one. While set, an owner serves on a lease it cannot extend and this node offers itself
    /// for no group it does not own.
    /// </summary>
    public string? ArbiterUnavailable { get; init; }
}
