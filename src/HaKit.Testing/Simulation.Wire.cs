using System.Globalization;
using HaKit.Ownership;
using HaKit.Runtime;
using HaKit.Wire;
using HaKit.Wire.Proto;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// The wire: heartbeats sent on every link through the real EnvelopeCodec, the network's faults on the way (loss, delay,
// duplication, reordering, replays of captured packets, cuts), and the receive path through the runtime's InboundRouter.
public sealed partial class Simulation
{
    private void SendHeartbeat(SimulatedNode n, HeartbeatMessage message)
    {
        if (Options.RecordTrace)
        {
            Record(n.Name, "msg", $"send {Describe(message)}");
        }

        SendOnLinks(n, HeartbeatMapper.ToProto(message), null);
    }

    /// <summary>Sends one message on every link, one envelope per link (each link carries its own sequence number), to every other node or only to <paramref name="only"/>.</summary>
    private void SendOnLinks(SimulatedNode n, ClusterMessage message, SimulatedNode? only)
    {
        // Typed delivery: the message itself travels, with a sequence number consumed from the sender's codec per link as Encode
        // consumes it. A message that might not fit in a packet takes the wire path, which fails as the node's send would.
        if (_typedWire && message.CalculateSize() <= n.Codec.MaxPayloadLength)
        {
            for (var l = 0; l < _links.Length; l++)
            {
                var packet = new TypedPacket(n.Name, n.Codec.Incarnation, n.Codec.NextSequence(), message);
                foreach (var peer in _nodes)
                {
                    if (peer != n && (only is null || peer == only))
                    {
                        Transmit(n, peer, l, packet);
                    }
                }
            }

            return;
        }

        var length = PayloadCodec.Write(message, _payload);
        for (var l = 0; l < _links.Length; l++)
        {
            var size = n.Codec.Encode(_payload.AsSpan(0, length), _send);
            var bytes = _send.AsSpan(0, size).ToArray();
            foreach (var peer in _nodes)
            {
                if (peer != n && (only is null || peer == only))
                {
                    Transmit(n, peer, l, bytes);
                }
            }
        }
    }

    private void Transmit(SimulatedNode from, SimulatedNode to, int link, object bytes)
    {
        var key = (from.Index, to.Index, link);
        if (_cuts.IsCut(key))
        {
            if (Options.RecordTrace)
            {
                Record(from.Name, "drop", $"->{to.Name} {_links[link]}: link cut");
            }

            return;
        }

        var f = _faultsOn ? _faults : null;
        if (f is not null && Chance(f.Loss))
        {
            if (Options.RecordTrace)
            {
                Record(from.Name, "drop", $"->{to.Name} {_links[link]}: lost");
            }

            return;
        }

        Deliver(from, to, link, bytes, PacketDelay(f, to), 0);
        if (f is null)
        {
            return;
        }

        if (Chance(f.Duplicate))
        {
            Deliver(from, to, link, bytes, PacketDelay(f, to), 1);
        }

        var old = _captured[_cuts.Slot(key)] ??= [];

        if (f.Replay > 0 && old.Count > 0 && Chance(f.Replay))
        {
            Deliver(from, to, link, old[Random.Next(old.Count)], PacketDelay(f, to), 2);
        }

        if (f.Replay > 0)
        {
            if (old.Count >= 16)
            {
                old.RemoveAt(Random.Next(old.Count));
            }

            old.Add(bytes);
        }
    }

    private TimeSpan PacketDelay(FaultProfile? f, SimulatedNode to)
    {
        var delay = Draw(f?.NetworkDelay ?? Options.Faults.NetworkDelay);
        if (f is null)
        {
            return delay;
        }

        if (to.NextTickAt > Now && Chance(f.EdgeBias))
        {
            return to.NextTickAt - Now; // arrives in the same instant as the receiver's next timer
        }

        if (Chance(f.Delay))
        {
            delay += Draw(f.Jitter);
        }

        if (Chance(f.Reorder))
        {
            delay += Options.Cluster.Timing.Interval * (1 + (Random.NextDouble() * 2));
        }

        return delay;
    }

    /// <summary>The receive path of the node's current incarnation: the runtime's <see cref="InboundRouter"/> over its codec, votes to its voter.</summary>
    private string _inboundLink = "";
    private string _inboundNote = "";

    private (InboundRouter Router, SteadyHeartbeats Steady) Router(SimulatedNode to)
    {
        if (to.Router is { } r && r.Codec == to.Codec)
        {
            return (r.Router, r.Steady);
        }

        return CreateRouter(to);
    }

    // Out of Router: the lambda captures the node, and its closure would be allocated at every call of Router.
    private (InboundRouter Router, SteadyHeartbeats Steady) CreateRouter(SimulatedNode to)
    {
        var router = new InboundRouter(to.Codec, null, null, (sender, message) =>
        {
            if (to.Voter is not { } voter)
            {
                return false;
            }

            if (Options.RecordTrace)
            {
                Record(to.Name, "msg", $"<-{sender} {_inboundLink}{_inboundNote}: {message}");
            }

            voter.OnMessage(to.Clock.LocalNow, sender, message);
            return true;
        });
        var steady = new SteadyHeartbeats(); // the node's shortcut for repeated heartbeats, one per process as ClusterNode has it
        to.Router = (to.Codec, router, steady);
        return (router, steady);
    }

    /// <summary>Whether this run hands messages over typed (<see cref="WireDelivery"/>), decided once from the options and the seed.</summary>
    private readonly bool _typedWire;

    /// <summary>Whether a seed runs the full wire under <see cref="WireDelivery.Sampled"/>: one seed in eight, at a residue that moves by
    /// one every eight seeds ((seed + seed / 8) mod 8 = 0: 0, 15, 22, 29, ...), so every set-up, mix, node count and edge bias
    /// that cycles with the seed gets full-wire seeds.</summary>
    /// <param name="seed">The seed.</param>
    public static bool FullWireSeed(int seed) => ((long)seed + (seed / 8)) % 8 == 0;

    /// <summary>A message in typed delivery: what the envelope would carry (sender, its incarnation, the sequence number its codec
    /// gave) and the message object, shared by every receiver and duplicate (receivers only read it).</summary>
    private sealed record TypedPacket(string Sender, ulong Incarnation, ulong Sequence, ClusterMessage Message);

    /// <summary>The notes a delivery's trace lines carry (index in a delivery event).</summary>
    private static readonly string[] Notes = ["", " (duplicate)", " (replayed old packet)"];

    private void Deliver(SimulatedNode from, SimulatedNode to, int link, object bytes, TimeSpan delay, int note) =>
        Enqueue(Now + delay, new ScheduledEvent(EventKind.Deliver, to, to.Generation, null, bytes, from.Index | (link << 8) | (note << 16)));

    /// <summary>A packet arrives at the current process of <paramref name="to"/> (running, not stalled).</summary>
    private void Receive(SimulatedNode to, SimulatedNode from, int link, object packet, string note)
    {
        _inboundLink = _links[link];
        _inboundNote = note;
        var (router, steady) = Router(to);
        var routed = packet is TypedPacket typed
            ? router.RouteDecoded(typed.Sender, typed.Incarnation, typed.Sequence, typed.Message, _links[link])
            : router.Route((byte[])packet, _links[link], steady);
        switch (routed.Drop)
        {
            case InboundDrop.Wire:
                if (Options.RecordTrace)
                {
                    Record(to.Name, "drop", $"<-{from.Name} {_links[link]}{note}: wire layer dropped it ({routed.WireReason})");
                }

                return;
            case InboundDrop.MalformedPayload or InboundDrop.VoteRejected: // rejected only when the node has no voter (not Witness mode)
                Record(to.Name, "drop", $"<-{from.Name} {_links[link]}{note}: malformed payload");
                return;
            case InboundDrop.MalformedHeartbeat:
                Record(to.Name, "drop", $"<-{from.Name} {_links[link]}{note}: malformed heartbeat");
                return;
        }

        if (routed.Heartbeat is not { } heartbeat)
        {
            return; // a vote message, handed to the voter
        }

        var sender = routed.Sender!;
        var incarnation = routed.Incarnation;
        var senderNode = sender == from.Name ? from : this[sender]; // the node that sent it, unless a packet names another
        _lastHeard[PairSlot(to.Index, senderNode.Index)] = (Now, heartbeat);
        Observe(new HeartbeatDelivered(Now, to.Name, sender, _links[link], heartbeat) { NodeIndex = to.Index, FromIndex = senderNode.Index });
        if (Options.RecordTrace)
        {
            Record(to.Name, "msg", $"<-{sender} {_links[link]} inc {incarnation} seq {routed.Sequence}{note}: {Describe(heartbeat)}");
        }

        to.Core.Receive(to.Clock.LocalNow, sender, _links[link], incarnation, heartbeat);
    }
}
