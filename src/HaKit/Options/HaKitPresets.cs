namespace HaKit;

/// <summary>
/// Timing presets, after hashicorp/memberlist's LAN/WAN/local configurations: pick one with <see cref="HaKitOptions.Preset"/>,
/// override what you must in <see cref="HaKitOptions.Timing"/>. The numbers are in <see cref="HaKitPresets"/> (one place, one
/// comment per number) and in the preset table of docs/configuration.md.
/// </summary>
public enum HaKitPreset
{
    /// <summary>
    /// The default (<see cref="HaKitPresets.Lan"/>), fixed-timeout detector. Failover within about a second after a crash on an
    /// ordinary LAN; a few lost heartbeats in a row on every link are tolerated.
    /// </summary>
    Lan = 0,

    /// <summary>
    /// Sub-second failover on a quiet LAN or one host (<see cref="HaKitPresets.Fast"/>): service back in about 0.1 s after a crash.
    /// Needs links with little jitter, and on a shared machine <see cref="HaKitOptions.RealtimePriority"/> so that a starved
    /// process does not look dead.
    /// </summary>
    Fast = 1,

    /// <summary>Links across sites with jitter and loss (<see cref="HaKitPresets.Wan"/>): failover in about ten seconds, long loss bursts tolerated.</summary>
    Wan = 2,
}

/// <summary>The timing values of one <see cref="HaKitPreset"/> (see <see cref="TimingOptions"/> for what each one means).</summary>
/// <param name="Interval">Time between heartbeats on each link (<see cref="TimingOptions.Interval"/>).</param>
/// <param name="WarnTime">Silence after which a peer is Suspect (<see cref="TimingOptions.WarnTime"/>).</param>
/// <param name="DeadTime">Silence after which a peer is Dead (<see cref="TimingOptions.DeadTime"/>).</param>
/// <param name="InitialDeadTime">Dead time at start-up (<see cref="TimingOptions.InitialDeadTime"/>).</param>
/// <param name="TickInterval">Core tick; <see langword="null"/> derives it from the interval (<see cref="TimingOptions.TickInterval"/>).</param>
/// <param name="LocalPauseThreshold">Local stall threshold; <see langword="null"/> derives it from the interval (<see cref="TimingOptions.LocalPauseThreshold"/>).</param>
public sealed record PresetTimings(
    TimeSpan Interval,
    TimeSpan WarnTime,
    TimeSpan DeadTime,
    TimeSpan InitialDeadTime,
    TimeSpan? TickInterval,
    TimeSpan? LocalPauseThreshold);

/// <summary>
/// The presets' numbers: the only place they are written. <see cref="TimingOptions"/> reads every value that was not set explicitly
/// from the preset of the options holding it, so <c>new HaKitOptions { Preset = HaKitPreset.Fast }</c> runs with Fast timings.
/// </summary>
public static class HaKitPresets
{
    /// <summary>The <see cref="HaKitPreset.Lan"/> timings, also the defaults of a bare <see cref="TimingOptions"/>.</summary>
    public static PresetTimings Lan { get; } = new(
        Interval: Ms(200),                 // keepalive: 5 heartbeats a second per link is negligible load, and 4 fit into the dead time
        WarnTime: Ms(500),                 // 2.5 intervals: a late peer is logged as Suspect well before anything is done about it
        DeadTime: Ms(800),                 // 4 intervals: 3 heartbeats in a row may be lost on every link; failover stays under a second
        InitialDeadTime: TimeSpan.FromSeconds(3), // a peer started at the same moment has time to start, bind and be heard first
        TickInterval: null,                // Interval / 4 = 50 ms: a death is noticed at most a quarter interval late
        LocalPauseThreshold: null);        // Interval: a local stall (GC, VM pause) long enough to miss a heartbeat is not blamed on peers

    /// <summary>The <see cref="HaKitPreset.Fast"/> timings.</summary>
    public static PresetTimings Fast { get; } = new(
        Interval: Ms(15),                  // about 67 heartbeats a second: still tiny on a quiet LAN or loopback, 5 fit into the dead time
        WarnTime: Ms(40),                  // under 3 intervals: a Suspect shows in the log before the peer is declared dead
        DeadTime: Ms(75),                  // 5 intervals: 4 heartbeats in a row may be lost; the service is back in about 0.1 s
        InitialDeadTime: TimeSpan.FromSeconds(1), // a peer started alongside is heard within a second on a quiet machine
        TickInterval: Ms(5),               // a third of the interval: Interval / 4 (3.75 ms) would wake more often for no gain
        LocalPauseThreshold: Ms(15));      // one interval: a stall that misses a heartbeat is ours; at 75 ms dead time it matters

    /// <summary>The <see cref="HaKitPreset.Wan"/> timings.</summary>
    public static PresetTimings Wan { get; } = new(
        Interval: TimeSpan.FromSeconds(1), // across sites, bandwidth and jitter matter more than speed; 10 fit into the dead time
        WarnTime: TimeSpan.FromSeconds(5), // half the dead time: jitter spikes are logged without being acted on
        DeadTime: TimeSpan.FromSeconds(10), // 10 intervals: 9 heartbeats in a row may be lost, riding out loss bursts and route flaps
        InitialDeadTime: TimeSpan.FromSeconds(30), // a remote site's node may take long to come up and become reachable
        TickInterval: null,                // Interval / 4 = 250 ms, small next to a 10 s dead time
        LocalPauseThreshold: null);        // Interval: a one-second local stall is not blamed on peers

    /// <summary>The timings of <paramref name="preset"/>.</summary>
    /// <param name="preset">The preset.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="preset"/> is not a defined preset.</exception>
    public static PresetTimings Of(HaKitPreset preset) =>
        Find(preset) ?? throw new ArgumentOutOfRangeException(nameof(preset), preset, "unknown preset; use Lan, Fast or Wan");

    /// <summary>
    /// Starts <paramref name="options"/> over from <paramref name="preset"/>: sets <see cref="HaKitOptions.Preset"/> and resets
    /// <see cref="HaKitOptions.Timing"/> (dropping explicit values) and <see cref="HaKitOptions.Detector"/> to their defaults.
    /// To keep explicit timings, set <see cref="HaKitOptions.Preset"/> instead.
    /// </summary>
    /// <param name="options">The options to change.</param>
    /// <param name="preset">The preset.</param>
    public static void Apply(HaKitOptions options, HaKitPreset preset)
    {
        ArgumentNullException.ThrowIfNull(options);
        _ = Of(preset);
        options.Preset = preset;
        options.Detector = new DetectorOptions();
        options.Timing = new TimingOptions();
    }

    /// <summary>Creates options with the preset: the same as <c>new HaKitOptions { Preset = preset }</c>.</summary>
    /// <param name="preset">The preset.</param>
    public static HaKitOptions Create(HaKitPreset preset)
    {
        _ = Of(preset);
        return new HaKitOptions { Preset = preset };
    }

    /// <summary>The timings of <paramref name="preset"/>, or <see langword="null"/> when it is not defined.</summary>
    internal static PresetTimings? Find(HaKitPreset preset) => preset switch
    {
        HaKitPreset.Lan => Lan,
        HaKitPreset.Fast => Fast,
        HaKitPreset.Wan => Wan,
        _ => null,
    };

    private static TimeSpan Ms(int milliseconds) => TimeSpan.FromMilliseconds(milliseconds);
}
