using HaKit.Transport;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>Where a node's links hand received packets (on their own threads): routed by the <see cref="InboundRouter"/>, heartbeats posted to the loop.</summary>
internal sealed class NodeReceiver(InboundRouter router, NodeLoop loop, ILogger logger) : IPacketReceiver
{
    /// <inheritdoc />
    public void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
    {
        var now = loop.Now;
        var linkName = link.LinkName;
        var routed = router.Route(packet, linkName);
        if (routed.Heartbeat is { } heartbeat)
        {
            var sender = routed.Sender!;
            var incarnation = routed.Incarnation;
            loop.Post(() => loop.Core.Receive(now, sender, linkName, incarnation, heartbeat));
        }
    }

    /// <inheritdoc />
    public void OnTransportFault(IHeartbeatTransport link, Exception error) =>
        RuntimeLog.TransportFault(logger, link.LinkName, error.Message);
}
