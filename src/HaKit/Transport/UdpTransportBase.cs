using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace HaKit.Transport;

/// <summary>
/// What UDP unicast and multicast links share: the socket engine (receive loop over one preallocated buffer,
/// allocation-free sends to precomputed destinations, fault reporting, idempotent dispose). A derived link only
/// says how its socket is created and bound.
/// </summary>
internal abstract class UdpTransportBase : IHeartbeatTransport, IPeerPortCheck
{
    private readonly UdpEngine _engine;

    /// <summary>Creates the link; no socket exists until <see cref="StartAsync"/>.</summary>
    /// <param name="linkName">The link name (for example <c>lan0</c>).</param>
    /// <param name="maxPacketSize">Largest packet this link sends, in bytes (1..65507).</param>
    /// <param name="destinations">Where every packet goes.</param>
    /// <param name="logger">Optional logger.</param>
    /// <param name="filterSources">Whether only datagrams from <paramref name="destinations"/> are handed over (unicast with peers).</param>
    /// <param name="memberAddresses">Multicast: the members' source addresses; datagrams from others are dropped before parsing (see <see cref="UdpEngine"/>).</param>
    private protected UdpTransportBase(string linkName, int maxPacketSize, EndPoint[] destinations, ILogger? logger, bool filterSources = false, IReadOnlyList<IPAddress>? memberAddresses = null)
    {
        LinkName = linkName;
        MaxPacketSize = maxPacketSize;
        _engine = new UdpEngine(this, linkName, maxPacketSize, destinations, logger, filterSources, memberAddresses);
    }

    /// <inheritdoc />
    public string LinkName { get; }

    /// <summary>Largest packet this link sends, in bytes.</summary>
    public int MaxPacketSize { get; }

    /// <summary>The bound endpoint (with the actual port when port 0 was requested); <see langword="null"/> before start.</summary>
    public IPEndPoint? LocalEndPoint => _engine.LocalEndPoint;

    /// <summary>Time source of the receive loop's back-off after repeated socket failures. <value>Default <see cref="TimeProvider.System"/>.</value></summary>
    public TimeProvider TimeProvider
    {
        get => _engine.TimeProvider;
        init => _engine.TimeProvider = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>Delivers, on the calling thread and without waiting, up to <paramref name="max"/> datagrams already queued on the socket (see <see cref="UdpEngine.DrainPending"/>).</summary>
    /// <param name="max">The most datagrams to take.</param>
    /// <returns>How many were delivered to the receiver.</returns>
    internal int DrainPending(int max) => _engine.DrainPending(max);

    /// <summary>Creates and binds the socket on the calling thread (so a caller may start the link inside a network namespace), then starts the receive loop.</summary>
    /// <param name="receiver">Where received packets and faults go.</param>
    /// <param name="cancellationToken">Checked before binding.</param>
    /// <exception cref="InvalidOperationException">The socket cannot be bound or set up (the message names the link and the address), or the link was already started.</exception>
    /// <exception cref="ObjectDisposedException">The link was disposed.</exception>
    public ValueTask StartAsync(IPacketReceiver receiver, CancellationToken cancellationToken)
    {
        _engine.Start(CreateSocket, receiver, cancellationToken);
        return ValueTask.CompletedTask;
    }

    /// <summary>Sends <paramref name="packet"/> to every destination of the link. Network errors are reported through <see cref="IPacketReceiver.OnTransportFault"/>, never thrown.</summary>
    /// <param name="packet">The encoded envelope, at most <see cref="MaxPacketSize"/> bytes.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    /// <exception cref="ArgumentException">The packet is larger than <see cref="MaxPacketSize"/>.</exception>
    /// <exception cref="InvalidOperationException">The link was not started.</exception>
    /// <exception cref="ObjectDisposedException">The link was disposed.</exception>
    public ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken) => _engine.SendAsync(packet, cancellationToken);

    /// <inheritdoc />
    void IPeerPortCheck.TakePendingPortUnreachable() => _engine.TakePendingPortUnreachable();

    /// <summary>Stops the receive loop and closes the socket; no packet is delivered once this completes. Idempotent.</summary>
    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return _engine.DisposeAsync();
    }

    /// <summary>Creates, configures and binds the link's socket; throws <see cref="InvalidOperationException"/> naming the link on failure.</summary>
    private protected abstract Socket CreateSocket();

    /// <summary>Binds <paramref name="socket"/> after <paramref name="configure"/>; disposes it and throws a message naming the link on failure.</summary>
    private protected Socket Bind(Socket socket, EndPoint bind, Action<Socket> configure)
    {
        try
        {
            configure(socket);
            if (OperatingSystem.IsWindows())
            {
                DisableUdpConnectionReset(socket);
            }

            socket.Bind(bind);
            return socket;
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
    }

    /// <summary>Windows reports ICMP port-unreachable as a receive error on the socket; heartbeats to a down peer must not.</summary>
    private static void DisableUdpConnectionReset(Socket socket)
    {
        const int SioUdpConnReset = unchecked((int)0x9800000C);
        socket.IOControl(SioUdpConnReset, [0, 0, 0, 0], null);
    }
}
