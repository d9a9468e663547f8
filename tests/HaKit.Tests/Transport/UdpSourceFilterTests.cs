using System.Net;
using System.Net.Sockets;
using HaKit.Transport;
using HaKit.Wire;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Tests.Transport;

/// <summary>Issue 13: a unicast link hands over only its peers' datagrams, each peer rate-limited, and counts what it drops.</summary>
[TestFixture]
public sealed class UdpSourceFilterTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Test]
    public async Task A_link_with_two_peers_drops_a_strangers_datagrams_before_the_receiver_and_counts_them()
    {
        using var peer1 = Bound();
        using var peer2 = Bound();
        using var stranger = Bound();
        var receiver = new DropCountingReceiver();
        await using var link = new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [Local(peer1), Local(peer2)], 1400);
        await link.StartAsync(receiver, CancellationToken.None);

        stranger.SendTo([1, 2, 3], link.LocalEndPoint!);
        peer2.SendTo([4, 5, 6], link.LocalEndPoint!);
        await receiver.WaitForPacketsAsync(1);
        await receiver.WaitForDropsAsync(1);
        await Task.Delay(Quiet);

        Assert.Multiple(() =>
        {
            Assert.That(receiver.Packets, Has.Count.EqualTo(1));
            Assert.That(receiver.Packets[0], Is.EqualTo(new byte[] { 4, 5, 6 }));
            Assert.That(receiver.Drops, Is.EqualTo(new[] { DropReason.UnknownSource }));
        });
    }

    [Test]
    public async Task A_link_with_one_peer_is_connected_to_it_on_Linux_so_the_kernel_drops_a_strangers_datagrams_and_sends_still_work()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("connected UDP sockets that still use sendto: Linux only");
        }

        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        var a = new IPEndPoint(IPAddress.Loopback, pa);
        var b = new IPEndPoint(IPAddress.Loopback, pb);
        var receiverA = new DropCountingReceiver();
        var receiverB = new DropCountingReceiver();
        await using var linkA = new UdpUnicastTransport("lan0", a, [b], 1400);
        await using var linkB = new UdpUnicastTransport("lan0", b, [a], 1400);
        await linkA.StartAsync(receiverA, CancellationToken.None);
        await linkB.StartAsync(receiverB, CancellationToken.None);
        using var stranger = Bound();

        stranger.SendTo([9, 9, 9], a);
        await linkB.SendAsync(new byte[] { 7 }, CancellationToken.None);
        await linkA.SendAsync(new byte[] { 8 }, CancellationToken.None);
        await receiverA.WaitForPacketsAsync(1);
        await receiverB.WaitForPacketsAsync(1);
        await Task.Delay(Quiet);

        Assert.Multiple(() =>
        {
            Assert.That(receiverA.Packets.Select(p => p[0]), Is.EqualTo(new byte[] { 7 }), "only b's datagram reaches a");
            Assert.That(receiverB.Packets.Select(p => p[0]), Is.EqualTo(new byte[] { 8 }), "a connected socket still sends to its peer");
            Assert.That(receiverA.Drops, Is.Empty, "the kernel dropped the stranger's datagram: the link never saw it");
        });
    }

    [Test]
    public async Task A_connected_link_whose_peer_is_down_reports_no_fault_but_the_closed_port()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("connected UDP sockets: Linux only");
        }

        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        var receiver = new DropCountingReceiver();
        await using var link = new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, pa), [new IPEndPoint(IPAddress.Loopback, pb)], 1400);
        await link.StartAsync(receiver, CancellationToken.None);
        for (var i = 0; i < 5; i++)
        {
            await link.SendAsync(new byte[] { 1 }, CancellationToken.None); // ICMP port unreachable comes back each time
            await Task.Delay(20);
        }

        Assert.That(receiver.Faults, Is.Empty);
        Assert.That(receiver.Unreachable, Is.Not.Empty.And.All.EqualTo(new IPEndPoint(IPAddress.Loopback, pb)), "each refused datagram names the peer whose port is closed (crash-hint evidence)");
    }

    [Test]
    public void A_multicast_link_admits_only_its_members_source_addresses_whatever_the_port()
    {
        var group = IPAddress.Parse("239.255.42.1");
        IPAddress[] members = [IPAddress.Parse("10.0.0.1"), IPAddress.Parse("10.0.0.2")];
        var link = new UdpMulticastTransport("mc0", group, 7402, members[0], 1, 1400, members: members);
        var engine = new UdpEngine(link, "mc0", 1400, [new IPEndPoint(group, 7402)], null, memberAddresses: members);
        var open = new UdpEngine(link, "mc0", 1400, [new IPEndPoint(group, 7402)], null);
        Assert.Multiple(() =>
        {
            Assert.That(engine.IsMember(new IPEndPoint(members[0], 7402).Serialize()), Is.True, "this node (its own packets looped back)");
            Assert.That(engine.IsMember(new IPEndPoint(members[1], 40000).Serialize()), Is.True, "a member, from any port");
            Assert.That(engine.IsMember(new IPEndPoint(IPAddress.Parse("10.0.0.3"), 7402).Serialize()), Is.False, "not a member: dropped before parsing");
            Assert.That(engine.IsMember(new IPEndPoint(IPAddress.Parse("10.0.0.1").MapToIPv6(), 7402).Serialize()), Is.False, "not IPv4");
            Assert.That(open.IsMember(new IPEndPoint(IPAddress.Parse("10.0.0.3"), 7402).Serialize()), Is.True, "no member list: no address filter");
        });
    }

    [Test]
    public void Each_peer_is_parsed_at_most_at_the_rate_limit_and_the_bucket_refills_with_time()
    {
        var time = new FakeTimeProvider();
        var peer = new IPEndPoint(IPAddress.Loopback, 7402);
        var other = new IPEndPoint(IPAddress.Loopback, 7403);
        var link = new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 7401), [peer, other], 1400);
        var engine = new UdpEngine(link, "lan0", 1400, [peer, other], null, filterSources: true) { TimeProvider = time };
        var from = peer.Serialize();
        long now = time.GetTimestamp();
        var admitted = 0;
        for (var i = 0; i < UdpEngine.MaxParsedPerSourcePerSecond * 2; i++)
        {
            if (engine.Admit(from, now) is null)
            {
                admitted++;
            }
        }

        Assert.Multiple(() =>
        {
            Assert.That(admitted, Is.EqualTo(UdpEngine.MaxParsedPerSourcePerSecond), "one second's burst, then nothing");
            Assert.That(engine.Admit(from, now), Is.EqualTo(DropReason.RateLimited));
            Assert.That(engine.Admit(other.Serialize(), now), Is.Null, "the other peer has its own bucket");
            Assert.That(engine.Admit(new IPEndPoint(IPAddress.Loopback, 9999).Serialize(), now), Is.EqualTo(DropReason.UnknownSource));
        });

        time.Advance(TimeSpan.FromMilliseconds(100));
        now = time.GetTimestamp();
        admitted = 0;
        while (engine.Admit(from, now) is null && admitted < UdpEngine.MaxParsedPerSourcePerSecond)
        {
            admitted++;
        }

        Assert.That(admitted, Is.EqualTo(UdpEngine.MaxParsedPerSourcePerSecond / 10), "a tenth of a second refills a tenth of the rate");
    }

    private static Socket Bound()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return s;
    }

    private static IPEndPoint Local(Socket s) => (IPEndPoint)s.LocalEndPoint!;

    private sealed class DropCountingReceiver : IPacketReceiver, IPacketDropSink
    {
        private readonly Lock _gate = new();
        private readonly List<byte[]> _packets = [];
        private readonly List<DropReason> _drops = [];
        private readonly List<Exception> _faults = [];
        private readonly List<EndPoint> _unreachable = [];

        public IReadOnlyList<EndPoint> Unreachable
        {
            get
            {
                lock (_gate)
                {
                    return [.. _unreachable];
                }
            }
        }

        public void OnPeerPortUnreachable(IHeartbeatTransport link, EndPoint destination)
        {
            lock (_gate)
            {
                _unreachable.Add(destination);
            }
        }

        public IReadOnlyList<byte[]> Packets
        {
            get
            {
                lock (_gate)
                {
                    return [.. _packets];
                }
            }
        }

        public IReadOnlyList<DropReason> Drops
        {
            get
            {
                lock (_gate)
                {
                    return [.. _drops];
                }
            }
        }

        public IReadOnlyList<Exception> Faults
        {
            get
            {
                lock (_gate)
                {
                    return [.. _faults];
                }
            }
        }

        public void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
        {
            lock (_gate)
            {
                _packets.Add(packet.ToArray());
            }
        }

        public void OnTransportFault(IHeartbeatTransport link, Exception error)
        {
            lock (_gate)
            {
                _faults.Add(error);
            }
        }

        public void OnPacketDropped(IHeartbeatTransport link, DropReason reason)
        {
            lock (_gate)
            {
                _drops.Add(reason);
            }
        }

        public Task WaitForPacketsAsync(int count) => WaitAsync(() => Packets.Count >= count);

        public Task WaitForDropsAsync(int count) => WaitAsync(() => Drops.Count >= count);

        private static async Task WaitAsync(Func<bool> done)
        {
            var deadline = DateTime.UtcNow + RecordingReceiver.WaitLimit;
            while (!done())
            {
                if (DateTime.UtcNow > deadline)
                {
                    Assert.Fail("timed out");
                }

                await Task.Delay(10);
            }
        }
    }
}
