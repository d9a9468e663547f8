using HaKit.Arbitration;
using HaKit.Detection;
using HaKit.Fencing;

namespace HaKit;

/// <summary>A node's role for one resource group (the same values travel in heartbeats).</summary>
public enum GroupRole
{
    /// <summary>Not running the group here.</summary>
    Standby = 0,

    /// <summary>Taking over: fencing, asking the arbiter, persisting the new epoch. No resource runs yet.</summary>
    Acquiring = 1,

    /// <summary>Resources are starting with the node's new epoch.</summary>
    Starting = 2,

    /// <summary>The group runs here.</summary>
    Active = 3,

    /// <summary>Resources are stopping (reverse order).</summary>
    Stopping = 4,

    /// <summary>A stop failed or timed out: the resources may still run. Never started elsewhere unless this node is fenced or an operator cleans it up.</summary>
    Blocked = 5,
}

/// <summary>Why the core stops a group.</summary>
public enum StopReason
{
    /// <summary>An operator moved the group (switchover).</summary>
    Switchover,

    /// <summary>The preferred node is healthy again and <c>AutoFailback</c> is on.</summary>
    Failback,

    /// <summary>The node is shutting down.</summary>
    Shutdown,

    /// <summary>The node was put in standby.</summary>
    NodeStandby,

    /// <summary>A resource failed beyond what a local restart can fix.</summary>
    ResourceFailure,

    /// <summary>A fatal failure stops the group everywhere.</summary>
    FatalFailure,

    /// <summary>Both nodes ran the group and this node lost the split-brain rule.</summary>
    SplitBrainLost,

    /// <summary>The arbiter's lease ran out or a renewal was refused (self-fencing).</summary>
    LeaseLost,

    /// <summary>An operator asked to retry the stop of a blocked group.</summary>
    Cleanup,

    /// <summary>ipfail: this node lost reachability of ping targets that a peer still reaches; the group moves there.</summary>
    ReachabilityLost,
}

/// <summary>Why a node takes over a group.</summary>
public enum TakeoverReason
{
    /// <summary>Nobody owned the group; this node is the chosen candidate.</summary>
    Initial,

    /// <summary>The owner released the group to this node.</summary>
    Handoff,

    /// <summary>The owner (or every other node) is dead.</summary>
    Failover,
}

/// <summary>The health of a peer on one link.</summary>
/// <param name="Link">Link name.</param>
/// <param name="Health">Detector verdict.</param>
/// <param name="Detail">Detector description (<c>silent 1.52 s</c>).</param>
public sealed record LinkObservation(string Link, PeerHealth Health, string Detail);

/// <summary>A peer's health and its per-link detail.</summary>
/// <param name="Peer">Peer name.</param>
/// <param name="Health">Overall health (the best of its links, or Dead when fenced).</param>
/// <param name="Links">Per-link detail.</param>
/// <param name="Fenced">Whether the peer was fenced (and has not restarted since).</param>
/// <param name="Leaving">Whether the peer announced a graceful shutdown (its silence is expected).</param>
public sealed record PeerObservation(string Peer, PeerHealth Health, IReadOnlyList<LinkObservation> Links, bool Fenced, bool Leaving = false)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{Peer}: {Health}{(Fenced ? " (fenced)" : "")}{(Leaving ? " (leaving)" : "")} [{string.Join(", ", Links.Select(l => $"{l.Link} {l.Health} {l.Detail}"))}]";
}

/// <summary>The inputs that decided a role change, so an operator never has to guess why a failover happened.</summary>
/// <param name="Reason">The decision in words.</param>
/// <param name="Peers">Every peer's health and per-link detector state at the time.</param>
/// <param name="Arbiter">The arbiter's answer, if it was asked.</param>
/// <param name="Fence">The fencing result, if a node was fenced.</param>
/// <param name="HighestEpochSeen">The highest epoch this node knew for the group.</param>
/// <param name="PeerEpochs">The epoch each peer announced for the group.</param>
public sealed record DecisionContext(
    string Reason,
    IReadOnlyList<PeerObservation> Peers,
    ArbiterDecision? Arbiter,
    FenceResult? Fence,
    ulong HighestEpochSeen,
    IReadOnlyDictionary<string, ulong> PeerEpochs)
{
    /// <inheritdoc />
    public override string ToString()
    {
        var parts = new List<string> { Reason };
        if (Peers.Count > 0)
        {
            parts.Add("peers: " + string.Join("; ", Peers));
        }

        if (Arbiter is not null)
        {
            parts.Add($"arbiter: {(Arbiter.Granted ? "granted" : "denied")} ({Arbiter.Explanation})");
        }

        if (Fence is not null)
        {
            parts.Add($"fence: {(Fence.Succeeded ? "ok" : "failed")} ({Fence.Explanation})");
        }

        parts.Add($"highest epoch {HighestEpochSeen}");
        if (PeerEpochs.Count > 0)
        {
            parts.Add("peer epochs: " + string.Join(", ", PeerEpochs.Select(p => $"{p.Key}={p.Value}")));
        }

        return string.Join("; ", parts);
    }
}
