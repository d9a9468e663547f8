namespace HaKit.Arbitration;

/// <summary>Why a node asks the arbiter for a group.</summary>
public enum AcquireReason
{
    /// <summary>No node owns the group yet and this node is the chosen candidate (cluster start).</summary>
    Initial = 0,

    /// <summary>The owner released the group to this node (switchover, failback, shutdown).</summary>
    Handoff = 1,

    /// <summary>The owner is dead on every link: a failover.</summary>
    PeerDead = 2,

    /// <summary>This node already owns the group and renews its lease (lease-based arbiters only).</summary>
    Renew = 3,
}

/// <summary>A request for permission to own a group.</summary>
/// <param name="Group">The group.</param>
/// <param name="Node">The asking node.</param>
/// <param name="ProposedEpoch">The epoch this node would use (highest seen + 1), or its current epoch on renewal.</param>
/// <param name="Reason">Why it asks.</param>
/// <param name="DeadPeers">Peers this node considers dead (empty unless <see cref="AcquireReason.PeerDead"/>).</param>
public sealed record ArbiterRequest(string Group, string Node, ulong ProposedEpoch, AcquireReason Reason, IReadOnlyList<string> DeadPeers);

/// <summary>The arbiter's answer.</summary>
/// <param name="Granted">Whether the node may (go on) owning the group.</param>
/// <param name="Explanation">Why, in words an operator understands (for example <c>ping 10.0.0.1:80 reachable</c>).</param>
/// <param name="LeaseDuration">For lease-based arbiters: how long the grant lasts from the moment the request was sent. <see langword="null"/> means the grant does not expire (TwoNode mode).</param>
/// <param name="Epoch">For arbiters that issue fencing tokens (etcd revision): the epoch to use. <see langword="null"/> means use the proposed epoch.</param>
public sealed record ArbiterDecision(bool Granted, string Explanation, TimeSpan? LeaseDuration = null, ulong? Epoch = null)
{
    /// <summary>
    /// Whether the arbiter could not be asked (store or witness unreachable): not a refusal but an unknown answer. An
    /// acquisition waits and asks again; a holder keeps its current lease and serves until that lease can have expired.
    /// </summary>
    public bool Unavailable { get; init; }

    /// <summary>An unknown answer: the arbiter could not be reached (a taker does not take over; an owner serves on until its
    /// lease runs out). The runtime reads an arbiter that throws the same way.</summary>
    /// <param name="explanation">Why.</param>
    public static ArbiterDecision Unreachable(string explanation) => new(false, explanation) { Unavailable = true };

    /// <summary>A grant that does not expire.</summary>
    /// <param name="explanation">Why.</param>
    public static ArbiterDecision Grant(string explanation) => new(true, explanation);

    /// <summary>A refusal: the node must not own the group (a taker does not take over; an owner whose renewal is refused stops
    /// it). Not for an arbiter that could not be asked: that is <see cref="Unreachable"/>, an unknown answer.</summary>
    /// <param name="explanation">Why.</param>
    public static ArbiterDecision Deny(string explanation) => new(false, explanation);
}

/// <summary>
/// Breaks ties when peers cannot see each other (ipfail ping nodes, a witness, an etcd lease).
/// The ownership core asks before every acquisition and, when grants carry a lease, before the lease runs out;
/// the runtime calls the arbiter and feeds the answer back to the core.
/// </summary>
public interface IArbiter
{
    /// <summary>A short name for logs (<c>two-node</c>, <c>witness</c>, <c>etcd</c>).</summary>
    string Name { get; }

    /// <summary>Asks for (or renews) ownership of a group.</summary>
    /// <remarks>
    /// <para>There are three answers, and a failure to ask is not a refusal:</para>
    /// <list type="bullet">
    /// <item>a grant (<see cref="ArbiterDecision.Grant"/>, or a decision with a lease): the node may (go on) owning the group;</item>
    /// <item>a refusal (<see cref="ArbiterDecision.Deny"/>): the arbiter knows the node must not own it; a taker does not take over
    /// (it asks again later) and an owner whose renewal is refused stops the group;</item>
    /// <item>an unknown answer (<see cref="ArbiterDecision.Unreachable"/>): the arbiter could not be asked or did not answer; a taker
    /// does not take over (it asks again), and an owner serves on until its lease runs out.</item>
    /// </list>
    /// <para>Report a store or witness that cannot be reached as <see cref="ArbiterDecision.Unreachable"/>, never as a denial (a
    /// denial would make a healthy owner stop at once). An implementation should not throw; if it does, the runtime treats the
    /// exception as an unknown answer, exactly like <see cref="ArbiterDecision.Unreachable"/>.</para>
    /// </remarks>
    /// <param name="request">What is asked.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The grant, the refusal or the unknown answer.</returns>
    ValueTask<ArbiterDecision> RequestAsync(ArbiterRequest request, CancellationToken cancellationToken);

    /// <summary>Gives up ownership of a group after its resources stopped (lets lease arbiters hand it on at once).</summary>
    /// <param name="group">The group.</param>
    /// <param name="node">The releasing node.</param>
    /// <param name="cancellationToken">Cancels the release.</param>
    ValueTask ReleaseAsync(string group, string node, CancellationToken cancellationToken);
}

/// <summary>A reachability target for TwoNode mode (Heartbeat's <c>ping</c> nodes / ipfail).</summary>
internal interface IReachabilityProbe
{
    /// <summary>Target description for logs (<c>tcp 10.0.0.1:443</c>).</summary>
    string Target { get; }

    /// <summary>Whether the target answers. Must not throw.</summary>
    /// <param name="cancellationToken">Cancels the probe.</param>
    ValueTask<bool> ProbeAsync(CancellationToken cancellationToken);
}

/// <summary>
/// An arbiter that can tell when a group becomes free (etcd: the group's key was deleted), so that a node waiting to take it
/// over asks again at once instead of after <c>Arbiter:RetryInterval</c>. The runtime runs <see cref="WatchAsync"/> for its
/// lifetime and feeds each report to <see cref="Ownership.OwnershipCore.OnArbiterFreed"/>.
/// </summary>
public interface IArbiterWatch
{
    /// <summary>Reports freed groups until cancelled; reconnects by itself.</summary>
    /// <param name="onFreed">Called with the name of each group that became free; must return quickly.</param>
    /// <param name="cancellationToken">Ends the watch.</param>
    /// <returns>Completes when the watch ends.</returns>
    Task WatchAsync(Action<string> onFreed, CancellationToken cancellationToken);
}
