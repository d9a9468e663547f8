using System.Diagnostics.CodeAnalysis;
using HaKit.Detection;

namespace HaKit.Ownership;

/// <summary>One link to a peer and its failure detector.</summary>
/// <param name="name">The link name.</param>
/// <param name="detector">The link's detector.</param>
internal sealed class LinkState(string name, IFailureDetector detector)
{
    /// <summary>The link name.</summary>
    public string Name { get; } = name;

    /// <summary>The link's failure detector.</summary>
    public IFailureDetector Detector { get; } = detector;

    /// <summary>The health last reported for the link.</summary>
    public PeerHealth Health { get; set; } = PeerHealth.Alive;

    /// <summary>
    /// When this link last reported the peer's port closed (an ICMP port unreachable answering a datagram sent to it: the host
    /// is up, nothing listens), or <see langword="null"/>. Evidence for a crash hint seen on another link.
    /// </summary>
    public TimeSpan? PortClosedAt { get; set; }
}

/// <summary>What this node knows of a peer: its health over every link and its latest announcement for each group.</summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item><see cref="Health"/> is the best of the links' health; the peer is dead only when every link is.</item>
/// <item>The announcements (<see cref="TryGetAnnouncement"/>) and <see cref="LastSequence"/> belong to <see cref="Incarnation"/>; a newer incarnation resets them
/// (and <see cref="Fenced"/>). A fenced peer's announcements are dropped until it restarts.</item>
/// <item>An announcement replaces an announcement kept only when its sequence is newer than <see cref="LastSequence"/>
/// and its epochs are not below the ones already heard.</item>
/// </list>
/// </remarks>
internal sealed class PeerState(string name, int priority, LinkState[] links, int groups)
{
    // The peer's latest announcement per local group, by GroupState.Index: read at every tick and heartbeat (no name hashing).
    private readonly GroupAnnouncement?[] _announced = new GroupAnnouncement?[groups];

    /// <summary>The peer's name.</summary>
    public string Name { get; } = name;

    /// <summary>The peer's configured priority.</summary>
    public int Priority { get; } = priority;

    /// <summary>The links to the peer.</summary>
    public LinkState[] Links { get; } = links;

    /// <summary>The peer's overall health (best link).</summary>
    public PeerHealth Health { get; set; } = PeerHealth.Alive;

    /// <summary>Whether anything was heard from the peer since start.</summary>
    public bool Heard { get; set; }

    /// <summary>Whether the peer announced it is shutting down.</summary>
    public bool Leaving { get; set; }

    /// <summary>Whether the peer was fenced (or confirmed down) in its current incarnation.</summary>
    public bool Fenced { get; set; }

    /// <summary>The peer's incarnation (0: not heard yet).</summary>
    public ulong Incarnation { get; set; }

    /// <summary>The newest announcement number acted on in this incarnation (0: none or unnumbered).</summary>
    public ulong LastSequence { get; set; }

    /// <summary>The crash hint of the current incarnation not yet contradicted by a heartbeat (see <see cref="OwnershipCore.PeerProcessGone"/>).</summary>
    public CrashHint? Hint { get; set; }

    /// <summary>ipfail: the reachability score the peer announced last (null: unknown).</summary>
    public ReachabilityScore? Reachability { get; set; }

    /// <summary>The peer's latest announcement of a local group (the peer's view of it); false when it announced none.</summary>
    public bool TryGetAnnouncement(GroupState g, [NotNullWhen(true)] out GroupAnnouncement? announcement)
    {
        announcement = _announced[g.Index];
        return announcement is not null;
    }

    /// <summary>Records the peer's latest announcement of a local group.</summary>
    public void SetAnnouncement(GroupState g, GroupAnnouncement announcement) => _announced[g.Index] = announcement;

    /// <summary>Forgets every announcement (the peer restarted, or was fenced).</summary>
    public void ClearAnnouncements() => Array.Clear(_announced);
}

/// <summary>A transport's evidence that a peer's process is gone: its connection ended without a goodbye and an immediate reconnect was refused.</summary>
/// <param name="At">When the hint came in.</param>
/// <param name="Link">The link that saw it.</param>
/// <param name="Evidence">What the transport saw (for example <c>connection reset on link grpc0, reconnect refused</c>).</param>
internal sealed record CrashHint(TimeSpan At, string Link, string Evidence)
{
    /// <summary>Whether <see cref="PeerCrashHinted"/> with the verdict was raised.</summary>
    public bool Qualified { get; set; }

    /// <summary>When the probe is sent again if nothing answered it yet (see <c>OwnershipCore.ProbeAgain</c>).</summary>
    public TimeSpan NextProbeAt { get; set; }
}
