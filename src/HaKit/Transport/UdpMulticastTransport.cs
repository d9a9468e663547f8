using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace HaKit.Transport;

/// <summary>
/// A UDP multicast heartbeat link (Heartbeat's <c>mcast</c>): every node joins one IPv4 group on its interface and
/// sends each packet once, to the group. IPv4 only.
/// </summary>
/// <remarks>
/// The socket binds <c>0.0.0.0:port</c> with <c>SO_REUSEADDR</c>, so several nodes on one host can share the port;
/// on Linux <c>IP_MULTICAST_ALL</c> is turned off so the socket only receives the groups it joined itself.
/// With loopback on (the default) a node receives its own packets; the wire layer drops them as sent by itself.
/// The socket is created on the thread that calls <see cref="UdpTransportBase.StartAsync"/> (so a caller may start the link inside a
/// network namespace); the receive loop and fault rules are those of <see cref="UdpUnicastTransport"/>.
/// </remarks>
internal sealed class UdpMulticastTransport : UdpTransportBase
{
    private const int IpProtoIp = 0;
    private const int IpMulticastAll = 49;

    private readonly ILogger? _logger;

    /// <summary>Creates the link; no socket exists until <see cref="UdpTransportBase.StartAsync"/>.</summary>
    /// <param name="linkName">The link name (for example <c>mc0</c>).</param>
    /// <param name="group">The IPv4 multicast group (224.0.0.0/4), for example <c>239.255.42.1</c>.</param>
    /// <param name="port">The UDP port (1..65535) every node binds and sends to.</param>
    /// <param name="localInterface">The IPv4 address of the local interface to join on and send from.</param>
    /// <param name="ttl">Multicast TTL (1..255); 1 keeps packets on the local segment.</param>
    /// <param name="maxPacketSize">Largest packet this link sends, in bytes (1..65507).</param>
    /// <param name="logger">Optional logger.</param>
    /// <param name="loopback">Whether this host's own sockets (this one included) receive the packets sent.</param>
    /// <param name="members">
    /// The interface addresses of every node on the link (this one included): a datagram from any other source address is dropped and
    /// counted as <see cref="Wire.DropReason.UnknownSource"/> on the receive thread, before any parsing or MAC. <see langword="null"/>: no
    /// source filter (the MAC still refuses junk).
    /// </param>
    /// <exception cref="ArgumentException">An address is not IPv4, the group is not multicast, or a number is out of range.</exception>
    public UdpMulticastTransport(string linkName, IPAddress group, int port, IPAddress localInterface, int ttl, int maxPacketSize, ILogger? logger = null, bool loopback = true,
        IReadOnlyList<IPAddress>? members = null)
        : base(linkName, maxPacketSize, [Validate(linkName, group, port, localInterface, ttl, maxPacketSize)], logger, memberAddresses: members)
    {
        Group = group;
        Port = port;
        LocalInterface = localInterface;
        Ttl = ttl;
        Loopback = loopback;
        _logger = logger;
    }

    private static IPEndPoint Validate(string linkName, IPAddress group, int port, IPAddress localInterface, int ttl, int maxPacketSize)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(linkName);
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(localInterface);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentOutOfRangeException.ThrowIfLessThan(ttl, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ttl, 255);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPacketSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPacketSize, 65507);
        if (!IsIPv4Multicast(group))
        {
            throw new ArgumentException($"link {linkName}: {group} is not an IPv4 multicast group (224.0.0.0/4, for example 239.255.42.1)", nameof(group));
        }

        if (localInterface.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"link {linkName}: interface address {localInterface} is not IPv4 (multicast links are IPv4 only)", nameof(localInterface));
        }

        return new IPEndPoint(group, port);
    }

    /// <summary>The multicast group.</summary>
    public IPAddress Group { get; }

    /// <summary>The UDP port bound and sent to.</summary>
    public int Port { get; }

    /// <summary>The local interface address the group is joined on and packets are sent from.</summary>
    public IPAddress LocalInterface { get; }

    /// <summary>Multicast TTL.</summary>
    public int Ttl { get; }

    /// <summary>Whether packets sent are looped back to this host's sockets.</summary>
    public bool Loopback { get; }

    /// <inheritdoc />
    public override string ToString() => $"mcast {LinkName} {Group}:{Port} on {LocalInterface}";

    internal static bool IsIPv4Multicast(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[4];
        return address.TryWriteBytes(bytes, out _) && (bytes[0] & 0xF0) == 0xE0;
    }

    private protected override Socket CreateSocket()
    {
        var socket = Bind(new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp), new IPEndPoint(IPAddress.Any, Port),
            s => s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true));
        try
        {
            if (OperatingSystem.IsLinux())
            {
                TryDisableMulticastAll(socket);
            }

            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(Group, LocalInterface));
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, LocalInterface.GetAddressBytes());
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, Ttl);
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, Loopback);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new InvalidOperationException($"link {LinkName}: cannot join multicast group {Group} on interface {LocalInterface}: {UdpEngine.Describe(ex)}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        if (_logger is not null)
        {
            TransportLog.JoinedGroup(_logger, LinkName, Group.ToString(), Port, LocalInterface.ToString(), Ttl, Loopback);
        }

        return socket;
    }

    private void TryDisableMulticastAll(Socket socket)
    {
        try
        {
            ReadOnlySpan<byte> off = [0, 0, 0, 0];
            socket.SetRawSocketOption(IpProtoIp, IpMulticastAll, off);
        }
        catch (SocketException ex)
        {
            // Older kernels: the socket may also see groups joined by other sockets on this port; the wire layer filters.
            if (_logger is not null)
            {
                TransportLog.OptionNotApplied(_logger, LinkName, "IP_MULTICAST_ALL=0", ex);
            }
        }
    }
}
