using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace HaKit.Transport;

/// <summary>
/// A UDP unicast heartbeat link (Heartbeat's <c>ucast</c>): one socket bound to the local node's address, every packet
/// sent to each configured peer address. IPv4 and IPv6 are supported; an IPv6 wildcard bind (<c>[::]</c>) also reaches
/// IPv4 peers through a dual-mode socket.
/// </summary>
/// <remarks>
/// The socket is created and bound on the thread that calls <see cref="StartAsync"/> (so a caller may start the link
/// inside a network namespace). Receiving runs as its own task over one preallocated 64 KiB buffer with the
/// allocation-free <see cref="Socket.ReceiveFromAsync(Memory{byte}, SocketFlags, SocketAddress, CancellationToken)"/>;
/// datagrams larger than the maximum packet size are still handed over, so the wire layer can count them.
/// Sends use destination addresses serialized once at construction and allocate nothing when they complete synchronously.
/// <c>SO_REUSEADDR</c> is off: two links cannot silently share one unicast port.
/// </remarks>
public sealed class UdpUnicastTransport : IHeartbeatTransport
{
    private readonly UdpEngine _engine;
    private readonly bool _dualMode;

    /// <summary>Creates the link; no socket exists until <see cref="StartAsync"/>.</summary>
    /// <param name="linkName">The link name (for example <c>lan0</c>).</param>
    /// <param name="bind">The local address and port to bind (port 0 picks a free port; see <see cref="LocalEndPoint"/>).</param>
    /// <param name="peers">Every peer's address on this link.</param>
    /// <param name="maxPacketSize">Largest packet this link sends, in bytes (1..65507).</param>
    /// <param name="logger">Optional logger.</param>
    /// <exception cref="ArgumentException">A peer's address family cannot be reached from <paramref name="bind"/>, or an argument is out of range.</exception>
    public UdpUnicastTransport(string linkName, IPEndPoint bind, IReadOnlyList<IPEndPoint> peers, int maxPacketSize, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(linkName);
        ArgumentNullException.ThrowIfNull(bind);
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPacketSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxPacketSize, 65507);
        if (bind.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"link {linkName}: bind address {bind} is neither IPv4 nor IPv6", nameof(bind));
        }

        var destinations = new EndPoint[peers.Count];
        for (int i = 0; i < destinations.Length; i++)
        {
            IPEndPoint peer = peers[i] ?? throw new ArgumentException($"link {linkName}: peer {i} is null", nameof(peers));
            if (peer.Port == 0)
            {
                throw new ArgumentException($"link {linkName}: peer {peer} has no port", nameof(peers));
            }

            if (peer.AddressFamily == bind.AddressFamily)
            {
                destinations[i] = peer;
            }
            else if (bind.AddressFamily == AddressFamily.InterNetworkV6 && peer.AddressFamily == AddressFamily.InterNetwork && bind.Address.Equals(IPAddress.IPv6Any))
            {
                destinations[i] = new IPEndPoint(peer.Address.MapToIPv6(), peer.Port);
                _dualMode = true;
            }
            else
            {
                throw new ArgumentException($"link {linkName}: peer {peer} cannot be reached from a socket bound to {bind} (address families differ; bind [::] to reach IPv4 and IPv6 peers)", nameof(peers));
            }
        }

        LinkName = linkName;
        BindEndPoint = bind;
        Peers = [.. peers];
        MaxPacketSize = maxPacketSize;
        _engine = new UdpEngine(this, linkName, maxPacketSize, destinations, logger);
    }

    /// <inheritdoc />
    public string LinkName { get; }

    /// <summary>The endpoint given to the constructor (its port may be 0).</summary>
    public IPEndPoint BindEndPoint { get; }

    /// <summary>The peers every packet is sent to.</summary>
    public IReadOnlyList<IPEndPoint> Peers { get; }

    /// <summary>Largest packet this link sends, in bytes.</summary>
    public int MaxPacketSize { get; }

    /// <summary>The bound endpoint (with the actual port when <see cref="BindEndPoint"/> used port 0); <see langword="null"/> before start.</summary>
    public IPEndPoint? LocalEndPoint => _engine.LocalEndPoint;

    /// <summary>Time source of the receive loop's back-off after repeated socket failures. <value>Default <see cref="TimeProvider.System"/>.</value></summary>
    public TimeProvider TimeProvider
    {
        get => _engine.TimeProvider;
        init => _engine.TimeProvider = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Creates and binds the socket on the calling thread, then starts the receive loop.</summary>
    /// <param name="receiver">Where received packets and faults go.</param>
    /// <param name="cancellationToken">Checked before binding.</param>
    /// <exception cref="InvalidOperationException">The endpoint cannot be bound (the message names the link and the endpoint), or the link was already started.</exception>
    /// <exception cref="ObjectDisposedException">The link was disposed.</exception>
    public ValueTask StartAsync(IPacketReceiver receiver, CancellationToken cancellationToken)
    {
        _engine.Start(CreateSocket, receiver, cancellationToken);
        return ValueTask.CompletedTask;
    }

    /// <summary>Sends <paramref name="packet"/> to every peer. Network errors are reported through <see cref="IPacketReceiver.OnTransportFault"/>, never thrown.</summary>
    /// <param name="packet">The encoded envelope, at most <see cref="MaxPacketSize"/> bytes.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <exception cref="ArgumentException">The packet is larger than <see cref="MaxPacketSize"/>.</exception>
    /// <exception cref="InvalidOperationException">The link was not started.</exception>
    /// <exception cref="ObjectDisposedException">The link was disposed.</exception>
    public ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken) => _engine.SendAsync(packet, cancellationToken);

    /// <summary>Stops the receive loop and closes the socket; no packet is delivered once this completes. Idempotent.</summary>
    public ValueTask DisposeAsync() => _engine.DisposeAsync();

    /// <inheritdoc />
    public override string ToString() => $"udp {LinkName} {LocalEndPoint?.ToString() ?? BindEndPoint.ToString()}";

    private Socket CreateSocket()
    {
        var socket = new Socket(BindEndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, false);
            if (OperatingSystem.IsWindows())
            {
                socket.ExclusiveAddressUse = true;
                DisableUdpConnectionReset(socket);
            }

            if (_dualMode)
            {
                socket.DualMode = true;
            }

            socket.Bind(BindEndPoint);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new InvalidOperationException($"link {LinkName}: cannot bind {BindEndPoint}: {UdpEngine.Describe(ex)}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Windows reports ICMP port-unreachable as a receive error on the socket; heartbeats to a down peer must not.</summary>
    internal static void DisableUdpConnectionReset(Socket socket)
    {
        const int SioUdpConnReset = unchecked((int)0x9800000C);
        socket.IOControl(SioUdpConnReset, [0, 0, 0, 0], null);
    }
}
