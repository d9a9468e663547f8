using System.Net;
using System.Net.Sockets;
using HaKit.Transport;

namespace HaKit.Tests.Transport;

/// <summary>
/// A crash hint's probe on a UDP link connected to its peer: the peer's kernel refuses it within the send when both ends are on one
/// host, and the link reports that on the sending thread, at once, instead of after its receive thread's wake-up.
/// </summary>
[TestFixture]
public sealed class UdpPortUnreachableTests
{
    [Test]
    public async Task A_port_unreachable_pending_after_a_send_is_reported_on_the_sending_thread_before_the_call_returns()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("a UDP socket connected to its one peer (and ICMP errors on it): Linux only");
        }

        // The peer speaks first and the link's receive thread is held in its delivery, so that only the sending thread can see
        // the refusal (an idle receive thread would otherwise take it on the other core within microseconds).
        var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var peerEndPoint = (IPEndPoint)peer.LocalEndPoint!;
        var receiver = new Recorder();
        await using var link = new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [peerEndPoint], 1400);
        await link.StartAsync(receiver, CancellationToken.None);
        peer.SendTo([9], link.LocalEndPoint!);
        Assert.That(receiver.Delivering.Wait(TimeSpan.FromSeconds(5)), Is.True, "the peer's datagram was not delivered");
        peer.Dispose(); // the peer's process is gone: its port is closed

        try
        {
            await link.SendAsync(new byte[] { 1, 2, 3 }, CancellationToken.None);
            ((IPeerPortCheck)link).TakePendingPortUnreachable();
            var reported = receiver.Reports;

            Assert.That(reported, Has.Count.EqualTo(1), "the refusal of the datagram just sent was not taken at once");
            Assert.Multiple(() =>
            {
                Assert.That(reported[0].Destination, Is.EqualTo(peerEndPoint));
                Assert.That(reported[0].Thread, Is.EqualTo(Environment.CurrentManagedThreadId), "not reported by the sending thread");
            });
        }
        finally
        {
            receiver.Release.Set();
        }
    }

    [Test]
    public async Task Nothing_is_reported_when_the_peer_listens()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("a UDP socket connected to its one peer: Linux only");
        }

        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var receiver = new Recorder();
        await using var link = new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [(IPEndPoint)peer.LocalEndPoint!], 1400);
        await link.StartAsync(receiver, CancellationToken.None);

        await link.SendAsync(new byte[] { 1, 2, 3 }, CancellationToken.None);
        ((IPeerPortCheck)link).TakePendingPortUnreachable();
        receiver.Release.Set();

        Assert.Multiple(() =>
        {
            Assert.That(receiver.Reports, Is.Empty);
            Assert.That(receiver.Faults, Is.Empty);
            Assert.That(peer.Available, Is.GreaterThan(0), "the datagram was not delivered");
        });
    }

    private sealed class Recorder : IPacketReceiver
    {
        private readonly Lock _gate = new();
        private readonly List<(EndPoint Destination, int Thread)> _reports = [];
        private readonly List<Exception> _faults = [];

        public IReadOnlyList<(EndPoint Destination, int Thread)> Reports
        {
            get
            {
                lock (_gate)
                {
                    return [.. _reports];
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

        /// <summary>Set when a datagram is being delivered; the delivery waits for <see cref="Release"/> (bounded).</summary>
        public ManualResetEventSlim Delivering { get; } = new();

        public ManualResetEventSlim Release { get; } = new();

        public void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
        {
            Delivering.Set();
            _ = Release.Wait(TimeSpan.FromSeconds(10));
        }

        public void OnTransportFault(IHeartbeatTransport link, Exception error)
        {
            lock (_gate)
            {
                _faults.Add(error);
            }
        }

        public void OnPeerPortUnreachable(IHeartbeatTransport link, EndPoint destination)
        {
            lock (_gate)
            {
                _reports.Add((destination, Environment.CurrentManagedThreadId));
            }
        }
    }
}
