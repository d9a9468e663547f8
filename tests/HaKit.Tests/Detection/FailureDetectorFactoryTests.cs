using HaKit.Detection;

namespace HaKit.Tests.Detection;

[TestFixture]
public class FailureDetectorFactoryTests
{
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Test]
    public void Fixed_creates_a_fixed_detector_with_the_configured_times()
    {
        var timing = new TimingOptions { WarnTime = Ms(300), DeadTime = Ms(600), InitialDeadTime = Ms(1500) };
        var factory = new FailureDetectorFactory(timing, new DetectorOptions { Kind = DetectorKind.Fixed });
        var created = TimeSpan.FromSeconds(42);

        var d = factory.Create(created);

        Assert.That(d, Is.TypeOf<FixedTimeoutDetector>());
        Assert.That(d.Evaluate(created + Ms(1500) - TimeSpan.FromTicks(1)), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(created + Ms(1500)), Is.EqualTo(PeerHealth.Dead));
        d.RecordHeartbeat(created + Ms(2000));
        Assert.That(d.Evaluate(created + Ms(2300)), Is.EqualTo(PeerHealth.Suspect));
        Assert.That(d.Evaluate(created + Ms(2600)), Is.EqualTo(PeerHealth.Dead));
    }

    [Test]
    public void PhiAccrual_creates_a_phi_detector_bootstrapped_with_the_interval()
    {
        var options = new HaKitOptions();
        options.Timing.Interval = Ms(250);
        options.Timing.InitialDeadTime = Ms(3000);
        options.Detector.Kind = DetectorKind.PhiAccrual;
        options.Detector.PhiThreshold = 10;
        options.Detector.PhiSuspectThreshold = 2;

        var factory = FailureDetectorFactory.FromOptions(options);
        var d = factory.Create(TimeSpan.FromSeconds(1));

        var phi = (PhiAccrualDetector)d;
        Assert.That(phi.Threshold, Is.EqualTo(10));
        Assert.That(phi.SuspectThreshold, Is.EqualTo(2));
        Assert.That(d.Evaluate(TimeSpan.FromSeconds(4) - TimeSpan.FromTicks(1)), Is.EqualTo(PeerHealth.Alive));
        Assert.That(d.Evaluate(TimeSpan.FromSeconds(4)), Is.EqualTo(PeerHealth.Dead));
        d.RecordHeartbeat(TimeSpan.FromSeconds(5));
        Assert.That(phi.MeanInterval, Is.EqualTo(Ms(250)));
    }

    [Test]
    public void Settings_are_copied_later_changes_do_not_leak_in()
    {
        var timing = new TimingOptions { WarnTime = Ms(300), DeadTime = Ms(600) };
        var detector = new DetectorOptions { Kind = DetectorKind.Fixed };
        var factory = new FailureDetectorFactory(timing, detector);
        detector.Kind = DetectorKind.PhiAccrual;
        timing.DeadTime = Ms(10_000);

        var d = factory.Create(TimeSpan.Zero);
        Assert.That(d, Is.TypeOf<FixedTimeoutDetector>());
        Assert.That(((FixedTimeoutDetector)d).DeadTime, Is.EqualTo(Ms(600)));
    }

    [Test]
    public void Invalid_settings_fail_at_construction()
    {
        Assert.That(
            () => new FailureDetectorFactory(new TimingOptions { WarnTime = Ms(900), DeadTime = Ms(800) }, new DetectorOptions()),
            Throws.ArgumentException.With.Message.Contains("Fixed"));
        Assert.That(
            () => new FailureDetectorFactory(new TimingOptions(), new DetectorOptions { Kind = DetectorKind.PhiAccrual, MaxSamples = 1 }),
            Throws.ArgumentException.With.Message.Contains("PhiAccrual"));
        Assert.That(
            () => new FailureDetectorFactory(new TimingOptions(), new DetectorOptions { Kind = (DetectorKind)99 }),
            Throws.ArgumentException);
    }
}
