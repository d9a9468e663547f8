namespace HaKit.Detection;

/// <summary>
/// Decides from heartbeat arrival times whether a peer is alive on one link. Pure and single-threaded:
/// time is always passed in as the elapsed monotonic time since the node started; implementations never read a clock.
/// </summary>
internal interface IFailureDetector
{
    /// <summary>Records a heartbeat arrival at <paramref name="now"/>.</summary>
    /// <param name="now">Monotonic time since the node started.</param>
    void RecordHeartbeat(TimeSpan now);

    /// <summary>Evaluates the peer's health at <paramref name="now"/>.</summary>
    /// <param name="now">Monotonic time since the node started.</param>
    /// <returns>Alive, Suspect or Dead.</returns>
    PeerHealth Evaluate(TimeSpan now);

    /// <summary>
    /// The earliest time, not before <paramref name="now"/>, at which <see cref="Evaluate"/> may return something other than it
    /// returns at <paramref name="now"/> if no heartbeat arrives first; <see langword="null"/> when only a heartbeat can change it
    /// (the peer is dead). The node's loop sleeps until the earliest such deadline instead of ticking at a fixed rate, so this must
    /// never be later than the real change (earlier is safe: the loop just looks again).
    /// </summary>
    /// <param name="now">Monotonic time since the node started.</param>
    TimeSpan? NextChangeAt(TimeSpan now);

    /// <summary>Arrival time of the last heartbeat, or <see langword="null"/> if none has arrived yet.</summary>
    TimeSpan? LastHeartbeat { get; }

    /// <summary>
    /// Tells the detector that the local node itself was stalled (GC pause, CPU starvation, a suspended VM)
    /// for <paramref name="duration"/>: silence during the stall is not evidence against the peer, so the
    /// detector shifts its notion of the last arrival forward by that much.
    /// </summary>
    /// <param name="duration">How long the local node could not observe arrivals.</param>
    void CompensateLocalPause(TimeSpan duration);

    /// <summary>A short human-readable description of the detector's state at <paramref name="now"/>, for logs and role-change explanations (for example <c>silent 1.52 s</c> or <c>phi 9.3</c>).</summary>
    /// <param name="now">Monotonic time since the node started.</param>
    string Describe(TimeSpan now);
}

/// <summary>Creates one detector per (peer, link).</summary>
internal interface IFailureDetectorFactory
{
    /// <summary>Creates a detector for a peer on a link, at <paramref name="now"/> (the start of the initial dead time).</summary>
    /// <param name="now">Monotonic time since the node started.</param>
    IFailureDetector Create(TimeSpan now);
}
