using HaKit.Diagnostics;
using HaKit.Transport;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// Where a node's links hand received packets (on their own threads): routed by the <see cref="InboundRouter"/>, heartbeats posted to the loop.
/// Transport faults are logged once per run and then summarized (a partition fails every send of every heartbeat).
/// </summary>
internal sealed class NodeReceiver(InboundRouter router, NodeLoop loop, ILogger logger, TimeProvider time) : IPacketReceiver, IDisposable
{
    private readonly LogAggregator _faults = new(logger, time);

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
    public void OnTransportFault(IHeartbeatTransport link, Exception error)
    {
        if (_faults.Occurred($"link {link.LinkName}: transport fault", error.Message))
        {
            RuntimeLog.TransportFault(logger, link.LinkName, error.Message);
        }
    }

    /// <inheritdoc />
    public void OnPeerProcessGone(IHeartbeatTransport link, string peer, string evidence)
    {
        var now = loop.Now;
        var linkName = link.LinkName;
        RuntimeLog.CrashHintReceived(logger, linkName, peer, evidence);
        loop.Post(() =>
        {
            loop.Core.PeerProcessGone(now, peer, linkName, evidence);
            if (loop.Core.CrashHintDueAt(peer) is { } due && due > loop.Now)
            {
                // The hint qualifies once the other links were silent for an interval: look again then, not at the next tick.
                loop.WakeAt(due);
            }
        });
    }

    /// <inheritdoc />
    public void Dispose() => _faults.Dispose();
}
