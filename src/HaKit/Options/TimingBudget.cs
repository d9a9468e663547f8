namespace HaKit;

/// <summary>What a configuration implies for failure detection and takeover, logged at start-up.</summary>
/// <param name="WorstCaseDetection">Longest time from a peer's death until it is declared dead: dead time + one tick.</param>
/// <param name="WorstCaseTakeover">Longest time from a peer's death until its groups run here: detection (in lease modes, the longer of detection and the dead owner's lease, plus one retry interval and one arbiter request, and for etcd its 500 ms expiry scan) + reachability probe (when ping targets are set) + fencing timeout (when fencing is used) + every start timeout of the slowest group.</param>
/// <param name="TolerableLostHeartbeats">How many consecutive heartbeats may be lost on every link before a false failover.</param>
public sealed record TimingBudget(TimeSpan WorstCaseDetection, TimeSpan WorstCaseTakeover, int TolerableLostHeartbeats)
{
    /// <summary>Computes the budget.</summary>
    /// <param name="options">Validated options.</param>
    /// <param name="resourcesPerGroup">Number of resources per group name.</param>
    /// <param name="fencing">Whether fence agents are configured.</param>
    public static TimingBudget From(HaKitOptions options, IReadOnlyDictionary<string, int> resourcesPerGroup, bool fencing)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(resourcesPerGroup);
        var t = options.Timing;
        var detection = t.DeadTime + t.EffectiveTickInterval;
        var slowestStart = options.Groups.Count == 0
            ? TimeSpan.Zero
            : options.Groups.Max(g => g.StartTimeout * Math.Max(1, resourcesPerGroup.TryGetValue(g.Name, out var n) ? n : 1));
        var a = options.Arbiter;
        // Lease modes: the dead owner's lease holds at the arbiter (etcd, or the survivor's own voter and the witness) for up to
        // LeaseTtl after its death; the survivor finds it free at its next attempt.
        var waitForArbiter = a.Mode switch
        {
            ArbiterMode.Etcd => (a.LeaseTtl > detection ? a.LeaseTtl : detection) + TimeSpan.FromMilliseconds(500) + a.RetryInterval + a.Etcd.RequestTimeout,
            ArbiterMode.Witness => (a.LeaseTtl > detection ? a.LeaseTtl : detection) + a.RetryInterval + a.Witness.RequestTimeout,
            _ => detection,
        };
        var takeover = waitForArbiter
            + (options.Arbiter.PingTargets.Count > 0 && a.Mode == ArbiterMode.TwoNode ? options.Arbiter.PingTimeout : TimeSpan.Zero)
            + (fencing ? options.Fencing.Timeout : TimeSpan.Zero)
            + slowestStart;
        var lost = (int)Math.Max(0, Math.Ceiling(t.DeadTime / t.Interval) - 1);
        return new TimingBudget(detection, takeover, lost);
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"worst-case detection {WorstCaseDetection.TotalMilliseconds:0} ms, worst-case takeover {WorstCaseTakeover.TotalMilliseconds:0} ms, " +
        $"{TolerableLostHeartbeats} consecutive heartbeats may be lost on every link before a false failover";
}
