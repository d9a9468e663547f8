namespace HaKit.Tests.Configuration;

[TestFixture]
public class PresetTests
{
    [TestCase(HaKitPreset.Lan)]
    [TestCase(HaKitPreset.Fast)]
    [TestCase(HaKitPreset.Wan)]
    public void Every_preset_passes_validation(HaKitPreset preset)
    {
        var options = HaKitOptionsValidatorTests.Valid();
        HaKitPresets.Apply(options, preset);
        Assert.That(HaKitOptionsValidator.Validate(options), Is.Empty);
        Assert.That(options.Preset, Is.EqualTo(preset));
    }

    [Test]
    public void Presets_order_failover_speed_fast_lan_wan()
    {
        var fast = HaKitPresets.Create(HaKitPreset.Fast).Timing.DeadTime;
        var lan = HaKitPresets.Create(HaKitPreset.Lan).Timing.DeadTime;
        var wan = HaKitPresets.Create(HaKitPreset.Wan).Timing.DeadTime;
        Assert.That(fast, Is.LessThan(lan));
        Assert.That(lan, Is.LessThan(wan));
        Assert.That(HaKitPresets.Create(HaKitPreset.Lan).Timing.DeadTime, Is.EqualTo(new TimingOptions().DeadTime), "Lan is the default");
    }

    [Test]
    public void Timing_budget_follows_the_configuration()
    {
        var options = HaKitOptionsValidatorTests.Valid();
        HaKitPresets.Apply(options, HaKitPreset.Lan);
        options.Groups[0].StartTimeout = TimeSpan.FromSeconds(5);
        var budget = TimingBudget.From(options, new Dictionary<string, int> { ["web"] = 2 }, fencing: false);

        Assert.That(budget.WorstCaseDetection, Is.EqualTo(TimeSpan.FromMilliseconds(850)), "dead 800 ms + tick 50 ms");
        Assert.That(budget.WorstCaseTakeover, Is.EqualTo(TimeSpan.FromMilliseconds(850 + 10_000)), "+ two resources' start timeouts");
        Assert.That(budget.TolerableLostHeartbeats, Is.EqualTo(3), "800 / 200 = 4 intervals: the 4th loss is a failover");

        options.Arbiter.PingTargets.Add("127.0.0.1:80");
        var withFence = TimingBudget.From(options, new Dictionary<string, int> { ["web"] = 2 }, fencing: true);
        Assert.That(withFence.WorstCaseTakeover - budget.WorstCaseTakeover, Is.EqualTo(options.Arbiter.PingTimeout + options.Fencing.Timeout));
        Assert.That(withFence.ToString(), Does.Contain("3 consecutive heartbeats may be lost"));
    }

    [Test]
    public void In_lease_modes_the_takeover_budget_waits_for_the_dead_owners_lease()
    {
        var options = HaKitOptionsValidatorTests.Valid();
        HaKitPresets.Apply(options, HaKitPreset.Lan);
        options.Groups[0].StartTimeout = TimeSpan.FromSeconds(5);
        options.Arbiter.LeaseTtl = TimeSpan.FromSeconds(2);
        options.Arbiter.RetryInterval = TimeSpan.FromMilliseconds(250);

        options.Arbiter.Mode = ArbiterMode.Witness;
        var witness = TimingBudget.From(options, new Dictionary<string, int> { ["web"] = 1 }, fencing: false);
        Assert.That(witness.WorstCaseTakeover, Is.EqualTo(TimeSpan.FromMilliseconds(2000 + 250 + 250 + 5000)), "lease + retry + vote time-out + start");

        options.Arbiter.Mode = ArbiterMode.Etcd;
        var etcd = TimingBudget.From(options, new Dictionary<string, int> { ["web"] = 1 }, fencing: false);
        Assert.That(etcd.WorstCaseTakeover, Is.EqualTo(TimeSpan.FromMilliseconds(2000 + 500 + 250 + 1000 + 5000)), "lease + etcd's expiry scan + retry + request time-out + start");

        options.Arbiter.LeaseTtl = TimeSpan.FromMilliseconds(500); // shorter than detection (850 ms): detection rules
        options.Arbiter.Mode = ArbiterMode.Witness;
        Assert.That(TimingBudget.From(options, new Dictionary<string, int> { ["web"] = 1 }, fencing: false).WorstCaseTakeover, Is.EqualTo(TimeSpan.FromMilliseconds(850 + 250 + 250 + 5000)));
    }
}
