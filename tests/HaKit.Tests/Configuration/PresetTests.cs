using System.Globalization;
using System.Text.RegularExpressions;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.Tests.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

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
    public void A_preset_set_in_an_object_initialiser_supplies_the_timings()
    {
        var options = new HaKitOptions { Preset = HaKitPreset.Fast };

        Assert.That(options.Timing.Interval, Is.EqualTo(TimeSpan.FromMilliseconds(15)));
        Assert.That(options.Timing.WarnTime, Is.EqualTo(TimeSpan.FromMilliseconds(40)));
        Assert.That(options.Timing.DeadTime, Is.EqualTo(TimeSpan.FromMilliseconds(75)));
        Assert.That(options.Timing.InitialDeadTime, Is.EqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(options.Timing.EffectiveTickInterval, Is.EqualTo(TimeSpan.FromMilliseconds(5)));
        Assert.That(options.Timing.EffectiveLocalPauseThreshold, Is.EqualTo(TimeSpan.FromMilliseconds(15)));
        Assert.That(TimingOptionsOf(options), Is.EqualTo(HaKitPresets.Fast));
    }

    [Test]
    public void An_explicit_timing_value_wins_over_the_preset_whichever_is_set_first()
    {
        var timingFirst = new HaKitOptions { Timing = new TimingOptions { DeadTime = TimeSpan.FromMilliseconds(120) }, Preset = HaKitPreset.Fast };
        var presetFirst = new HaKitOptions { Preset = HaKitPreset.Fast, Timing = new TimingOptions { DeadTime = TimeSpan.FromMilliseconds(120) } };
        var setLater = new HaKitOptions { Preset = HaKitPreset.Wan };
        setLater.Timing.DeadTime = TimeSpan.FromMilliseconds(120);
        setLater.Preset = HaKitPreset.Fast;

        foreach (var options in new[] { timingFirst, presetFirst, setLater })
        {
            Assert.That(options.Timing.DeadTime, Is.EqualTo(TimeSpan.FromMilliseconds(120)), "explicit");
            Assert.That(options.Timing.Interval, Is.EqualTo(TimeSpan.FromMilliseconds(15)), "from Fast");
            Assert.That(options.Timing.TickInterval, Is.EqualTo(TimeSpan.FromMilliseconds(5)), "from Fast");
        }
    }

    [Test]
    public void An_explicit_null_tick_means_derived_even_when_the_preset_has_one()
    {
        var options = new HaKitOptions { Preset = HaKitPreset.Fast, Timing = new TimingOptions { TickInterval = null, Interval = TimeSpan.FromMilliseconds(40) } };
        Assert.That(options.Timing.EffectiveTickInterval, Is.EqualTo(TimeSpan.FromMilliseconds(10)), "Interval / 4");
        Assert.That(options.Timing.EffectiveLocalPauseThreshold, Is.EqualTo(TimeSpan.FromMilliseconds(15)), "still Fast's");
    }

    [Test]
    public void A_bare_timing_section_holds_the_Lan_preset()
    {
        Assert.That(TimingOptionsOf(new HaKitOptions()), Is.EqualTo(HaKitPresets.Lan));
        var bare = new TimingOptions();
        Assert.That((bare.Interval, bare.WarnTime, bare.DeadTime, bare.InitialDeadTime), Is.EqualTo((HaKitPresets.Lan.Interval, HaKitPresets.Lan.WarnTime, HaKitPresets.Lan.DeadTime, HaKitPresets.Lan.InitialDeadTime)));
    }

    [Test]
    public void Apply_starts_over_from_the_preset_dropping_explicit_values()
    {
        var options = new HaKitOptions { Timing = new TimingOptions { DeadTime = TimeSpan.FromSeconds(2) }, Detector = new DetectorOptions { Kind = DetectorKind.PhiAccrual } };
        HaKitPresets.Apply(options, HaKitPreset.Fast);
        Assert.That(TimingOptionsOf(options), Is.EqualTo(HaKitPresets.Fast));
        Assert.That(options.Detector.Kind, Is.EqualTo(DetectorKind.Fixed));
        Assert.That(HaKitPresets.Create(HaKitPreset.Wan).Timing.DeadTime, Is.EqualTo(HaKitPresets.Wan.DeadTime));
    }

    [Test]
    public void An_undefined_preset_is_a_validation_error_not_a_crash()
    {
        var options = HaKitOptionsValidatorTests.Valid();
        options.Preset = (HaKitPreset)9;
        Assert.That(HaKitOptionsValidator.Validate(options), Is.EqualTo(new[] { "HaKit:Preset = 9: allowed: Lan, Fast, Wan" }));
        Assert.Throws<ArgumentOutOfRangeException>(() => HaKitPresets.Of((HaKitPreset)9));
    }

    [Test]
    public async Task A_node_built_in_code_with_the_Fast_preset_runs_and_logs_Fast_timings()
    {
        var ports = ClusterNodeTests.FreeUdpPorts(2);
        var stateDirectory = Directory.CreateTempSubdirectory("hakit-preset-test-").FullName;
        using var provider = new FakeLoggerProvider();
        using var factory = new LoggerFactory([provider]);
        var options = HaKitOptionsValidatorTests.Valid();
        options.Preset = HaKitPreset.Fast;
        options.WarmUp = false;
        options.StateDirectory = stateDirectory;
        options.Nodes[0].Addresses["lan0"] = $"127.0.0.1:{ports[0]}";
        options.Nodes[1].Addresses["lan0"] = $"127.0.0.1:{ports[1]}";
        var resource = new DelegateResource("http", (_, _) => ValueTask.FromResult(ResourceResult.Success), (_, _) => ValueTask.FromResult(ResourceResult.Success));
        try
        {
            await using var node = new ClusterNode(options, new Dictionary<string, IReadOnlyList<IResource>> { ["web"] = [resource] }, new ClusterNodeServices { LoggerFactory = factory });

            Assert.That(node.Budget.WorstCaseDetection, Is.EqualTo(TimeSpan.FromMilliseconds(75 + 5)), "Fast dead time + Fast tick");
            Assert.That(node.Budget.TolerableLostHeartbeats, Is.EqualTo(4), "75 / 15 = 5 intervals");
            await node.StartAsync(CancellationToken.None);
            Assert.That(provider.Collector.GetSnapshot().Select(r => r.Message), Has.Some.StartsWith("timing (Fast preset, interval 15 ms, dead time 75 ms): worst-case detection 80 ms"));
        }
        finally
        {
            Directory.Delete(stateDirectory, recursive: true);
        }
    }

    [Test]
    public void The_preset_table_in_the_configuration_docs_matches_the_code()
    {
        var doc = File.ReadAllLines(Path.Combine(RepositoryRoot(), "docs", "configuration.md"));
        var rows = doc.Select(l => Regex.Match(l, @"^\| `(?<name>\w+)`( \(default\))? \| (?<interval>[^|]+) \| (?<warn>[^|]+) \| (?<dead>[^|]+) \| (?<init>[^|]+) \| (?<tick>[^|]+) \| [^|]+ \| (?<lost>\d+) \|$"))
            .Where(m => m.Success && Enum.TryParse<HaKitPreset>(m.Groups["name"].Value, out _))
            .ToDictionary(m => Enum.Parse<HaKitPreset>(m.Groups["name"].Value), m => m.Groups);

        Assert.That(rows.Keys, Is.EquivalentTo(Enum.GetValues<HaKitPreset>()), "one row per preset");
        foreach (var (preset, row) in rows)
        {
            var t = new HaKitOptions { Preset = preset }.Timing;
            var lost = TimingBudget.From(new HaKitOptions { Preset = preset }, new Dictionary<string, int>(), fencing: false).TolerableLostHeartbeats;
            Assert.That(
                (Duration(row["interval"].Value), Duration(row["warn"].Value), Duration(row["dead"].Value), Duration(row["init"].Value), Duration(row["tick"].Value), int.Parse(row["lost"].Value, CultureInfo.InvariantCulture)),
                Is.EqualTo((t.Interval, t.WarnTime, t.DeadTime, t.InitialDeadTime, t.EffectiveTickInterval, lost)),
                $"docs/configuration.md row for {preset}");
        }

        static TimeSpan Duration(string cell)
        {
            var m = Regex.Match(cell.Trim(), @"^(?<n>\d+) (?<unit>ms|s)$");
            Assert.That(m.Success, Is.True, $"'{cell}' is not '<n> ms' or '<n> s'");
            var n = int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
            return m.Groups["unit"].Value == "ms" ? TimeSpan.FromMilliseconds(n) : TimeSpan.FromSeconds(n);
        }
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

    private static PresetTimings TimingOptionsOf(HaKitOptions options) =>
        new(options.Timing.Interval, options.Timing.WarnTime, options.Timing.DeadTime, options.Timing.InitialDeadTime, options.Timing.TickInterval, options.Timing.LocalPauseThreshold);

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "docs", "configuration.md")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("docs/configuration.md not found above " + TestContext.CurrentContext.TestDirectory);
    }
}
