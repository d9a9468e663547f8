using System.Net;
using HaKit.Transport;

namespace HaKit.Tests.Transport;

[TestFixture]
public sealed class HeartbeatTransportFactoryTests
{
    private static HaKitOptions Options(string local = "b")
    {
        return new HaKitOptions
        {
            NodeName = local,
            MaxPacketSize = 1200,
            Nodes =
            [
                new NodeOptions { Name = "a", Addresses = { ["lan0"] = "10.0.0.1:7401", ["mc0"] = "192.168.1.1" } },
                new NodeOptions { Name = "b", Addresses = { ["lan0"] = "10.0.0.2:7401", ["mc0"] = "192.168.1.2" } },
                new NodeOptions { Name = "c", Addresses = { ["lan0"] = "[fd00::3]:7405", ["mc0"] = "192.168.1.3" } },
            ],
            Links =
            [
                new LinkOptions { Name = "lan0", Kind = LinkKind.Udp },
                new LinkOptions { Name = "mc0", Kind = LinkKind.Multicast, Group = "239.255.42.1", Port = 7402, Ttl = 2 },
            ],
        };
    }

    [Test]
    public void Builds_the_local_nodes_unicast_link_with_every_other_node_as_a_peer()
    {
        HaKitOptions options = Options();
        options.Nodes[2].Addresses["lan0"] = "10.0.0.3:7405";

        IReadOnlyList<IHeartbeatTransport> transports = HeartbeatTransportFactory.Create(options);

        Assert.That(transports, Has.Count.EqualTo(2));
        var udp = (UdpUnicastTransport)transports[0];
        Assert.That(udp.LinkName, Is.EqualTo("lan0"));
        Assert.That(udp.BindEndPoint, Is.EqualTo(IPEndPoint.Parse("10.0.0.2:7401")));
        Assert.That(udp.Peers, Is.EqualTo(new[] { IPEndPoint.Parse("10.0.0.1:7401"), IPEndPoint.Parse("10.0.0.3:7405") }));
        Assert.That(udp.MaxPacketSize, Is.EqualTo(1200));
    }

    [Test]
    public void Builds_the_multicast_link_on_the_local_interface()
    {
        HaKitOptions options = Options();
        options.Nodes[2].Addresses["lan0"] = "10.0.0.3:7405";

        var mc = (UdpMulticastTransport)HeartbeatTransportFactory.Create(options)[1];

        Assert.That(mc.LinkName, Is.EqualTo("mc0"));
        Assert.That(mc.Group, Is.EqualTo(IPAddress.Parse("239.255.42.1")));
        Assert.That(mc.Port, Is.EqualTo(7402));
        Assert.That(mc.LocalInterface, Is.EqualTo(IPAddress.Parse("192.168.1.2")));
        Assert.That(mc.Ttl, Is.EqualTo(2));
        Assert.That(mc.MaxPacketSize, Is.EqualTo(1200));
        Assert.That(mc.Loopback, Is.True);
    }

    [Test]
    public void Mixed_address_families_on_one_unicast_link_are_rejected_with_the_link_named()
    {
        var error = Assert.Throws<ArgumentException>(() => HeartbeatTransportFactory.Create(Options()));

        Assert.That(error!.Message, Does.Contain("lan0").And.Contain("[fd00::3]:7405"));
    }

    [Test]
    public void A_missing_peer_address_names_its_key_and_the_expected_form()
    {
        HaKitOptions options = Options("a");
        options.Nodes[1].Addresses.Remove("lan0");

        var error = Assert.Throws<ArgumentException>(() => HeartbeatTransportFactory.Create(options));

        Assert.That(error!.Message, Does.StartWith("HaKit:Nodes[1]:Addresses:lan0 is missing; expected ip:port, e.g. 127.0.0.1:7401"));
    }

    [TestCase("127.0.0.1")]
    [TestCase("not-an-ip:7401")]
    [TestCase("10.0.0.2:99999")]
    [TestCase("")]
    public void A_malformed_local_address_names_its_key_the_value_and_the_expected_form(string value)
    {
        HaKitOptions options = Options();
        options.Nodes[1].Addresses["lan0"] = value;

        var error = Assert.Throws<ArgumentException>(() => HeartbeatTransportFactory.Create(options));

        Assert.That(error!.Message, Does.StartWith($"HaKit:Nodes[1]:Addresses:lan0 is '{value}'; expected ip:port, e.g. 127.0.0.1:7401"));
    }

    [Test]
    public void A_multicast_interface_that_is_not_an_IPv4_address_names_its_key()
    {
        HaKitOptions options = Options();
        options.Nodes[2].Addresses["lan0"] = "10.0.0.3:7405";
        options.Nodes[1].Addresses["mc0"] = "192.168.1.2:7402";

        var error = Assert.Throws<ArgumentException>(() => HeartbeatTransportFactory.Create(options));

        Assert.That(error!.Message, Does.StartWith("HaKit:Nodes[1]:Addresses:mc0 is '192.168.1.2:7402'; expected the IPv4 address of the local interface"));
    }

    [TestCase(null, "HaKit:Links[1]:Group is missing; expected an IPv4 multicast address")]
    [TestCase("10.1.2.3", "HaKit:Links[1]:Group is '10.1.2.3'; expected an IPv4 multicast address")]
    public void A_bad_multicast_group_names_its_key(string? group, string expected)
    {
        HaKitOptions options = Options();
        options.Nodes[2].Addresses["lan0"] = "10.0.0.3:7405";
        options.Links[1].Group = group;

        var error = Assert.Throws<ArgumentException>(() => HeartbeatTransportFactory.Create(options));

        Assert.That(error!.Message, Does.StartWith(expected));
    }

    [Test]
    public void A_bad_multicast_port_and_an_unknown_node_name_name_their_keys()
    {
        HaKitOptions options = Options();
        options.Nodes[2].Addresses["lan0"] = "10.0.0.3:7405";
        options.Links[1].Port = 0;
        Assert.That(Assert.Throws<ArgumentException>(() => HeartbeatTransportFactory.Create(options))!.Message, Does.StartWith("HaKit:Links[1]:Port is '0'; expected a UDP port"));

        options.Links[1].Port = 7402;
        options.NodeName = "zz";
        Assert.That(Assert.Throws<ArgumentException>(() => HeartbeatTransportFactory.Create(options))!.Message, Does.StartWith("HaKit:NodeName is 'zz'; expected the name of one of HaKit:Nodes"));
    }

    [Test]
    public async Task Transports_built_for_two_nodes_talk_to_each_other()
    {
        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        HaKitOptions For(string node) => new()
        {
            NodeName = node,
            Nodes =
            [
                new NodeOptions { Name = "a", Addresses = { ["lan0"] = $"127.0.0.1:{pa}" } },
                new NodeOptions { Name = "b", Addresses = { ["lan0"] = $"127.0.0.1:{pb}" } },
            ],
            Links = [new LinkOptions { Name = "lan0" }],
        };
        IHeartbeatTransport a = HeartbeatTransportFactory.Create(For("a")).Single();
        IHeartbeatTransport b = HeartbeatTransportFactory.Create(For("b")).Single();
        var rb = new RecordingReceiver();
        try
        {
            await a.StartAsync(new RecordingReceiver(), CancellationToken.None);
            await b.StartAsync(rb, CancellationToken.None);
            byte[] packet = Payloads.Make('A', 1);

            await a.SendAsync(packet, CancellationToken.None);

            await rb.WaitForAsync(packet);
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }
}
