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
/// The socket is created on the thread that calls <see cref="StartAsync"/> (so a caller may start the link inside a
/// network namespace); the receive loop and fault rules are those of <see cref="UdpUnicastTransport"/>.
/// </remarks>
public sealed class UdpMulticastTransport : IHeartbeatTransport
{
    private const int IpProtoIp = 0;
    private const int IpMulticastAll = 49;

    private readonly UdpEngine _engine;
    private readonly ILogger? _logger;

    /// <summary>Creates the link; no socket exists until <see cref="StartAsync"/>.</summary>
    /// <param name="linkName">The link name (for example <c>mc0</c>).</param>
    /// <param name="group">The IPv4 multicast group (224.0.0.0/4), for example <c>239.255.42.1</c>.</param>
    /// <param name="port">The UDP port (1..65535) every node binds and sends to.</param>
    /// <param name="localInterface">The IPv4 address of the local interface to join on and send from.</param>
    /// <param name="ttl">Multicast TTL (1..255); 1 keeps packets on the local segment.</param>
    /// <param name="maxPacketSize">Largest packet this link sends, in bytes (1..65507).</param>
    /// <param name="logger">Optional logger.</param>
    /// <param name="loopback">Whether this host's own sockets (this one included) receive the packets sent.</param>
    /// <exception cref="ArgumentException">An address is not IPv4, the group is not multicast, or a number is out of range.</exception>
    public UdpMulticastTransport(string linkName, IPAddress group, int port, IPAddress localInterface, int ttl, int maxPacketSize, ILogger? logger = null, bool loopback = true)
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

        LinkName = linkName;
        Group = group;
        Port = port;
        LocalInterface = localInterface;
        Ttl = ttl;
        MaxPacketSize = maxPacketSize;
        Loopback = loopback;
        _logger = logger;
        _engine = new UdpEngine(this, linkName, maxPacketSize, [new IPEndPoint(group, port)], logger);
    }

    /// <inheritdoc />
    public string LinkName { get; }

    /// <summary>The multicast group.</summary>
    public IPAddress Group { get; }

    /// <summary>The UDP port bound and sent to.</summary>
    public int Port { get; }

    /// <summary>The local interface address the group is joined on and packets are sent from.</summary>
    public IPAddress LocalInterface { get; }

    /// <summary>Multicast TTL.</summary>
    public int Ttl { get; }

    /// <summary>Largest packet this link sends, in bytes.</summary>
    public int MaxPacketSize { get; }

    /// <summary>Whether packets sent are looped back to this host's sockets.</summary>
    public bool Loopback { get; }

    /// <summary>The bound endpoint (<c>0.0.0.0:port</c>); <see langword="null"/> before start.</summary>
    public IPEndPoint? LocalEndPoint => _engine.LocalEndPoint;

    /// <summary>Time source of the receive loop's back-off after repeated socket failures. <value>Default <see cref="TimeProvider.System"/>.</value></summary>
    public TimeProvider TimeProvider
    {
        get => _engine.TimeProvider;
        init => _engine.TimeProvider = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Creates the socket on the calling thread, binds the port, joins the group and starts the receive loop.</summary>
    /// <param name="receiver">Where received packets and faults go.</param>
    /// <param name="cancellationToken">Checked before binding.</param>
    /// <exception cref="InvalidOperationException">The port cannot be bound or the group cannot be joined (the message names the link), or the link was already started.</exception>
    /// <exception cref="ObjectDisposedException">The link was disposed.</exception>
    public ValueTask StartAsync(IPacketReceiver receiver, CancellationToken cancellationToken)
    {
        _engine.Start(CreateSocket, receiver, cancellationToken);
        return ValueTask.CompletedTask;
    }

    /// <summary>Sends <paramref name="packet"/> to the group. Network errors are reported through <see cref="IPacketReceiver.OnTransportFault"/>, never thrown.</summary>
    /// <param name="packet">The encoded envelope, at most <see cref="MaxPacketSize"/> bytes.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <exception cref="ArgumentException">The packet is larger than <see cref="MaxPacketSize"/>.</exception>
    /// <exception cref="InvalidOperationException">The link was not started.</exception>
    /// <exception cref="ObjectDisposedException">The link was disposed.</exception>
    public ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken) => _engine.SendAsync(packet, cancellationToken);

    /// <summary>Stops the receive loop and closes the socket (which leaves the group); no packet is delivered once this completes. Idempotent.</summary>
    public ValueTask DisposeAsync() => _engine.DisposeAsync();

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

    private Socket CreateSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var bind = new IPEndPoint(IPAddress.Any, Port);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (OperatingSystem.IsWindows())
            {
                UdpUnicastTransport.DisableUdpConnectionReset(socket);
            }

            socket.Bind(bind);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new InvalidOperationException($"link {LinkName}: cannot bind {bind}: {UdpEngine.Describe(ex)}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

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
