using System.Net;
using HaKit.Transport;

namespace HaKit.Tests.Transport;

/// <summary>
/// Multicast between two network namespaces joined by a veth pair: A lives in one namespace, B in the other, and
/// both join 239.255.42.1 on their end of the link. Needs root and iproute2; ignored otherwise.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class UdpMulticastConformanceTests : TransportConformanceTests
{
    private static readonly IPAddress Group = IPAddress.Parse("239.255.42.1");
    private readonly Dictionary<IHeartbeatTransport, string> _namespaces = [];
    private VethPair? _net;
    private int _port = 17400;

    protected override int MaxPacketSize => 1400;

    protected override bool ExactDelivery => false;

    [OneTimeSetUp]
    public void CreateNamespaces()
    {
        NetNs.IgnoreIfUnavailable();
        _net = VethPair.Create("hakit-mc");
    }

    [OneTimeTearDown]
    public void RemoveNamespaces()
    {
        VethPair? net = _net;
        _net = null;
        net?.Dispose();
        if (net is not null)
        {
            Assert.That(NetNs.Exists(net.NamespaceA) || NetNs.Exists(net.NamespaceB), Is.False, "namespaces removed");
        }
    }

    protected override (IHeartbeatTransport A, IHeartbeatTransport B) CreatePair()
    {
        VethPair net = _net!;
        int port = Interlocked.Increment(ref _port);
        var a = new UdpMulticastTransport("mc0", Group, port, net.AddressA, ttl: 1, MaxPacketSize, loopback: false);
        var b = new UdpMulticastTransport("mc0", Group, port, net.AddressB, ttl: 1, MaxPacketSize, loopback: false);
        _namespaces[a] = net.NamespaceA;
        _namespaces[b] = net.NamespaceB;
        return (a, b);
    }

    protected override ValueTask StartTransportAsync(IHeartbeatTransport transport, IPacketReceiver receiver, CancellationToken cancellationToken)
    {
        NetNs.RunIn(_namespaces[transport], () => transport.StartAsync(receiver, cancellationToken).AsTask().GetAwaiter().GetResult());
        return ValueTask.CompletedTask;
    }

    [Test]
    public async Task Two_nodes_on_one_host_share_the_port_and_both_hear_the_group()
    {
        Pair p = await StartPairAsync();
        var c = Own(new UdpMulticastTransport("mc0", Group, ((UdpMulticastTransport)p.A).Port, _net!.AddressA, 1, MaxPacketSize, loopback: false));
        var rc = new RecordingReceiver();
        _namespaces[c] = _net.NamespaceA;
        await StartTransportAsync(c, rc, CancellationToken.None);
        byte[] packet = Payloads.Make('B', 3);

        await p.B.SendAsync(packet, CancellationToken.None);

        await p.ReceiverA.WaitForAsync(packet);
        await rc.WaitForAsync(packet);
    }

    [Test]
    public async Task With_loopback_on_a_node_hears_its_own_packets()
    {
        int port = Interlocked.Increment(ref _port);
        var a = Own(new UdpMulticastTransport("mc0", Group, port, _net!.AddressA, 1, MaxPacketSize));
        var ra = new RecordingReceiver();
        _namespaces[a] = _net.NamespaceA;
        await StartTransportAsync(a, ra, CancellationToken.None);
        byte[] packet = Payloads.Make('A', 9);

        await a.SendAsync(packet, CancellationToken.None);

        await ra.WaitForAsync(packet);
        Assert.That(a.LocalEndPoint, Is.EqualTo(new IPEndPoint(IPAddress.Any, port)));
    }
}

[TestFixture]
public sealed class UdpMulticastTransportTests
{
    [Test]
    public void Rejects_a_group_that_is_not_IPv4_multicast_and_an_IPv6_interface()
    {
        Assert.That(
            Assert.Throws<ArgumentException>(() => new UdpMulticastTransport("mc0", IPAddress.Parse("10.0.0.1"), 7402, IPAddress.Any, 1, 1400))!.Message,
            Does.Contain("mc0").And.Contain("10.0.0.1"));
        Assert.Throws<ArgumentException>(() => new UdpMulticastTransport("mc0", IPAddress.Parse("ff02::1"), 7402, IPAddress.Any, 1, 1400));
        Assert.Throws<ArgumentException>(() => new UdpMulticastTransport("mc0", IPAddress.Parse("239.1.1.1"), 7402, IPAddress.IPv6Loopback, 1, 1400));
        Assert.Throws<ArgumentOutOfRangeException>(() => new UdpMulticastTransport("mc0", IPAddress.Parse("239.1.1.1"), 7402, IPAddress.Any, 0, 1400));
    }
}
