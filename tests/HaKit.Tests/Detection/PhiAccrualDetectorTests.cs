using HaKit.Detection;

namespace HaKit.Tests.Detection;

[TestFixture]
public class PhiAccrualDetectorTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan InitDead = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Created = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static PhiAccrualDetector Create(
        double threshold = 8,
        double suspect = 3,
        double minStdMs = 50,
        double acceptablePauseMs = 0,
        int maxSamples = 200,
        double firstEstimateMs = 100) =>
        new(threshold, suspect, Ms(minStdMs), Ms(acceptablePauseMs), maxSamples, Ms(firstEstimateMs), InitDead, Created);

    /// <summary>Akka's logistic approximation, written out independently of the detector.</summary>
    private static double ExpectedPhi(double silenceMs, double meanMs, double stdMs)
    {
        var y = (silenceMs - meanMs) / stdMs;
        var e = Math.Exp(-y * (1.5976 + 0.070566 * y * y));
        return silenceMs > meanMs ? -Math.Log10(e / (1 + e)) : -Math.Log10(1 - 1 / (1 + e));
    }

    /// <summary>Feeds heartbeats at the given intervals after a first one at <see cref="Created"/>; returns the last arrival.</summary>
    private static TimeSpan Feed(PhiAccrualDetector d, IEnumerable<double> intervalsMs)
    {
        var t = Created;
        d.RecordHeartbeat(t);
        foreach (var ms in intervalsMs)
        {
            t += Ms(ms);
            d.RecordHeartbeat(t);
        }

        return t;
    }

    private static TimeSpan FirstDeadAfter(PhiAccrualDetector d, TimeSpan last)
    {
        for (var silence = TimeSpan.Zero; silence < TimeSpan.FromMinutes(1); silence += Ms(1))
        {
            if (d.Evaluate(last + silence) == PeerHealth.Dead)
            {
                return silence;
            }
        }

        throw new AssertionException("never Dead within a minute");
    }

    [Test]
    public void First_heartbeat_bootstraps_history_with_the_estimate()
    {
        var d = Create(firstEstimateMs: 200);
        Assert.That(d.SampleCount, Is.Zero);
        Assert.That(d.Phi(Created + Ms(10_000)), Is.Zero, "phi is 0 before any heartbeat");
        d.RecordHeartbeat(Created);
        Assert.That(d.SampleCount, Is.EqualTo(2));
        Assert.That(d.MeanInterval.TotalMilliseconds, Is.EqualTo(200).Within(1e-9));
        Assert.That(d.StdDeviation.TotalMilliseconds, Is.EqualTo(50).Within(1e-9));
        Assert.That(d.LastHeartbeat, Is.EqualTo(Created));
    }

    [Test]
    public void A_peer_never_heard_follows_the_initial_dead_time_rule()
    {
        var d = Create();
        for (var t = TimeSpan.Zero; t < InitDead; t += Ms(25))
        {
            Assert.That(d.Evaluate(Created + t), Is.EqualTo(PeerHealth.Alive), $"at +{t}");
        }

        Assert.That(d.Evaluate(Created + InitDead - Tick), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(Created + InitDead), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void A_heartbeat_before_the_initial_dead_time_applies_the_phi_rules()
    {
        var d = Create();
        d.RecordHeartbeat(Created + Ms(50));
        Assert.That(d.Evaluate(Created + Ms(100)), Is.EqualTo(PeerHealth.Alive));
        var deadAfter = FirstDeadAfter(d, Created + Ms(50));
        Assert.That(Created + Ms(50) + deadAfter, Is.LessThan(Created + InitDead));
    }

    [Test]
    public void Regular_arrivals_keep_phi_low_then_phi_grows_monotonically_with_silence()
    {
        var d = Create();
        var last = Feed(d, Enumerable.Repeat(100.0, 300));

        Assert.That(d.MeanInterval.TotalMilliseconds, Is.EqualTo(100).Within(1e-6));
        Assert.That(d.Phi(last + Ms(100)), Is.LessThan(1));
        Assert.That(d.Evaluate(last + Ms(100)), Is.EqualTo(PeerHealth.Alive));

        var previous = -1.0;
        for (var silence = 0; silence <= 2000; silence += 10)
        {
            var phi = d.Phi(last + Ms(silence));
            Assert.That(phi, Is.GreaterThanOrEqualTo(previous), $"phi decreased at {silence} ms");
            if (silence > 100)
            {
                Assert.That(phi, Is.GreaterThan(previous), $"phi did not grow at {silence} ms");
            }

            previous = phi;
        }

        Assert.That(d.Evaluate(last + Ms(2000)), Is.EqualTo(PeerHealth.Dead));
        var hour = d.Phi(last + TimeSpan.FromHours(1));
        Assert.That(double.IsFinite(hour), Is.True, "phi stays finite for long silences");
        Assert.That(hour, Is.GreaterThan(d.Phi(last + TimeSpan.FromMinutes(1))));
    }

    [Test]
    public void Jittered_history_tolerates_larger_gaps_than_a_regular_one()
    {
        var random = new Random(12345);
        var jittered = Create(minStdMs: 1);
        var jitteredLast = Feed(jittered, Enumerable.Range(0, 300).Select(_ => 20 + random.NextDouble() * 160).ToArray());
        var regular = Create(minStdMs: 1);
        var regularLast = Feed(regular, Enumerable.Repeat(100.0, 300));

        Assert.That(jittered.MeanInterval.TotalMilliseconds, Is.EqualTo(100).Within(10));
        Assert.That(jittered.StdDeviation.TotalMilliseconds, Is.GreaterThan(30));

        var gap = Ms(300);
        Assert.That(regular.Evaluate(regularLast + gap), Is.EqualTo(PeerHealth.Dead));
        Assert.That(jittered.Evaluate(jitteredLast + gap), Is.Not.EqualTo(PeerHealth.Dead));
        Assert.That(jittered.Phi(jitteredLast + gap), Is.LessThan(regular.Phi(regularLast + gap)));
        Assert.That(FirstDeadAfter(jittered, jitteredLast), Is.GreaterThan(FirstDeadAfter(regular, regularLast) + Ms(100)));
    }

    [Test]
    public void Min_std_deviation_bounds_phi_of_a_perfectly_regular_history()
    {
        var tight = Create(minStdMs: 1);
        var bounded = Create(minStdMs: 50);
        var last1 = Feed(tight, Enumerable.Repeat(100.0, 300));
        var last2 = Feed(bounded, Enumerable.Repeat(100.0, 300));
        Assert.That(bounded.StdDeviation.TotalMilliseconds, Is.EqualTo(0).Within(1e-6), "the raw history has no jitter");

        var silence = 200.0;
        Assert.That(bounded.Phi(last2 + Ms(silence)), Is.EqualTo(ExpectedPhi(silence, 100, 50)).Within(1e-6));
        Assert.That(tight.Phi(last1 + Ms(silence)), Is.GreaterThan(bounded.Phi(last2 + Ms(silence))));
        Assert.That(bounded.Evaluate(last2 + Ms(silence)), Is.Not.EqualTo(PeerHealth.Dead));
        Assert.That(tight.Evaluate(last1 + Ms(silence)), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void Phi_matches_the_Akka_formula_with_bootstrap_history()
    {
        var d = Create(minStdMs: 1, firstEstimateMs: 200);
        d.RecordHeartbeat(Created);
        foreach (var silence in new[] { 0.0, 100, 200, 250, 300, 400, 500 })
        {
            Assert.That(d.Phi(Created + Ms(silence)), Is.EqualTo(ExpectedPhi(silence, 200, 50)).Within(1e-9), $"silence {silence} ms");
        }
    }

    [Test]
    public void Acceptable_pause_delays_dead_by_the_pause()
    {
        var plain = Create();
        var tolerant = Create(acceptablePauseMs: 500);
        var last1 = Feed(plain, Enumerable.Repeat(100.0, 300));
        var last2 = Feed(tolerant, Enumerable.Repeat(100.0, 300));

        var dead1 = FirstDeadAfter(plain, last1);
        var dead2 = FirstDeadAfter(tolerant, last2);
        Assert.That((dead2 - dead1).TotalMilliseconds, Is.EqualTo(500).Within(1));
    }

    [Test]
    public void Thresholds_map_phi_to_suspect_and_dead()
    {
        var d = Create(threshold: 8, suspect: 3);
        var last = Feed(d, Enumerable.Repeat(100.0, 50));
        var seen = new HashSet<PeerHealth>();
        for (var silence = 0; silence <= 1000; silence++)
        {
            var now = last + Ms(silence);
            var phi = d.Phi(now);
            var expected = phi >= 8 ? PeerHealth.Dead : phi >= 3 ? PeerHealth.Suspect : PeerHealth.Alive;
            var health = d.Evaluate(now);
            Assert.That(health, Is.EqualTo(expected), $"silence {silence} ms, phi {phi}");
            seen.Add(health);
        }

        Assert.That(seen, Is.EquivalentTo(new[] { PeerHealth.Alive, PeerHealth.Suspect, PeerHealth.Dead }));
    }

    [Test]
    public void New_heartbeat_recovers_from_dead_without_learning_the_outage()
    {
        var d = Create();
        var last = Feed(d, Enumerable.Repeat(100.0, 100));
        var samples = d.SampleCount;
        var mean = d.MeanInterval;
        var back = last + Ms(10_000);
        Assert.That(d.Evaluate(back), Is.EqualTo(PeerHealth.Dead));

        d.RecordHeartbeat(back);
        Assert.That(d.Evaluate(back), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.SampleCount, Is.EqualTo(samples));
        Assert.That(d.MeanInterval, Is.EqualTo(mean), "the 10 s outage is not part of the history");
    }

    [Test]
    public void Local_pause_delays_dead_by_the_pause()
    {
        var plain = Create();
        var paused = Create();
        var last1 = Feed(plain, Enumerable.Repeat(100.0, 100));
        var last2 = Feed(paused, Enumerable.Repeat(100.0, 100));
        paused.CompensateLocalPause(Ms(400));

        var dead1 = FirstDeadAfter(plain, last1);
        var dead2 = FirstDeadAfter(paused, last2);
        Assert.That((dead2 - dead1).TotalMilliseconds, Is.EqualTo(400).Within(1));
        Assert.That(paused.LastHeartbeat, Is.EqualTo(last2));
    }

    [Test]
    public void Out_of_order_heartbeat_is_ignored()
    {
        var d = Create();
        var last = Feed(d, Enumerable.Repeat(100.0, 100));
        var samples = d.SampleCount;
        var phi = d.Phi(last + Ms(250));

        d.RecordHeartbeat(last - Ms(50));

        Assert.That(d.LastHeartbeat, Is.EqualTo(last));
        Assert.That(d.SampleCount, Is.EqualTo(samples));
        Assert.That(d.Phi(last + Ms(250)), Is.EqualTo(phi));
    }

    [Test]
    public void Ring_buffer_keeps_only_the_last_samples_across_many_wraps()
    {
        var d = Create(maxSamples: 10);
        var random = new Random(7);
        var intervals = Enumerable.Range(0, 1003).Select(_ => 50 + Math.Round(random.NextDouble() * 100, 3)).ToArray();
        Feed(d, intervals);

        var window = intervals[^10..];
        var mean = window.Average();
        var std = Math.Sqrt(window.Select(x => (x - mean) * (x - mean)).Average());
        Assert.That(d.SampleCount, Is.EqualTo(10));
        Assert.That(d.MeanInterval.TotalMilliseconds, Is.EqualTo(mean).Within(1e-3));
        Assert.That(d.StdDeviation.TotalMilliseconds, Is.EqualTo(std).Within(1e-3));
    }

    [Test]
    public void Describe_reports_phi_and_silence()
    {
        var d = Create(minStdMs: 1, firstEstimateMs: 200);
        Assert.That(d.Describe(Created + Ms(500)), Is.EqualTo("never heard (0.50 s of initdead 2.00 s)"));
        d.RecordHeartbeat(Created);
        var expected = ExpectedPhi(200, 200, 50);
        Assert.That(d.Describe(Created + Ms(200)), Is.EqualTo(FormattableString.Invariant($"phi {expected:F2} (silent 0.20 s)")));
    }

    [Test]
    public void Constructor_rejects_bad_parameters()
    {
        Assert.That(() => Create(threshold: 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => Create(threshold: double.NaN), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => Create(threshold: 3, suspect: 4), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => Create(minStdMs: 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => Create(acceptablePauseMs: -1), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => Create(maxSamples: 1), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => Create(firstEstimateMs: 0), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Record_and_evaluate_do_not_allocate_after_warm_up()
    {
        var d = Create(maxSamples: 50);
        var random = new Random(1);
        var t = Created;
        long sink = 0;
        for (var i = 0; i < 1000; i++)
        {
            t += Ms(80 + random.Next(40));
            d.RecordHeartbeat(t);
            sink += (int)d.Evaluate(t + Ms(50));
            sink += (long)d.Phi(t + Ms(150));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100_000; i++)
        {
            t += Ms(80 + (i % 40));
            d.RecordHeartbeat(t);
            sink += (int)d.Evaluate(t + Ms(i % 700));
            sink += (long)d.Phi(t + Ms(150));
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero);
        Assert.That(sink, Is.GreaterThan(0));
    }
}
