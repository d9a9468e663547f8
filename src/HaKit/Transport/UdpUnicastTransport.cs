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
/// The socket is created and bound on the thread that calls <see cref="UdpTransportBase.StartAsync"/> (so a caller may start the link
/// inside a network namespace). Receiving runs as its own task over one preallocated 64 KiB buffer with the
/// allocation-free <see cref="Socket.ReceiveFromAsync(Memory{byte}, SocketFlags, SocketAddress, CancellationToken)"/>;
/// datagrams larger than the maximum packet size are still handed over, so the wire layer can count them.
/// Sends use destination addresses serialized once at construction and allocate nothing when they complete synchronously.
/// <c>SO_REUSEADDR</c> is off: two links cannot silently share one unicast port.
/// A link with peers hands over only datagrams whose source address and port is one of its peers (a peer must send from the
/// address and port it is configured with, which it does: it binds them), each peer at most
/// <see cref="UdpEngine.MaxParsedPerSourcePerSecond"/> a second; anything else is dropped before parsing and counted as
/// <see cref="Wire.DropReason.UnknownSource"/> or <see cref="Wire.DropReason.RateLimited"/>. The kernel receive buffer is sized for
/// bursts (<see cref="UdpEngine.SocketReceiveBufferSize"/>).
/// </remarks>
internal sealed class UdpUnicastTransport : UdpTransportBase
{
    private readonly bool _dualMode;

    /// <summary>Creates the link; no socket exists until <see cref="UdpTransportBase.StartAsync"/>.</summary>
    /// <param name="linkName">The link name (for example <c>lan0</c>).</param>
    /// <param name="bind">The local address and port to bind (port 0 picks a free port; see <see cref="UdpTransportBase.LocalEndPoint"/>).</param>
    /// <param name="peers">Every peer's address on this link.</param>
    /// <param name="maxPacketSize">Largest packet this link sends, in bytes (1..65507).</param>
    /// <param name="logger">Optional logger.</param>
    /// <exception cref="ArgumentException">A peer's address family cannot be reached from <paramref name="bind"/>, or an argument is out of range.</exception>
    public UdpUnicastTransport(string linkName, IPEndPoint bind, IReadOnlyList<IPEndPoint> peers, int maxPacketSize, ILogger? logger = null)
        : this(linkName, bind, peers, maxPacketSize, logger, Destinations(linkName, bind, peers, maxPacketSize))
    {
    }

    private UdpUnicastTransport(string linkName, IPEndPoint bind, IReadOnlyList<IPEndPoint> peers, int maxPacketSize, ILogger? logger, (EndPoint[] Destinations, bool DualMode) resolved)
        : base(linkName, maxPacketSize, resolved.Destinations, logger, filterSources: true)
    {
        BindEndPoint = bind;
        Peers = [.. peers];
        _dualMode = resolved.DualMode;
    }

    private static (EndPoint[] Destinations, bool DualMode) Destinations(string linkName, IPEndPoint bind, IReadOnlyList<IPEndPoint> peers, int maxPacketSize)
    {
        var dualMode = false;
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
                dualMode = true;
            }
            else
            {
                throw new ArgumentException($"link {linkName}: peer {peer} cannot be reached from a socket bound to {bind} (address families differ; bind [::] to reach IPv4 and IPv6 peers)", nameof(peers));
            }
        }

        return (destinations, dualMode);
    }

    /// <summary>The endpoint given to the constructor (its port may be 0).</summary>
    public IPEndPoint BindEndPoint { get; }

    /// <summary>The peers every packet is sent to.</summary>
    public IReadOnlyList<IPEndPoint> Peers { get; }

    /// <inheritdoc />
    public override string ToString() => $"udp {LinkName} {LocalEndPoint?.ToString() ?? BindEndPoint.ToString()}";

    private protected override Socket CreateSocket() =>
        Bind(new Socket(BindEndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp), BindEndPoint, socket =>
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, false);
            if (OperatingSystem.IsWindows())
            {
                socket.ExclusiveAddressUse = true;
            }

            if (_dualMode)
            {
                socket.DualMode = true;
            }
        });
}
