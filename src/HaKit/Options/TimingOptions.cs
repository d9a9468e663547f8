namespace HaKit;

/// <summary>
/// Heartbeat timing, in Heartbeat's terms. Every value not set explicitly comes from the preset of the options holding this
/// instance (<see cref="HaKitOptions.Preset"/>; <see cref="HaKitPresets.Lan"/> for a bare instance), read when it is used: an
/// explicit value always wins, whether the preset was chosen before or after it. An instance follows the preset of the
/// <see cref="HaKitOptions"/> it was last assigned to.
/// </summary>
public sealed class TimingOptions
{
    /// <summary>At least this many intervals fit into the dead time, so that one lost heartbeat is not a failover.</summary>
    public const int MinIntervalsPerDeadTime = 2;

    private TimeSpan? _interval;
    private TimeSpan? _warnTime;
    private TimeSpan? _deadTime;
    private TimeSpan? _initialDeadTime;
    private Optional _tickInterval;
    private Optional _localPauseThreshold;

    /// <summary>Time between heartbeats on each link (<c>keepalive</c>). <value>Default: the preset's (<see cref="PresetTimings.Interval"/>). Must be positive.</value></summary>
    public TimeSpan Interval { get => _interval ?? Defaults.Interval; set => _interval = value; }

    /// <summary>Silence after which a peer is Suspect and a warning is logged (<c>warntime</c>). <value>Default: the preset's (<see cref="PresetTimings.WarnTime"/>). Positive, at most <see cref="DeadTime"/>.</value></summary>
    public TimeSpan WarnTime { get => _warnTime ?? Defaults.WarnTime; set => _warnTime = value; }

    /// <summary>Silence after which a peer is Dead on a link (<c>deadtime</c>). <value>Default: the preset's (<see cref="PresetTimings.DeadTime"/>). At least <see cref="MinIntervalsPerDeadTime"/> × <see cref="Interval"/>.</value></summary>
    public TimeSpan DeadTime { get => _deadTime ?? Defaults.DeadTime; set => _deadTime = value; }

    /// <summary>Dead time used at start-up before a peer was ever heard (<c>initdead</c>); no group is taken over before it passes or every peer was heard. <value>Default: the preset's (<see cref="PresetTimings.InitialDeadTime"/>). At least <see cref="DeadTime"/>.</value></summary>
    public TimeSpan InitialDeadTime { get => _initialDeadTime ?? Defaults.InitialDeadTime; set => _initialDeadTime = value; }

    /// <summary>How often the core is ticked; <see langword="null"/> derives it from <see cref="Interval"/> (see <see cref="EffectiveTickInterval"/>). <value>Default: the preset's (<see cref="PresetTimings.TickInterval"/>). Positive, at most <see cref="Interval"/>.</value></summary>
    public TimeSpan? TickInterval { get => _tickInterval.IsSet ? _tickInterval.Value : Defaults.TickInterval; set => _tickInterval = new Optional(value); }

    /// <summary>A tick arriving this much later than due means the local node was stalled; the stall is not counted against peers. <see langword="null"/> means <see cref="Interval"/>. <value>Default: the preset's (<see cref="PresetTimings.LocalPauseThreshold"/>). Positive.</value></summary>
    public TimeSpan? LocalPauseThreshold { get => _localPauseThreshold.IsSet ? _localPauseThreshold.Value : Defaults.LocalPauseThreshold; set => _localPauseThreshold = new Optional(value); }

    /// <summary>The effective tick interval: <see cref="TickInterval"/>, else <see cref="Interval"/> / 4, at least 1 ms.</summary>
    public TimeSpan EffectiveTickInterval => TickInterval ?? TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, Interval.Ticks / 4));

    /// <summary>The effective local pause threshold: <see cref="LocalPauseThreshold"/>, else <see cref="Interval"/>.</summary>
    public TimeSpan EffectiveLocalPauseThreshold => LocalPauseThreshold ?? Interval;

    /// <summary>
    /// How long a crash hint (a Grpc link saw the peer's connection end without a goodbye and a reconnect refused) waits for an
    /// answer to the probe it sends on the peer's other links before it counts: a live peer answers within a round trip, a dead
    /// one never. <see langword="null"/> derives it from <see cref="Interval"/> (see <see cref="EffectiveCrashHintWindow"/>).
    /// <value>Default <see langword="null"/>. Positive, less than <see cref="DeadTime"/>.</value>
    /// </summary>
    public TimeSpan? CrashHintWindow { get; set; }

    /// <summary>
    /// <see cref="CrashHintWindow"/>, or <see cref="Interval"/> / 20 kept between 2 ms and 250 ms: 10 ms with the Lan preset (a
    /// live peer's probe answer takes well under a millisecond on an idle LAN and a few milliseconds on a busy host), 2 ms Fast,
    /// 50 ms Wan.
    /// </summary>
    public TimeSpan EffectiveCrashHintWindow =>
        CrashHintWindow ?? TimeSpan.FromTicks(Math.Clamp(Interval.Ticks / 20, 2 * TimeSpan.TicksPerMillisecond, 250 * TimeSpan.TicksPerMillisecond));

    /// <summary>The preset supplying the values not set explicitly; kept equal to <see cref="HaKitOptions.Preset"/> by the options holding this instance.</summary>
    internal HaKitPreset Preset { get; set; } = HaKitPreset.Lan;

    /// <summary>The preset's values (Lan for an undefined preset, which validation reports).</summary>
    private PresetTimings Defaults => HaKitPresets.Find(Preset) ?? HaKitPresets.Lan;

    /// <summary>Checks this section's values (keys under <paramref name="path"/>).</summary>
    internal void Validate(OptionsPath path)
    {
        if (Interval <= TimeSpan.Zero)
        {
            path.Error(nameof(Interval), Interval, "must be positive, e.g. 00:00:00.200");
        }

        if (DeadTime < MinIntervalsPerDeadTime * Interval)
        {
            path.Error(nameof(DeadTime), DeadTime, $"must be at least twice Timing:Interval ({Interval}) so that one lost heartbeat is not a failover; raise DeadTime or lower Interval");
        }

        if (WarnTime <= TimeSpan.Zero || WarnTime > DeadTime)
        {
            path.Error(nameof(WarnTime), WarnTime, $"must be positive and at most Timing:DeadTime ({DeadTime})");
        }

        if (InitialDeadTime < DeadTime)
        {
            path.Error(nameof(InitialDeadTime), InitialDeadTime, $"must be at least Timing:DeadTime ({DeadTime}); start-up takes longer than steady state");
        }

        if (TickInterval is { } tick && (tick <= TimeSpan.Zero || tick > Interval))
        {
            path.Error(nameof(TickInterval), tick, $"must be positive and at most Timing:Interval ({Interval})");
        }

        if (LocalPauseThreshold is { } pause && pause <= TimeSpan.Zero)
        {
            path.Error(nameof(LocalPauseThreshold), pause, "must be positive");
        }

        if (CrashHintWindow is { } window && (window <= TimeSpan.Zero || window >= DeadTime))
        {
            path.Error(nameof(CrashHintWindow), window, $"must be positive and less than Timing:DeadTime ({DeadTime}); leave it unset for Interval / 20 (10 ms with the Lan preset)");
        }
    }

    /// <summary>A value that may be set explicitly to <see langword="null"/> (meaning "derived"), unlike one never set.</summary>
    private readonly record struct Optional(TimeSpan? Value)
    {
        public bool IsSet { get; } = true;
    }
}
