using HaKit.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaKit.Linux.Tests;

/// <summary><c>UseLinuxResources()</c>: HaKit:Resources entries of the Linux types become the Linux resources.</summary>
[TestFixture]
public class ConfiguredLinuxResourceTests
{
    private static readonly Dictionary<string, string?> Config = new()
    {
        ["HaKit:ClusterName"] = "linux-test",
        ["HaKit:NodeName"] = "a",
        ["HaKit:Nodes:0:Name"] = "a",
        ["HaKit:Nodes:0:Addresses:lan0"] = "10.0.0.1:7400",
        ["HaKit:Nodes:1:Name"] = "b",
        ["HaKit:Nodes:1:Addresses:lan0"] = "10.0.0.2:7400",
        ["HaKit:Links:0:Name"] = "lan0",
        ["HaKit:Auth:Keys:0:Id"] = "1",
        ["HaKit:Auth:Keys:0:Secret"] = Convert.ToBase64String(new byte[32]),
        ["HaKit:Auth:SendKeyId"] = "1",
        ["HaKit:Resources:0:Name"] = "vip",
        ["HaKit:Resources:0:Type"] = "VirtualIp",
        ["HaKit:Resources:0:Address"] = "10.0.0.100/24",
        ["HaKit:Resources:0:Interface"] = "eth0",
        ["HaKit:Resources:1:Name"] = "data",
        ["HaKit:Resources:1:Type"] = "Filesystem",
        ["HaKit:Resources:1:Device"] = "/dev/drbd0",
        ["HaKit:Resources:1:Directory"] = "/srv",
        ["HaKit:Resources:1:FsType"] = "ext4",
        ["HaKit:Resources:2:Name"] = "apache",
        ["HaKit:Resources:2:Type"] = "Ocf",
        ["HaKit:Resources:2:Agent"] = "ocf:heartbeat:apache",
        ["HaKit:Resources:2:Parameters:configfile"] = "/etc/apache2/apache2.conf",
        ["HaKit:Resources:3:Name"] = "mysql",
        ["HaKit:Resources:3:Type"] = "Lsb",
        ["HaKit:Resources:3:Script"] = "mysql",
        ["HaKit:Resources:4:Name"] = "nginx",
        ["HaKit:Resources:4:Type"] = "Systemd",
        ["HaKit:Resources:4:Unit"] = "nginx.service",
        ["HaKit:Groups:0:Name"] = "web",
        ["HaKit:Groups:0:PreferredNode"] = "a",
        ["HaKit:Groups:0:Resources:0"] = "vip",
        ["HaKit:Groups:0:Resources:1"] = "data",
        ["HaKit:Groups:0:Resources:2"] = "apache",
        ["HaKit:Groups:0:Resources:3"] = "mysql",
        ["HaKit:Groups:0:Resources:4"] = "nginx",
        ["HaKit:StateDirectory"] = "/tmp/hakit-linux-test",
    };

    [Test]
    public async Task Every_Linux_type_is_created_with_its_keys_and_the_peers_addresses()
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(Config).Build());
        services.AddHaKit().UseLinuxResources().UseLinuxResources();
        await using var sp = services.BuildServiceProvider();
        var options = sp.GetRequiredService<IOptions<HaKitOptions>>().Value; // validates, resources included
        Assert.That(sp.GetServices<IConfiguredResourceFactory>().Count(f => f is LinuxResourceFactory), Is.EqualTo(1), "registered once");

        var factory = new LinuxResourceFactory();
        var created = options.Resources.Select(r => factory.Create(r, options, sp)).ToList();
        Assert.That(created.Select(r => r.GetType()), Is.EqualTo(new[] { typeof(VirtualIp), typeof(FilesystemResource), typeof(OcfResource), typeof(LsbResource), typeof(SystemdUnit) }));
        Assert.That(created.Select(r => r.Name), Is.EqualTo(new[] { "vip", "data", "apache", "mysql", "nginx" }));
        Assert.That(((OcfResource)created[2]).AgentPath, Is.EqualTo("/usr/lib/ocf/resource.d/heartbeat/apache"));
        Assert.That(((LsbResource)created[3]).ScriptPath, Is.EqualTo("/etc/init.d/mysql"));
        Assert.That(LinuxResourceFactory.ToVirtualIp(options.Resources[0], options).PeerAddresses, Is.EqualTo(new[] { "10.0.0.2:7400" }), "the other node's addresses, not its own");
        Assert.That(sp.GetRequiredService<ClusterNode>().NodeName, Is.EqualTo("a"), "the node builds with them");
    }
}
