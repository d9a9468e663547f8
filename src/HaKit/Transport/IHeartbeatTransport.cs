using System.Net;
using Microsoft.Extensions.Logging;

namespace HaKit.Transport;

/// <summary>
/// One heartbeat link (Heartbeat's <c>ucast</c>/<c>mcast</c> media): a path that carries opaque,
/// already-authenticated packets between this node and its peers. A node may run several links at once;
/// a peer is reachable while any link to it is up.
/// </summary>
/// <remarks>
/// Transports know nothing about envelopes, keys or cluster state: they move bytes. Sending is
/// "to every peer on this link" (unicast: each configured peer address; multicast: the group).
/// Implementations must never throw out of their receive loop; socket faults are reported through
/// <see cref="IPacketReceiver.OnTransportFault"/> and the loop goes on.
/// </remarks>
public interface IHeartbeatTransport : IAsyncDisposable
{
    /// <summary>The link name, unique per node (for example <c>lan0</c>); appears in logs, events and metrics.</summary>
    string LinkName { get; }

    /// <summary>
    /// Starts receiving. Every packet is handed to <paramref name="receiver"/> on a thread of the transport's choosing
    /// (a thread-pool thread for UDP, the sender's thread for the in-memory network); receivers must not assume a fixed thread
    /// and must return quickly.
    /// </summary>
    /// <param name="receiver">Where received packets go.</param>
    /// <param name="cancellationToken">Cancels start-up (binding sockets, joining groups).</param>
    ValueTask StartAsync(IPacketReceiver receiver, CancellationToken cancellationToken);

    /// <summary>Sends one packet to every peer on this link. Never throws for network errors; they are reported as faults.</summary>
    /// <param name="packet">The encoded envelope.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken);
}

/// <summary>Receives packets and faults from a transport.</summary>
public interface IPacketReceiver
{
    /// <summary>Called for every datagram received on <paramref name="link"/>. The span is only valid during the call.</summary>
    /// <param name="link">The link that received the packet.</param>
    /// <param name="packet">The raw packet bytes.</param>
    void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet);

    /// <summary>Called when a link's socket reports an error (the receive loop continues).</summary>
    /// <param name="link">The link that failed.</param>
    /// <param name="error">What went wrong.</param>
    void OnTransportFault(IHeartbeatTransport link, Exception error);

    /// <summary>
    /// Called when a connection-oriented link has evidence that <paramref name="peer"/>'s process is gone: its connection ended
    /// without the peer's goodbye and an immediate reconnect was refused (the host answers, nothing listens). A crash hint, not a
    /// verdict: the node weighs it against its other links (docs/architecture.md, "The crash hint"). The default ignores it.
    /// </summary>
    /// <param name="link">The link that saw it.</param>
    /// <param name="peer">The peer's node name.</param>
    /// <param name="evidence">What the link saw, for logs and the role change's explanation (for example <c>connection reset on link grpc0, reconnect refused</c>).</param>
    void OnPeerProcessGone(IHeartbeatTransport link, string peer, string evidence)
    {
    }

    /// <summary>
    /// Called when a datagram link learns that nothing listens at <paramref name="destination"/> any more: the kernel reported an
    /// ICMP port unreachable for a datagram sent there (only a socket connected to its one peer can tell). Not a fault of the link;
    /// after a crash hint from another link it is that peer's answer to the hint's probe (docs/architecture.md, "The crash hint").
    /// The default ignores it.
    /// </summary>
    /// <param name="link">The link that saw it.</param>
    /// <param name="destination">The peer address whose port was unreachable.</param>
    void OnPeerPortUnreachable(IHeartbeatTransport link, EndPoint destination)
    {
    }
}

/// <summary>
/// Creates the heartbeat transport of one link kind that the core library does not build itself (for example
/// <see cref="LinkKind.Grpc"/>, supplied by the HaKit.Grpc package's <c>UseGrpcLinks()</c>).
/// </summary>
public interface IHeartbeatLinkFactory
{
    /// <summary>The link kind this factory builds.</summary>
    LinkKind Kind { get; }

    /// <summary>Creates the local node's (unstarted) transport for <paramref name="link"/>.</summary>
    /// <param name="options">The validated cluster configuration (the local node is <see cref="HaKitOptions.NodeName"/>; addresses are <c>HaKit:Nodes[i]:Addresses:&lt;link&gt;</c>).</param>
    /// <param name="link">The link, one of <see cref="HaKitOptions.Links"/>.</param>
    /// <param name="loggerFactory">The node's logger factory.</param>
    /// <returns>The transport; not started.</returns>
    /// <exception cref="HaKitConfigurationException">A value is unusable (a certificate file that does not exist, say); the message names the key, the value and the fix.</exception>
    IHeartbeatTransport Create(HaKitOptions options, LinkOptions link, ILoggerFactory loggerFactory);
}
