using HaKit.Resources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Tests;

/// <summary>Resources declared in configuration (<c>HaKit:Resources</c>): resolution by name, validation by key, value and fix.</summary>
[TestFixture]
public class ConfiguredResourceTests
{
    private static readonly int[] Ports = [7411, 7412];

    private static ServiceProvider Provider(Dictionary<string, string?> config, Action<IHaKitBuilder>? register = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(config).Build());
        var builder = services.AddHaKit();
        register?.Invoke(builder);
        return services.BuildServiceProvider();
    }

    private static IReadOnlyList<string> Failures(Dictionary<string, string?> config, Action<IHaKitBuilder>? register = null)
    {
        using var sp = Provider(config, register);
        var ex = Assert.Throws<OptionsValidationException>(() => _ = sp.GetRequiredService<IOptions<HaKitOptions>>().Value);
        return ex!.Failures.ToList();
    }

    private static Dictionary<string, string?> WithProcess()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Resources:0:Name"] = "worker";
        config["HaKit:Resources:0:Type"] = "Process";
        config["HaKit:Resources:0:FileName"] = "/bin/sleep";
        config["HaKit:Resources:0:Arguments:0"] = "60";
        config["HaKit:Groups:0:Resources:0"] = "worker";
        return config;
    }

    [Test]
    public void A_group_lists_a_Process_entry_and_gets_a_ProcessResource_of_that_name()
    {
        using var sp = Provider(WithProcess());
        var options = sp.GetRequiredService<IOptions<HaKitOptions>>().Value;
        var resolved = sp.GetRequiredService<ResourceCatalog>().Resolve(options);
        Assert.That(resolved.Errors, Is.Empty);
        var resource = resolved.ByGroup["web"].Single();
        Assert.That(resource, Is.InstanceOf<ProcessResource>());
        Assert.That(resource.Name, Is.EqualTo("worker"));
        Assert.That(sp.GetRequiredService<ResourceCatalog>().Resolve(options).ByGroup["web"].Single(), Is.SameAs(resource), "validation and the node share one instance");
    }

    [Test]
    public void Code_registered_and_configured_resources_mix_in_the_listed_order()
    {
        var config = WithProcess();
        config["HaKit:Groups:0:Resources:0"] = "http";
        config["HaKit:Groups:0:Resources:1"] = "worker";
        using var sp = Provider(config, b => b.AddResource("web", _ => new Recorder().Resource("a", "http")));
        var resolved = sp.GetRequiredService<ResourceCatalog>().Resolve(sp.GetRequiredService<IOptions<HaKitOptions>>().Value);
        Assert.That(resolved.Errors, Is.Empty);
        Assert.That(resolved.ByGroup["web"].Select(r => r.Name), Is.EqualTo(new[] { "http", "worker" }));
    }

    [Test]
    public void A_Linux_type_without_UseLinuxResources_names_the_package_and_the_call()
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Resources:0:Name"] = "vip";
        config["HaKit:Resources:0:Type"] = "VirtualIp";
        config["HaKit:Resources:0:Address"] = "10.0.0.100/24";
        config["HaKit:Resources:0:Interface"] = "eth0";
        config["HaKit:Groups:0:Resources:0"] = "vip";
        Assert.That(Failures(config), Is.EqualTo(new[]
        {
            "HaKit:Resources:0:Type = VirtualIp: resource vip (listed in HaKit:Groups:0:Resources:0) needs the HaKit.Linux package; reference it and call .UseLinuxResources() on AddHaKit() (or register an IConfiguredResourceFactory for VirtualIp)",
        }));
    }

    [TestCase("Type", "Vip", "HaKit:Resources:0:Type = 'Vip': expects one of: VirtualIp, Ocf, Lsb, Systemd, Filesystem, Process")]
    [TestCase("Address", "10.0.0.300/24", "HaKit:Resources:0:Address = '10.0.0.300/24': not an IPv4 or IPv6 address before the '/', e.g. 10.0.0.100/24")]
    [TestCase("Address", "10.0.0.100", "HaKit:Resources:0:Address = '10.0.0.100': needs a prefix length: address/prefix, e.g. 10.0.0.100/24 or fd00::100/64")]
    [TestCase("Address", "10.0.0.100/33", "HaKit:Resources:0:Address = '10.0.0.100/33': the prefix length must be 1..32, e.g. 10.0.0.100/24")]
    [TestCase("Interface", "", "HaKit:Resources:0:Interface = (empty): required for this Type: the interface to add the address to, e.g. eth0 (ip -br link lists them)")]
    [TestCase("Broadcast", "x", "HaKit:Resources:0:Broadcast = 'x': an IPv4 address or + (derived from the prefix), e.g. 10.0.0.255")]
    [TestCase("AnnounceCount", "500", "HaKit:Resources:0:AnnounceCount = 500: allowed range is 0..100 announcements (0 sends none)")]
    public void A_bad_VirtualIp_entry_names_key_value_and_fix(string key, string value, string expected)
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Resources:0:Name"] = "vip";
        config["HaKit:Resources:0:Type"] = "VirtualIp";
        config["HaKit:Resources:0:Address"] = "10.0.0.100/24";
        config["HaKit:Resources:0:Interface"] = "eth0";
        config["HaKit:Resources:0:" + key] = value;
        Assert.That(Failures(config, b => b.AddResource("web", _ => new Recorder().Resource("a"))), Has.Some.EqualTo(expected));
    }

    [TestCase("Ocf", "HaKit:Resources:0:Agent = (empty): required for this Type: the agent as ocf:provider:type (ocf:heartbeat:apache), provider/type or an absolute path")]
    [TestCase("Lsb", "HaKit:Resources:0:Script = (empty): required for this Type: the init script: a path (/etc/init.d/apache2) or a name in /etc/init.d or /etc/ha.d/resource.d, optionally with Heartbeat's ::arg form")]
    [TestCase("Systemd", "HaKit:Resources:0:Unit = (empty): required for this Type: the unit name, e.g. nginx.service")]
    [TestCase("Filesystem", "HaKit:Resources:0:Device = (empty): required for this Type: the device (/dev/drbd0, LABEL=data) or the source directory of a bind mount")]
    [TestCase("Process", "HaKit:Resources:0:FileName = (empty): required for this Type: the executable to run in the foreground, e.g. /usr/sbin/nginx")]
    public void Each_type_names_its_required_key(string type, string expected)
    {
        var config = TestHosts.Config("a", Ports, "/tmp/state");
        config["HaKit:Resources:0:Name"] = "r";
        config["HaKit:Resources:0:Type"] = type;
        Assert.That(Failures(config, b => b.AddResource("web", _ => new Recorder().Resource("a"))), Has.Some.EqualTo(expected));
    }

    [Test]
    public void A_missing_type_and_a_duplicate_name_are_reported()
    {
        var config = WithProcess();
        config["HaKit:Resources:1:Name"] = "worker";
        var failures = Failures(config);
        Assert.That(failures, Has.Some.EqualTo("HaKit:Resources:1:Name = 'worker': duplicate resource name; names in Resources must be unique"));
        Assert.That(failures, Has.Some.EqualTo("HaKit:Resources:1:Type = (missing): required: one of VirtualIp, Ocf, Lsb, Systemd, Filesystem, Process"));
    }
}
