using HaKit.Resources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Tests;

/// <summary>Binding <see cref="HaKitOptions"/> from configuration and validating it (values, keys, resources).</summary>
[TestFixture]
public class ConfigurationTests
{
    private static readonly int[] Ports = [7401, 7402];

    private static ServiceProvider Provider(Dictionary<string, string?> config, Action<IHaKitBuilder>? register = null, string? section = null, IConfiguration? configuration = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton(configuration ?? new ConfigurationBuilder().AddInMemoryCollection(config).Build());
        var builder = section is null ? services.AddHaKit() : services.AddHaKit(section);
        (register ?? (b => b.AddResource("web", _ => new Recorder().Resource("a"))))(builder);
        return services.BuildServiceProvider();
    }

    private static HaKitOptions Bound(Dictionary<string, string?> config, Action<IHaKitBuilder>? register = null)
    {
        using var sp = Provider(config, register);
        return sp.GetRequiredService<IOptions<HaKitOptions>>().Value;
    }

    private static IReadOnlyList<string> Failures(Dictionary<string, string?> config, Action<IHaKitBuilder>? register = null)
    {
        using var sp = Provider(config, register);
        var ex = Assert.Throws<OptionsValidationException>(() => _ = sp.GetRequiredService<IOptions<HaKitOptions>>().Value);
        return ex!.Failures.ToList();
    }

    [Test]
    public void Binds_durations_lists_and_dictionaries_from_configuration()
    {
        var config = TestHosts.Config("b", Ports, "/tmp/state");
        config["HaKit:Groups:0:Resources:0"] = "http";
        config["HaKit:Arbiter:PingTargets:0"] = "10.0.0.1:80";
        config["HaKit:Arbiter:PingTargets:1"] = "gateway:443";
        config["HaKit:Arbiter:PingTargets:2"] = "icmp:10.0.0.254";
        config["HaKit:Arbiter:Ipfail:Enabled"] = "true";
        config["HaKit:Arbiter:Ipfail:Interval"] = "00:00:03";
        config["HaKit:Arbiter:Ipfail:Rounds"] = "4";
        config["HaKit:Nodes:1:Priority"] = "150";
        config["HaKit:Links:1:Name"] = "lan1";
        config["HaKit:Nodes:0:Addresses:lan1"] = "127.0.0.1:7411";
        config["HaKit:Nodes:1:Addresses:lan1"] = "127.0.0.1:7412";

        var o = Bound(config);

        Assert.That(o.NodeName, Is.EqualTo("b"));
        Assert.That(o.Timing.Interval, Is.EqualTo(TimeSpan.FromMilliseconds(50)));
        Assert.That(o.Timing.DeadTime, Is.EqualTo(TimeSpan.FromMilliseconds(300)));
        Assert.That(o.Groups[0].StopTimeout, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That(o.Nodes.Select(n => n.Name), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(o.Nodes[1].Priority, Is.EqualTo(150));
        Assert.That(o.Nodes[1].Addresses, Is.EquivalentTo(new Dictionary<string, string> { ["lan0"] = "127.0.0.1:7402", ["lan1"] = "127.0.0.1:7412" }));
        Assert.That(o.Links.Select(l => l.Name), Is.EqualTo(new[] { "lan0", "lan1" }));
        Assert.That(o.Arbiter.PingTargets, Is.EqualTo(new[] { "10.0.0.1:80", "gateway:443", "icmp:10.0.0.254" }));
        Assert.That((o.Arbiter.Ipfail.Enabled, o.Arbiter.Ipfail.Interval, o.Arbiter.Ipfail.Rounds), Is.EqualTo((true, TimeSpan.FromSeconds(3), 4)));
        Assert.That(o.Groups[0].Resources, Is.EqualTo(new[] { "http" }));
        Assert.That(o.Auth.Keys.Single().Secret, Is.EqualTo(TestHosts.Secret));
    }

    [Test]
    public void The_preset_is_applied_first_and_explicit_values_override_it()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        foreach (var key in config.Keys.Where(k => k.StartsWith("HaKit:Timing:", StringComparison.Ordinal)).ToList())
        {
            config.Remove(key);
        }

        config["HaKit:Preset"] = "fast";
        config["HaKit:Timing:DeadTime"] = "00:00:00.250";

        var o = Bound(config);

        Assert.That(o.Preset, Is.EqualTo(HaKitPreset.Fast));
        Assert.That(o.Timing.Interval, Is.EqualTo(TimeSpan.FromMilliseconds(15)), "from the Fast preset");
        Assert.That(o.Timing.TickInterval, Is.EqualTo(TimeSpan.FromMilliseconds(5)), "from the Fast preset");
        Assert.That(o.Timing.InitialDeadTime, Is.EqualTo(TimeSpan.FromSeconds(1)), "from the Fast preset");
        Assert.That(o.Timing.DeadTime, Is.EqualTo(TimeSpan.FromMilliseconds(250)), "the explicit value wins");
    }

    [Test]
    public void Without_a_preset_key_the_Lan_defaults_stay()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        foreach (var key in config.Keys.Where(k => k.StartsWith("HaKit:Timing:", StringComparison.Ordinal)).ToList())
        {
            config.Remove(key);
        }

        var o = Bound(config);
        Assert.That(o.Preset, Is.EqualTo(HaKitPreset.Lan));
        Assert.That(o.Timing.Interval, Is.EqualTo(TimeSpan.FromMilliseconds(200)));
    }

    [Test]
    public void A_preset_key_alone_gives_the_presets_timings()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        foreach (var key in config.Keys.Where(k => k.StartsWith("HaKit:Timing:", StringComparison.Ordinal)).ToList())
        {
            config.Remove(key);
        }

        config["HaKit:Preset"] = "Wan";
        var o = Bound(config);
        Assert.That((o.Timing.Interval, o.Timing.WarnTime, o.Timing.DeadTime, o.Timing.InitialDeadTime), Is.EqualTo((HaKitPresets.Wan.Interval, HaKitPresets.Wan.WarnTime, HaKitPresets.Wan.DeadTime, HaKitPresets.Wan.InitialDeadTime)));
    }

    [Test]
    public void A_preset_chosen_in_Configure_keeps_the_timing_keys_of_the_configuration()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        var o = Bound(config, b => b
            .AddResource("web", _ => new Recorder().Resource("a"))
            .Configure(x => x.Preset = HaKitPreset.Fast));
        Assert.That(o.Preset, Is.EqualTo(HaKitPreset.Fast));
        Assert.That(o.Timing.Interval, Is.EqualTo(TimeSpan.FromMilliseconds(50)), "the configuration's explicit value");
        Assert.That(o.Timing.LocalPauseThreshold, Is.EqualTo(HaKitPresets.Fast.LocalPauseThreshold), "not in the configuration: from Fast");
    }

    [Test]
    public void Environment_variables_and_command_line_bind_through_the_configuration()
    {
        var variable = $"HAKITTEST{Environment.ProcessId}_HaKit__Groups__0__AutoFailback";
        Environment.SetEnvironmentVariable(variable, "true");
        try
        {
            var configuration = new ConfigurationBuilder()
                .AddInMemoryCollection(TestHosts.Config("a", Ports, "/tmp/state"))
                .AddEnvironmentVariables($"HAKITTEST{Environment.ProcessId}_")
                .AddCommandLine(["--HaKit:NodeName=b", "--HaKit:Timing:WarnTime", "00:00:00.200"])
                .Build();
            using var sp = Provider([], configuration: configuration);
            var o = sp.GetRequiredService<IOptions<HaKitOptions>>().Value;
            Assert.That(o.Groups[0].AutoFailback, Is.True);
            Assert.That(o.NodeName, Is.EqualTo("b"));
            Assert.That(o.Timing.WarnTime, Is.EqualTo(TimeSpan.FromMilliseconds(200)));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Test]
    public void Configure_on_the_builder_runs_after_binding()
    {
        var o = Bound(TestHosts.Config("a", Ports, "/tmp/state"), b => b
            .AddResource("web", _ => new Recorder().Resource("a"))
            .Configure(x => x.Timing.DeadTime = TimeSpan.FromMilliseconds(500)));
        Assert.That(o.Timing.DeadTime, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
        Assert.That(o.Timing.Interval, Is.EqualTo(TimeSpan.FromMilliseconds(50)), "bound values not touched by Configure stay");
    }

    [Test]
    public void Another_section_name_is_bound_and_named_in_errors()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state").ToDictionary(kv => kv.Key.Replace("HaKit:", "Cluster:", StringComparison.Ordinal), kv => kv.Value);
        config["Cluster:Timing:DeadTime"] = "00:00:00.060";
        using var sp = Provider(config, section: "Cluster");
        var ex = Assert.Throws<OptionsValidationException>(() => _ = sp.GetRequiredService<IOptions<HaKitOptions>>().Value);
        Assert.That(ex!.Failures, Has.Some.StartsWith("Cluster:Timing:DeadTime = 00:00:00.0600000: must be at least twice Timing:Interval"));
    }

    [Test]
    public void A_value_that_does_not_convert_names_its_key_and_the_rest_still_binds()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Groups:0:StopTimeout"] = "eight hundred";
        var failures = Failures(config);
        Assert.That(failures, Is.EqualTo(new[]
        {
            "HaKit:Groups:0:StopTimeout = 'eight hundred': expects a duration [d.]hh:mm:ss[.fffffff], e.g. 00:00:00.800 for 800 ms or 00:00:05 for 5 s",
        }), "the other keys bound, so no other check fails");
    }

    [TestCase("HaKit:Preset", "Slow", "HaKit:Preset = 'Slow': expects one of: Lan, Fast, Wan")]
    [TestCase("HaKit:Nodes:0:Priority", "high", "HaKit:Nodes:0:Priority = 'high': expects a whole number")]
    [TestCase("HaKit:Groups:0:AutoFailback", "yes", "HaKit:Groups:0:AutoFailback = 'yes': expects true or false")]
    [TestCase("HaKit:Links:0:Kind", "Tcp", "HaKit:Links:0:Kind = 'Tcp': expects one of: Udp, Multicast, Grpc")]
    [TestCase("HaKit:Auth:SendKeyId", "-1", "HaKit:Auth:SendKeyId = '-1': expects a whole number, 0 or more")]
    [TestCase("HaKit:Watchdog:Mode", "On", "HaKit:Watchdog:Mode = 'On': expects one of: Off, Automatic, Required")]
    public void Bad_scalar_values_are_reported_with_key_value_and_what_is_allowed(string key, string value, string expected)
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config[key] = value;
        Assert.That(Failures(config), Has.Some.EqualTo(expected));
    }

    [Test]
    public void An_unknown_key_is_an_error_listing_the_known_ones()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Timing:DeadTme"] = "00:00:01";
        Assert.That(Failures(config), Is.EqualTo(new[]
        {
            "HaKit:Timing:DeadTme = '00:00:01': unknown setting; known settings in HaKit:Timing: Interval, WarnTime, DeadTime, InitialDeadTime, TickInterval, LocalPauseThreshold, CrashHintWindow",
        }));
    }

    [Test]
    public void Core_validation_errors_are_reported()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Groups:0:PreferredNode"] = "c";
        config["HaKit:Auth:Keys:0:Secret"] = Convert.ToBase64String(new byte[16]);
        var failures = Failures(config);
        Assert.That(failures, Has.Some.StartsWith("HaKit:Groups:0:PreferredNode = 'c': not in HaKit:Nodes"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Auth:Keys:0:Secret = (16 bytes, not shown): must decode to at least 32 bytes"));
    }

    [Test]
    public void A_group_without_a_registered_resource_fails()
    {
        var failures = Failures(TestHosts.Config("a", Ports, "/tmp/state"), _ => { });
        Assert.That(failures, Is.EqualTo(new[] { "HaKit:Groups:0:Resources = (none): group web has no resources; register one with AddResource<T>(\"web\") or by listing a resource of HaKit:Resources" }));
    }

    [Test]
    public void A_listed_resource_name_that_is_not_registered_fails()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Groups:0:Resources:0"] = "http";
        config["HaKit:Groups:0:Resources:1"] = "db";
        var failures = Failures(config, b => b.AddResource("web", _ => new Recorder().Resource("a", "http")));
        Assert.That(failures, Is.EqualTo(new[]
        {
            "HaKit:Groups:0:Resources:1 = 'db': no resource named db is registered for group web (registered: http) nor declared in HaKit:Resources; register it with AddResource<T>(\"web\"), declare it in HaKit:Resources or correct the name",
        }));
    }

    [Test]
    public void A_registered_resource_missing_from_the_list_fails()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Groups:0:Resources:0"] = "http";
        var failures = Failures(config, b => b
            .AddResource("web", _ => new Recorder().Resource("a", "http"))
            .AddResource("web", _ => new Recorder().Resource("a", "cache")));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Groups:0:Resources = 'http': resource cache is registered for group web but not listed"));
    }

    [Test]
    public void Resources_registered_for_a_group_that_is_not_configured_fail()
    {
        var failures = Failures(TestHosts.Config("a", Ports, "/tmp/state"), b => b
            .AddResource("web", _ => new Recorder().Resource("a"))
            .AddResource("db", _ => new Recorder().Resource("a", "postgres")));
        Assert.That(failures, Is.EqualTo(new[]
        {
            "HaKit:Groups = 'web': resources are registered for group db (AddResource(\"db\")), which is not configured; add a group named db to HaKit:Groups or remove the registration",
        }));
    }

    [Test]
    public void Two_resources_with_one_name_in_a_group_fail()
    {
        var failures = Failures(TestHosts.Config("a", Ports, "/tmp/state"), b => b
            .AddResource("web", _ => new Recorder().Resource("a", "http"))
            .AddResource("web", _ => new Recorder().Resource("a", "http")));
        Assert.That(failures, Has.Some.Contains("2 resources registered for group web are named http"));
    }

    [Test]
    public void A_resource_that_cannot_be_created_fails_with_the_reason()
    {
        var failures = Failures(TestHosts.Config("a", Ports, "/tmp/state"), b => b.AddResource<NeedsMissingService>("web"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Groups:0:Resources = (NeedsMissingService): a resource registered for group web could not be created: InvalidOperationException"));
    }

    [Test]
    public void Code_only_configuration_is_validated_too()
    {
        var services = new ServiceCollection();
        services.AddHaKit(o => o.NodeName = "a").AddResource("web", _ => new Recorder().Resource("a"));
        using var sp = services.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => _ = sp.GetRequiredService<IOptions<HaKitOptions>>().Value);
        Assert.That(ex!.Failures, Has.Some.StartsWith("HaKit:Nodes = 0 node(s): list at least two nodes"));
        Assert.That(ex.Failures, Has.Some.StartsWith("HaKit:Groups = '': resources are registered for group web"));
    }

    [Test]
    public void AddResource_of_T_resolves_constructor_dependencies_from_DI()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(TestHosts.Config("a", Ports, Path.GetTempPath())).Build());
        services.AddSingleton(new Dependency("from-di"));
        services.AddHaKit().AddResource<WithDependency>("web");
        using var sp = services.BuildServiceProvider();
        var catalog = sp.GetRequiredService<ResourceCatalog>();
        var resolved = catalog.Resolve(sp.GetRequiredService<IOptions<HaKitOptions>>().Value);
        Assert.That(resolved.Errors, Is.Empty);
        Assert.That(resolved.ByGroup["web"].Single().Name, Is.EqualTo("from-di"));
    }

    [Test]
    public void AddHaKit_twice_is_refused()
    {
        var services = new ServiceCollection();
        services.AddHaKit();
        var ex = Assert.Throws<InvalidOperationException>(() => services.AddHaKit());
        Assert.That(ex!.Message, Does.Contain("AddHaKit was called twice"));
    }

    internal sealed record Dependency(string Value);

    private sealed class WithDependency(Dependency dependency) : IResource
    {
        public string Name => dependency.Value;

        public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(ResourceResult.Success);

        public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(ResourceResult.Success);

        public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(MonitorResult.Running);
    }

    private sealed class NeedsMissingService(Dependency dependency) : IResource
    {
        public string Name => dependency.Value;

        public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(ResourceResult.Success);

        public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(ResourceResult.Success);

        public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(MonitorResult.Running);
    }
}
