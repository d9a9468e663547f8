namespace HaKit;

/// <summary>Timing presets, after hashicorp/memberlist's LAN/WAN/local configurations: pick one, override what you must.</summary>
public enum HaKitPreset
{
    /// <summary>
    /// The default. Interval 200 ms, warn 500 ms, dead 800 ms, initdead 3 s, fixed-timeout detector.
    /// Failover in about 0.8–1 s after a crash; tolerates 3 consecutive lost heartbeats on every link.
    /// </summary>
    Lan = 0,

    /// <summary>
    /// Sub-second failover on a quiet LAN or one host. Interval 15 ms, warn 40 ms, dead 75 ms, initdead 1 s, tick 5 ms,
    /// local-stall threshold 15 ms. Service back in about 0.1 s after a crash; tolerates 4 lost heartbeats. Needs links
    /// with little jitter, and on a shared machine <see cref="HaKitOptions.RealtimePriority"/> so that a starved process
    /// does not look dead.
    /// </summary>
    Fast = 1,

    /// <summary>
    /// Links across sites with jitter and loss. Interval 1 s, warn 5 s, dead 10 s, initdead 30 s.
    /// Failover in about 10 s; tolerates 9 lost heartbeats.
    /// </summary>
    Wan = 2,
}

/// <summary>Applies <see cref="HaKitPreset"/> values to options.</summary>
public static class HaKitPresets
{
    /// <summary>Overwrites <see cref="HaKitOptions.Timing"/> and <see cref="HaKitOptions.Detector"/> with the preset's values (apply before binding explicit settings).</summary>
    /// <param name="options">The options to change.</param>
    /// <param name="preset">The preset.</param>
    public static void Apply(HaKitOptions options, HaKitPreset preset)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Preset = preset;
        options.Detector = new DetectorOptions();
        options.Timing = preset switch
        {
            HaKitPreset.Fast => new TimingOptions
            {
                Interval = TimeSpan.FromMilliseconds(15),
                WarnTime = TimeSpan.FromMilliseconds(40),
                DeadTime = TimeSpan.FromMilliseconds(75),
                InitialDeadTime = TimeSpan.FromSeconds(1),
                TickInterval = TimeSpan.FromMilliseconds(5),
                LocalPauseThreshold = TimeSpan.FromMilliseconds(15),
            },
            HaKitPreset.Wan => new TimingOptions
            {
                Interval = TimeSpan.FromSeconds(1),
                WarnTime = TimeSpan.FromSeconds(5),
                DeadTime = TimeSpan.FromSeconds(10),
                InitialDeadTime = TimeSpan.FromSeconds(30),
            },
            HaKitPreset.Lan => new TimingOptions(),
            _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "unknown preset; use Lan, Fast or Wan"),
        };
    }

    /// <summary>Creates options with the preset applied.</summary>
    /// <param name="preset">The preset.</param>
    public static HaKitOptions Create(HaKitPreset preset)
    {
        var options = new HaKitOptions();
        Apply(options, preset);
        return options;
    }
}

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
