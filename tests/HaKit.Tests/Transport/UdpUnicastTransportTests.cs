using System.Net;
using System.Net.Sockets;
using HaKit.Transport;

namespace HaKit.Tests.Transport;

[TestFixture]
public sealed class UdpUnicastConformanceTests : TransportConformanceTests
{
    protected override int MaxPacketSize => 65507;

    protected override bool ExactDelivery => false;

    protected override (IHeartbeatTransport A, IHeartbeatTransport B) CreatePair()
    {
        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        var a = new IPEndPoint(IPAddress.Loopback, pa);
        var b = new IPEndPoint(IPAddress.Loopback, pb);
        return (new UdpUnicastTransport("lan0", a, [b], MaxPacketSize), new UdpUnicastTransport("lan0", b, [a], MaxPacketSize));
    }
}

[TestFixture]
public sealed class UdpUnicastTransportTests
{
    private readonly List<IHeartbeatTransport> _owned = [];

    [TearDown]
    public async Task DisposeAsync()
    {
        foreach (IHeartbeatTransport t in _owned)
        {
            await t.DisposeAsync().AsTask().WaitAsync(RecordingReceiver.WaitLimit);
        }

        _owned.Clear();
    }

    private T Own<T>(T t)
        where T : IHeartbeatTransport
    {
        _owned.Add(t);
        return t;
    }

    [Test]
    public async Task Binding_port_zero_exposes_the_actual_local_endpoint()
    {
        var t = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [], 1400));
        Assert.That(t.LocalEndPoint, Is.Null);

        await t.StartAsync(new RecordingReceiver(), CancellationToken.None);

        Assert.That(t.LocalEndPoint, Is.Not.Null);
        Assert.That(t.LocalEndPoint!.Address, Is.EqualTo(IPAddress.Loopback));
        Assert.That(t.LocalEndPoint.Port, Is.Not.Zero);
    }

    [Test]
    public async Task A_bind_conflict_names_the_link_and_the_endpoint()
    {
        var first = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [], 1400));
        await first.StartAsync(new RecordingReceiver(), CancellationToken.None);
        IPEndPoint taken = first.LocalEndPoint!;
        var second = Own(new UdpUnicastTransport("lan0", taken, [], 1400));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await second.StartAsync(new RecordingReceiver(), CancellationToken.None));

        Assert.That(error!.Message, Is.EqualTo($"link lan0: cannot bind 127.0.0.1:{taken.Port}: address already in use"));
        Assert.That(error.InnerException, Is.InstanceOf<SocketException>());
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await second.SendAsync(new byte[8], CancellationToken.None), "a failed start leaves the link unstarted");
    }

    [Test]
    public async Task A_datagram_larger_than_the_maximum_is_still_handed_to_the_receiver()
    {
        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        var a = new IPEndPoint(IPAddress.Loopback, pa);
        var b = new IPEndPoint(IPAddress.Loopback, pb);
        var sender = Own(new UdpUnicastTransport("lan0", a, [b], 65507));
        var small = Own(new UdpUnicastTransport("lan0", b, [a], 256));
        var received = new RecordingReceiver();
        await sender.StartAsync(new RecordingReceiver(), CancellationToken.None);
        await small.StartAsync(received, CancellationToken.None);
        byte[] oversized = Payloads.Make('A', 1, 9000);

        await sender.SendAsync(oversized, CancellationToken.None);

        await received.WaitForAsync(oversized);
    }

    [Test]
    public async Task Sends_to_every_peer()
    {
        var receivers = new List<(UdpUnicastTransport T, RecordingReceiver R)>();
        for (int i = 0; i < 2; i++)
        {
            var r = new RecordingReceiver();
            var t = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [], 1400));
            await t.StartAsync(r, CancellationToken.None);
            receivers.Add((t, r));
        }

        var sender = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [.. receivers.Select(x => x.T.LocalEndPoint!)], 1400));
        await sender.StartAsync(new RecordingReceiver(), CancellationToken.None);
        byte[] packet = Payloads.Make('A', 42);

        await sender.SendAsync(packet, CancellationToken.None);

        foreach ((_, RecordingReceiver r) in receivers)
        {
            await r.WaitForAsync(packet);
        }
    }

    [Test]
    public async Task A_send_error_is_reported_as_a_fault_naming_the_destination_and_other_peers_still_get_the_packet()
    {
        var good = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [], 1400));
        var rGood = new RecordingReceiver();
        await good.StartAsync(rGood, CancellationToken.None);

        // A socket bound to 127.0.0.1 cannot send off-host (EINVAL or ENETUNREACH): a send error on the first peer.
        var unreachable = new IPEndPoint(IPAddress.Parse("203.0.113.7"), 7401);
        var sender = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [unreachable, good.LocalEndPoint!], 1400));
        var rSender = new RecordingReceiver();
        await sender.StartAsync(rSender, CancellationToken.None);
        byte[] packet = Payloads.Make('A', 5);

        await sender.SendAsync(packet, CancellationToken.None);

        await rGood.WaitForAsync(packet);
        Assert.That(rSender.Faults, Has.Count.EqualTo(1));
        Assert.That(rSender.Faults[0], Is.InstanceOf<IOException>().With.Message.StartsWith("link lan0: send to 203.0.113.7:7401 failed"));
        Assert.That(rSender.Faults[0].InnerException, Is.InstanceOf<SocketException>());
    }

    [Test]
    public async Task Works_over_IPv6_and_a_dual_mode_bind_reaches_IPv4_peers()
    {
        if (!Socket.OSSupportsIPv6)
        {
            Assert.Ignore("IPv6 is not supported on this host");
        }

        var v4 = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [], 1400));
        var v6 = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.IPv6Loopback, 0), [], 1400));
        var r4 = new RecordingReceiver();
        var r6 = new RecordingReceiver();
        await v4.StartAsync(r4, CancellationToken.None);
        try
        {
            await v6.StartAsync(r6, CancellationToken.None);
        }
        catch (InvalidOperationException ex)
        {
            Assert.Ignore($"IPv6 loopback unusable here: {ex.Message}");
        }

        var dual = Own(new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.IPv6Any, 0), [v4.LocalEndPoint!, v6.LocalEndPoint!], 1400));
        await dual.StartAsync(new RecordingReceiver(), CancellationToken.None);
        byte[] packet = Payloads.Make('D', 6);

        await dual.SendAsync(packet, CancellationToken.None);

        await r4.WaitForAsync(packet);
        await r6.WaitForAsync(packet);
    }

    [Test]
    public void Peers_of_another_address_family_are_rejected_unless_the_bind_is_the_IPv6_wildcard()
    {
        var error = Assert.Throws<ArgumentException>(() => new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 7401), [new IPEndPoint(IPAddress.IPv6Loopback, 7402)], 1400));
        Assert.That(error!.Message, Does.Contain("lan0").And.Contain("[::1]:7402"));
    }
}

/// <summary>Picks free UDP ports by binding and releasing them (both held at once, so they differ).</summary>
public static class UdpPorts
{
    public static (int A, int B) TwoFree(IPAddress address)
    {
        using var a = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        using var b = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        a.Bind(new IPEndPoint(address, 0));
        b.Bind(new IPEndPoint(address, 0));
        return (((IPEndPoint)a.LocalEndPoint!).Port, ((IPEndPoint)b.LocalEndPoint!).Port);
    }
}

[TestFixture]
public sealed class TransportAllocationTests
{
    [Test]
    public async Task Warm_sends_allocate_nothing_on_the_sending_thread()
    {
        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        var a = new IPEndPoint(IPAddress.Loopback, pa);
        var b = new IPEndPoint(IPAddress.Loopback, pb);
        await using var sender = new UdpUnicastTransport("lan0", a, [b, new IPEndPoint(IPAddress.Loopback, pb)], 1400);
        await using var peer = new UdpUnicastTransport("lan0", b, [a], 1400);
        await sender.StartAsync(new RecordingReceiver(), CancellationToken.None);
        await peer.StartAsync(new NullReceiver(), CancellationToken.None);
        ReadOnlyMemory<byte> packet = Payloads.Make('A', 1, 64);

        long allocated = MeasureSends(sender, packet, warmup: 100, count: 1000);

        Assert.That(allocated, Is.Zero, "bytes allocated by 1000 sends to two peers");
    }

    [Test]
    public async Task In_memory_sends_allocate_nothing()
    {
        var network = new InMemoryNetwork();
        await using InMemoryTransport a = network.CreateTransport("a", "lan0");
        await using InMemoryTransport b = network.CreateTransport("b", "lan0");
        await a.StartAsync(new NullReceiver(), CancellationToken.None);
        await b.StartAsync(new NullReceiver(), CancellationToken.None);
        network.Cut("b", "a", "lan1");

        long allocated = MeasureSends(a, Payloads.Make('A', 1, 64), warmup: 10, count: 1000);

        Assert.That(allocated, Is.Zero);
        Assert.That(network.DeliveredCount, Is.EqualTo(1010));
    }

    private static long MeasureSends(IHeartbeatTransport transport, ReadOnlyMemory<byte> packet, int warmup, int count)
    {
        for (int i = 0; i < warmup; i++)
        {
            SendSync(transport, packet);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < count; i++)
        {
            SendSync(transport, packet);
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    private static void SendSync(IHeartbeatTransport transport, ReadOnlyMemory<byte> packet)
    {
        ValueTask send = transport.SendAsync(packet, CancellationToken.None);
        if (send.IsCompletedSuccessfully)
        {
            send.GetAwaiter().GetResult();
        }
        else
        {
            send.AsTask().GetAwaiter().GetResult();
        }
    }

    private sealed class NullReceiver : IPacketReceiver
    {
        public void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
        {
        }

        public void OnTransportFault(IHeartbeatTransport link, Exception error)
        {
        }
    }
}
