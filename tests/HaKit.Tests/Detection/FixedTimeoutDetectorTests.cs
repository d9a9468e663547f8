using HaKit.Detection;

namespace HaKit.Tests.Detection;

[TestFixture]
public class FixedTimeoutDetectorTests
{
    private static readonly TimeSpan Warn = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Dead = TimeSpan.FromMilliseconds(800);
    private static readonly TimeSpan InitDead = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Created = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    private static FixedTimeoutDetector Create() => new(Warn, Dead, InitDead, Created);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Test]
    public void A_peer_never_heard_is_alive_during_the_initial_dead_time_never_suspect_then_dead_exactly_at_its_end()
    {
        var d = Create();
        for (var t = TimeSpan.Zero; t < InitDead; t += Ms(50))
        {
            Assert.That(d.Evaluate(Created + t), Is.EqualTo(PeerHealth.Alive), $"at +{t}");
        }

        Assert.That(d.Evaluate(Created + InitDead - Tick), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(Created + InitDead), Is.EqualTo(PeerHealth.Dead));
        Assert.That(d.Evaluate(Created + InitDead + Ms(5000)), Is.EqualTo(PeerHealth.Dead));
        Assert.That(d.LastHeartbeat, Is.Null);
    }

    [Test]
    public void A_heartbeat_before_the_initial_dead_time_applies_the_normal_rules()
    {
        var d = Create();
        var hb = Created + Ms(100);
        d.RecordHeartbeat(hb);

        Assert.That(d.LastHeartbeat, Is.EqualTo(hb));
        Assert.That(d.Evaluate(hb + Warn - Tick), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(hb + Warn), Is.EqualTo(PeerHealth.Suspect));
        Assert.That(d.Evaluate(hb + Dead - Tick), Is.EqualTo(PeerHealth.Suspect));
        // Dead long before the initial dead time would have run out: once heard, deadtime rules.
        Assert.That(hb + Dead, Is.LessThan(Created + InitDead));
        Assert.That(d.Evaluate(hb + Dead), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void Exact_boundaries_after_regular_heartbeats()
    {
        var d = Create();
        var t = Created;
        for (var i = 0; i < 20; i++)
        {
            t += Ms(200);
            d.RecordHeartbeat(t);
            Assert.That(d.Evaluate(t), Is.EqualTo(PeerHealth.Alive));
        }

        Assert.That(d.Evaluate(t + Warn - Tick), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(t + Warn), Is.EqualTo(PeerHealth.Suspect));
        Assert.That(d.Evaluate(t + Dead - Tick), Is.EqualTo(PeerHealth.Suspect));
        Assert.That(d.Evaluate(t + Dead), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void New_heartbeat_recovers_from_suspect_and_dead()
    {
        var d = Create();
        d.RecordHeartbeat(Created);
        Assert.That(d.Evaluate(Created + Ms(600)), Is.EqualTo(PeerHealth.Suspect));
        d.RecordHeartbeat(Created + Ms(600));
        Assert.That(d.Evaluate(Created + Ms(600)), Is.EqualTo(PeerHealth.Alive));

        Assert.That(d.Evaluate(Created + Ms(5000)), Is.EqualTo(PeerHealth.Dead));
        d.RecordHeartbeat(Created + Ms(5000));
        Assert.That(d.Evaluate(Created + Ms(5000)), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(Created + Ms(5000) + Dead), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void Local_pause_delays_suspect_and_dead_by_the_pause()
    {
        var d = Create();
        var hb = Created + Ms(100);
        d.RecordHeartbeat(hb);
        var pause = Ms(300);
        d.CompensateLocalPause(pause);

        Assert.That(d.Evaluate(hb + Warn + pause - Tick), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(hb + Warn + pause), Is.EqualTo(PeerHealth.Suspect));
        Assert.That(d.Evaluate(hb + Dead + pause - Tick), Is.EqualTo(PeerHealth.Suspect));
        Assert.That(d.Evaluate(hb + Dead + pause), Is.EqualTo(PeerHealth.Dead));
        Assert.That(d.LastHeartbeat, Is.EqualTo(hb), "the real arrival time is still reported");
    }

    [Test]
    public void A_local_pause_before_the_first_heartbeat_delays_the_initial_dead_time()
    {
        var d = Create();
        d.CompensateLocalPause(Ms(700));
        Assert.That(d.Evaluate(Created + InitDead + Ms(700) - Tick), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(Created + InitDead + Ms(700)), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void Non_positive_pause_is_ignored()
    {
        var d = Create();
        d.RecordHeartbeat(Created);
        d.CompensateLocalPause(Ms(-300));
        d.CompensateLocalPause(TimeSpan.Zero);
        Assert.That(d.Evaluate(Created + Dead), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void Out_of_order_heartbeat_does_not_move_the_last_arrival_back()
    {
        var d = Create();
        d.RecordHeartbeat(Created + Ms(5000));
        d.RecordHeartbeat(Created + Ms(4000));

        Assert.That(d.LastHeartbeat, Is.EqualTo(Created + Ms(5000)));
        Assert.That(d.Evaluate(Created + Ms(5000) + Warn - Tick), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(Created + Ms(5000) + Dead), Is.EqualTo(PeerHealth.Dead));
        // Evaluating at a time before the last arrival is harmless.
        Assert.That(d.Evaluate(Created), Is.EqualTo(PeerHealth.Alive));
    }

    [Test]
    public void Heartbeat_inside_compensated_window_does_not_shorten_the_compensation()
    {
        var d = Create();
        d.RecordHeartbeat(Created);
        d.CompensateLocalPause(Ms(1000)); // reference now at Created + 1 s
        d.RecordHeartbeat(Created + Ms(200)); // arrived during the pause window
        Assert.That(d.LastHeartbeat, Is.EqualTo(Created + Ms(200)));
        Assert.That(d.Evaluate(Created + Ms(1000) + Dead - Tick), Is.Not.EqualTo(PeerHealth.Dead));
        Assert.That(d.Evaluate(Created + Ms(1000) + Dead), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void Describe_reports_silence_or_the_initial_dead_time()
    {
        var d = Create();
        Assert.That(d.Describe(Created + Ms(1200)), Is.EqualTo("never heard (1.20 s of initdead 2.00 s)"));
        d.RecordHeartbeat(Created + Ms(1000));
        Assert.That(d.Describe(Created + Ms(2520)), Is.EqualTo("silent 1.52 s"));
        Assert.That(d.Describe(Created), Is.EqualTo("silent 0.00 s"));
    }

    [Test]
    public void Constructor_rejects_inconsistent_times()
    {
        Assert.That(() => new FixedTimeoutDetector(Ms(900), Ms(800), InitDead, Created), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => new FixedTimeoutDetector(TimeSpan.Zero, Ms(800), InitDead, Created), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => new FixedTimeoutDetector(Warn, TimeSpan.Zero, InitDead, Created), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => new FixedTimeoutDetector(Warn, Dead, Ms(-1), Created), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Record_and_evaluate_do_not_allocate_after_warm_up()
    {
        var d = Create();
        var t = Created;
        long sink = 0;
        for (var i = 0; i < 1000; i++)
        {
            t += Ms(200);
            d.RecordHeartbeat(t);
            sink += (int)d.Evaluate(t + Ms(100));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100_000; i++)
        {
            t += Ms(200);
            d.RecordHeartbeat(t);
            sink += (int)d.Evaluate(t + Ms(i % 1000));
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.Zero);
        Assert.That(sink, Is.GreaterThan(0));
    }
}
