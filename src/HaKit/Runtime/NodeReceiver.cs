using System.Collections.Concurrent;
using System.Net;
using HaKit.Diagnostics;
using HaKit.Ownership;
using HaKit.Transport;
using HaKit.Wire;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// Where a node's links hand received packets (on their own threads, never the loop's): routed by the <see cref="InboundRouter"/>
/// (envelope, MAC, replay, payload) there, and only authentic heartbeats posted to the loop, at most <see cref="MaxPendingHeartbeats"/>
/// at a time. Drops (by the router, or by a link before parsing) are counted per <see cref="DropReason"/> and logged once per run
/// and reason, then summarized per interval; transport faults likewise (a partition fails every send of every heartbeat).
/// </summary>
internal sealed class NodeReceiver(InboundRouter router, NodeLoop loop, ILogger logger, TimeProvider time) : IPacketReceiver, IPacketDropSink, IDisposable
{
    /// <summary>
    /// Received heartbeats waiting for the loop, at most: a stalled loop's queue cannot grow without bound. Only authentic, fresh
    /// heartbeats are ever queued (junk, forgeries and replays are dropped on the link's thread), so this is reached only when the
    /// loop is stalled for many intervals; a refused heartbeat is counted as <see cref="DropReason.RateLimited"/>.
    /// </summary>
    internal const int MaxPendingHeartbeats = 256;

    private static readonly string[] ReasonNames = Enum.GetNames<DropReason>();

    private readonly LogAggregator _faults = new(logger, time);
    private readonly LogAggregator _drops = new(logger, time);
    private readonly ConcurrentDictionary<string, string[]> _dropKeys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HeardFrom> _heard = new(StringComparer.Ordinal); // lock: itself
    private int _pending;

    /// <summary>
    /// The peers' datagram addresses by (link, address), to name the peer whose port a link found closed
    /// (<see cref="OnPeerPortUnreachable"/>); empty when not set.
    /// </summary>
    internal IReadOnlyDictionary<(string Link, EndPoint Address), string> PeerByAddress { get; init; } = new Dictionary<(string, EndPoint), string>();

    /// <summary>Builds <see cref="PeerByAddress"/> from the configured unicast addresses of the other nodes (a host name or a multicast link has none).</summary>
    /// <param name="options">The node's options.</param>
    internal static Dictionary<(string Link, EndPoint Address), string> PeerAddresses(HaKitOptions options)
    {
        var map = new Dictionary<(string, EndPoint), string>();
        foreach (var node in options.Nodes)
        {
            if (string.Equals(node.Name, options.NodeName, StringComparison.Ordinal) || node.Addresses is null)
            {
                continue;
            }

            foreach (var (link, address) in node.Addresses)
            {
                if (IPEndPoint.TryParse(address, out var endPoint) && endPoint.Port != 0)
                {
                    map[(link, endPoint)] = node.Name;
                }
            }
        }

        return map;
    }

    /// <summary>
    /// How long a heartbeat that only proves life (<see cref="OnlyProvesLife"/>) may wait for the loop's next planned wake-up instead of
    /// waking it (<see cref="NodeLoop.PostDeferred"/>); <see cref="TimeSpan.Zero"/>: every heartbeat wakes the loop. The node sets
    /// its heartbeat interval: an idle loop wakes for its own heartbeats anyway, and takes the peers' with it.
    /// </summary>
    internal TimeSpan DeferWithin { get; init; }

    /// <summary>
    /// Whether a received heartbeat only proves life again: the same sender incarnation announcing the same as its previous
    /// heartbeat (every field but the announcement number), no probe and no goodbye, on a link that carried the sender's previous
    /// heartbeat at most 1.5 × <see cref="DeferWithin"/> earlier (a steady flow: nothing the detector could have marked late). The
    /// core gains nothing from taking it at once: its receive time goes with it, and the loop's next wake-up runs it before the
    /// tick. Anything else (a new role, epoch, handoff, a probe, the first heartbeat after a gap or a restart) wakes the loop.
    /// Records the heartbeat as the sender's latest in any case. Thread-safe (each link receives on its own thread).
    /// </summary>
    internal bool OnlyProvesLife(string sender, string link, ulong incarnation, HeartbeatMessage heartbeat, TimeSpan now)
    {
        if (DeferWithin <= TimeSpan.Zero)
        {
            return false;
        }

        lock (_heard)
        {
            if (!_heard.TryGetValue(sender, out var heard))
            {
                heard = new HeardFrom();
                _heard.Add(sender, heard);
            }

            var steady = heard.Incarnation == incarnation
                && heard.Last is { } last
                && SameAnnouncement(last, heartbeat)
                && heard.ArrivalByLink.TryGetValue(link, out var previous)
                && now - previous <= DeferWithin + DeferWithin / 2;
            if (heard.Incarnation != incarnation)
            {
                heard.ArrivalByLink.Clear();
            }

            heard.Incarnation = incarnation;
            heard.Last = heartbeat;
            heard.ArrivalByLink[link] = now;
            return steady;
        }
    }

    /// <summary>Whether two heartbeats of one sender announce the same (every field but the announcement number), neither a probe nor a goodbye.</summary>
    internal static bool SameAnnouncement(HeartbeatMessage a, HeartbeatMessage b)
    {
        if (a.Probe || b.Probe || a.Leaving || b.Leaving || a.Priority != b.Priority || a.Reachability != b.Reachability || a.Groups.Count != b.Groups.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Groups.Count; i++)
        {
            if (a.Groups[i] != b.Groups[i])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Each sender's last heartbeat, so that one repeating it in all but its announcement number skips the parse (see
    /// <see cref="SteadyHeartbeats"/>); <see langword="null"/>: every payload is parsed.
    /// </summary>
    internal SteadyHeartbeats? Steady { get; init; }

    /// <summary>Heartbeats posted to the loop and not yet taken in.</summary>
    internal int PendingHeartbeats => Volatile.Read(ref _pending);

    /// <inheritdoc />
    public void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
    {
        var linkName = link.LinkName;
        var routed = router.Route(packet, linkName, Steady);
        if (routed.Heartbeat is { } heartbeat)
        {
            if (Interlocked.Increment(ref _pending) > MaxPendingHeartbeats)
            {
                Interlocked.Decrement(ref _pending);
                router.CountDrop(DropReason.RateLimited);
                NoteDrop(linkName, DropReason.RateLimited);
                return;
            }

            var now = loop.Now;
            var sender = routed.Sender!;
            var incarnation = routed.Incarnation;
            Action deliver = () =>
            {
                Interlocked.Decrement(ref _pending);
                loop.Core.Receive(now, sender, linkName, incarnation, heartbeat);
            };
            if (OnlyProvesLife(sender, linkName, incarnation, heartbeat, now) && loop.PostDeferred(deliver, DeferWithin))
            {
                return;
            }

            if (!loop.Post(deliver))
            {
                Interlocked.Decrement(ref _pending);
            }
        }
        else if (routed.Kind == InboundKind.Dropped)
        {
            NoteDrop(linkName, routed.WireReason);
        }
    }

    /// <inheritdoc />
    public void OnPacketDropped(IHeartbeatTransport link, DropReason reason)
    {
        router.CountDrop(reason);
        NoteDrop(link.LinkName, reason);
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
        loop.Post(() =>
        {
            TakeoverTrace.Mark("loop.hint.step");
            loop.Core.PeerProcessGone(now, peer, linkName, evidence);
            if (loop.Core.CrashHintDueAt(peer) is { } due && due > loop.Now)
            {
                // The hint qualifies once the other links were silent for an interval: look again then, not at the next tick.
                loop.WakeAt(due);
            }
        });
        TakeoverTrace.Mark("loop.hint.posted");
        RuntimeLog.CrashHintReceived(logger, linkName, peer, evidence); // after the post: the log line is not on the takeover's path
    }

    /// <inheritdoc />
    public void OnPeerPortUnreachable(IHeartbeatTransport link, EndPoint destination)
    {
        var linkName = link.LinkName;
        if (!PeerByAddress.TryGetValue((linkName, destination), out var peer))
        {
            return;
        }

        var now = loop.Now;
        loop.Post(() =>
        {
            TakeoverTrace.Mark("loop.portclosed.step");
            loop.Core.PeerPortClosed(now, peer, linkName);
        });
        TakeoverTrace.Mark("udp.portclosed.posted");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _faults.Dispose();
        _drops.Dispose();
    }

    /// <summary>
    /// Logs the first drop of a run per link and reason, then one summary per interval with the count (allocation-free after the
    /// first drop of a link). Our own multicast packets looping back (<see cref="DropReason.FromSelf"/>) and network duplicates
    /// (<see cref="DropReason.Replayed"/>) are routine: counted, not logged.
    /// </summary>
    private void NoteDrop(string link, DropReason reason)
    {
        if (reason is DropReason.FromSelf or DropReason.Replayed || (uint)reason >= (uint)ReasonNames.Length)
        {
            return;
        }

        var keys = _dropKeys.GetOrAdd(link, static l => [.. ReasonNames.Select(r => $"Link {l}: datagrams dropped ({r})")]);
        if (_drops.Occurred(keys[(int)reason], ReasonNames[(int)reason]))
        {
            RuntimeLog.DatagramsDropping(logger, link, ReasonNames[(int)reason], _drops.Interval.TotalSeconds);
        }
    }

    /// <summary>The latest heartbeat of one sender, and when each link last carried one (<see cref="OnlyProvesLife"/>).</summary>
    private sealed class HeardFrom
    {
        public ulong Incarnation;
        public HeartbeatMessage? Last;
        public readonly Dictionary<string, TimeSpan> ArrivalByLink = new(StringComparer.Ordinal);
    }
}
