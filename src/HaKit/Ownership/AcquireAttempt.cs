using HaKit.Arbitration;
using HaKit.Fencing;

namespace HaKit.Ownership;

/// <summary>Where a takeover (role <see cref="GroupRole.Acquiring"/>) stands in its pipeline.</summary>
internal enum AcquireStage
{
    /// <summary>No takeover in progress.</summary>
    None,

    /// <summary>Fencing a dead (or blocked) owner; <see cref="AcquireAttempt.FencingNode"/> names it.</summary>
    Fencing,

    /// <summary>Waiting for the arbiter to grant <see cref="AcquireAttempt.Proposed"/>.</summary>
    Arbiter,

    /// <summary>Granted; waiting for the proposed epoch to be persisted before resources start.</summary>
    Persisting,
}

/// <summary>
/// One group's takeover attempt: fence the dead owners → ask the arbiter → persist the proposed epoch, and the pacing of the
/// next attempt after one is abandoned.
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item><see cref="Stage"/> is not <see cref="AcquireStage.None"/> only while the group's role is Acquiring.</item>
/// <item><see cref="PendingRequest"/> is non-zero exactly while <see cref="Stage"/> is Fencing or Arbiter, and is then in the
/// core's request index for this group.</item>
/// <item><see cref="Proposed"/> is above every epoch this node had seen or persisted when the arbiter was asked; the
/// attempt is abandoned once a peer announces an epoch at least as high.</item>
/// <item>An epoch reaches resources only through Persisting: a proposal is never used before it is durable.</item>
/// </list>
/// </remarks>
internal sealed class AcquireAttempt
{
    /// <summary>The pipeline stage.</summary>
    public AcquireStage Stage { get; set; }

    /// <summary>The outstanding fence or arbiter request (0: none).</summary>
    public long PendingRequest { get; set; }

    /// <summary>The epoch this attempt will use (may be raised by the arbiter's own epoch).</summary>
    public ulong Proposed { get; set; }

    /// <summary>Why this node takes the group (kept after the attempt for the role changes that follow).</summary>
    public TakeoverReason Reason { get; set; }

    /// <summary>The peers found dead when the attempt began (told to the arbiter).</summary>
    public List<string> DeadPeers { get; set; } = [];

    /// <summary>Peers still to fence, in order.</summary>
    public Queue<string> FenceQueue { get; set; } = new();

    /// <summary>The peer being fenced while <see cref="Stage"/> is Fencing.</summary>
    public string? FencingNode { get; set; }

    /// <summary>The last fence result of this attempt, quoted in decision contexts.</summary>
    public FenceResult? LastFence { get; set; }

    /// <summary>The arbiter's latest answer about the group (this attempt's, or a renewal that did not grant), quoted in decision contexts.</summary>
    public ArbiterDecision? LastDecision { get; set; }

    /// <summary>When the attempt began (the takeover time reported when the group becomes Active).</summary>
    public TimeSpan StartedAt { get; set; }

    /// <summary>When the arbiter was asked (a granted lease counts from here).</summary>
    public TimeSpan RequestSentAt { get; set; }

    /// <summary>No new attempt before this time (set when an attempt is abandoned; cleared by an operator or a freed arbiter key).</summary>
    public TimeSpan NextAttemptAt { get; set; }

    /// <summary>The last <see cref="TakeoverDelayed"/> reason raised, so that the same reason is raised once.</summary>
    public string? LastDelayReason { get; set; }
}
