using HaKit.Ownership;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Runtime;

/// <summary>What an <see cref="InboundRouter"/> made of a received packet.</summary>
internal enum InboundKind
{
    /// <summary>The packet was dropped (<see cref="InboundPacket.Drop"/> says why); it is counted.</summary>
    Dropped = 0,

    /// <summary>An authentic heartbeat: <see cref="InboundPacket.Heartbeat"/> goes to the ownership core (<see cref="OwnershipCore.Receive"/>).</summary>
    Heartbeat = 1,

    /// <summary>A Witness-mode vote message, already handed to this node's voter.</summary>
    Vote = 2,

    /// <summary>An admin request or reply (forwarded switchover or takeover), already handed to the node's admin forwarding.</summary>
    Admin = 3,
}

/// <summary>Why an <see cref="InboundRouter"/> dropped a packet.</summary>
internal enum InboundDrop
{
    /// <summary>Not dropped.</summary>
    None = 0,

    /// <summary>The wire layer refused the envelope (<see cref="InboundPacket.WireReason"/>: forged, replayed, another cluster, …).</summary>
    Wire = 1,

    /// <summary>The envelope was authentic but its payload is not a message this node handles (counted as <see cref="DropReason.Malformed"/>).</summary>
    MalformedPayload = 2,

    /// <summary>A heartbeat with values this version does not understand (counted as <see cref="DropReason.Malformed"/>).</summary>
    MalformedHeartbeat = 3,

    /// <summary>A vote message the voter does not accept from that sender (counted as <see cref="DropReason.Malformed"/>).</summary>
    VoteRejected = 4,
}

/// <summary>The outcome of routing one packet (see <see cref="InboundRouter.Route(ReadOnlySpan{byte}, string)"/>).</summary>
internal readonly struct InboundPacket
{
    internal InboundPacket(InboundKind kind, InboundDrop drop, DropReason wireReason, string? sender, ulong incarnation, ulong sequence, HeartbeatMessage? heartbeat)
    {
        Kind = kind;
        Drop = drop;
        WireReason = wireReason;
        Sender = sender;
        Incarnation = incarnation;
        Sequence = sequence;
        Heartbeat = heartbeat;
    }

    /// <summary>What the packet was.</summary>
    public InboundKind Kind { get; }

    /// <summary>Why it was dropped (<see cref="InboundDrop.None"/> unless <see cref="Kind"/> is <see cref="InboundKind.Dropped"/>).</summary>
    public InboundDrop Drop { get; }

    /// <summary>For <see cref="InboundDrop.Wire"/>: the wire layer's reason.</summary>
    public DropReason WireReason { get; }

    /// <summary>The authenticated sender (<see langword="null"/> when the wire layer dropped the packet).</summary>
    public string? Sender { get; }

    /// <summary>The sender's incarnation.</summary>
    public ulong Incarnation { get; }

    /// <summary>The envelope's sequence number on its link.</summary>
    public ulong Sequence { get; }

    /// <summary>For <see cref="InboundKind.Heartbeat"/>: the heartbeat.</summary>
    public HeartbeatMessage? Heartbeat { get; }
}

/// <summary>
/// The receive path shared by the node and the simulator: opens the envelope with the node's codec, decodes the payload, hands
/// Witness-mode vote messages to the node's voter and maps heartbeats for the ownership core; the caller posts the heartbeat to its
/// loop (the node) or schedules it (the simulator). Drops are counted per reason in the codec's <see cref="WireStats"/> and in the
/// <see cref="HaKitMetrics"/>, if given.
/// </summary>
/// <remarks>
/// Thread-safe (a node's links call it from their own threads). The payload is decoded into a per-thread reused message, so a steady
/// stream of heartbeats allocates only the mapped <see cref="HeartbeatMessage"/>.
/// </remarks>
internal sealed class InboundRouter
{
    [ThreadStatic]
    private static ClusterMessage? t_message;

    private readonly EnvelopeCodec _codec;
    private readonly HaKitMetrics? _metrics;
    private readonly string? _witnessName;
    private readonly Func<string, ClusterMessage, bool>? _votes;
    private readonly Func<string, ulong, ClusterMessage, bool>? _admin;

    /// <summary>Creates a router for heartbeats only (vote messages are dropped as malformed).</summary>
    /// <param name="codec">The receiving node's codec of this incarnation.</param>
    /// <param name="metrics">Where received heartbeats and drops are counted, if anywhere.</param>
    public InboundRouter(EnvelopeCodec codec, HaKitMetrics? metrics = null)
        : this(codec, metrics, null, null)
    {
    }

    /// <summary>Creates a router that also hands Witness-mode vote messages to <paramref name="votes"/>.</summary>
    /// <param name="codec">The receiving node's codec of this incarnation.</param>
    /// <param name="metrics">Where received heartbeats and drops are counted, if anywhere.</param>
    /// <param name="witnessName">The witness's name: a heartbeat claiming to come from it is not one.</param>
    /// <param name="votes">The node's voter: (authenticated sender, message) → whether it accepts the message.</param>
    /// <param name="admin">The node's admin forwarding: (authenticated sender, its incarnation, message) → whether it accepts the message.</param>
    internal InboundRouter(EnvelopeCodec codec, HaKitMetrics? metrics, string? witnessName, Func<string, ClusterMessage, bool>? votes,
        Func<string, ulong, ClusterMessage, bool>? admin = null)
    {
        ArgumentNullException.ThrowIfNull(codec);
        _codec = codec;
        _metrics = metrics;
        _witnessName = witnessName;
        _votes = votes;
        _admin = admin;
    }

    /// <summary>Counts a packet dropped before routing (by a link: <see cref="DropReason.UnknownSource"/>, <see cref="DropReason.RateLimited"/>).</summary>
    /// <param name="reason">Why.</param>
    public void CountDrop(DropReason reason)
    {
        _codec.Stats.RecordDropped(reason);
        _metrics?.Dropped(reason);
    }

    /// <summary>Routes one received packet.</summary>
    /// <param name="packet">The datagram (only read during the call).</param>
    /// <param name="link">The link it came on (for the metrics).</param>
    /// <returns>What it was; a heartbeat is for the caller to deliver to its core.</returns>
    public InboundPacket Route(ReadOnlySpan<byte> packet, string link) => Route(packet, link, null);

    /// <summary>Routes one received packet; a heartbeat that repeats its sender's previous one in all but its announcement number skips the parse (<paramref name="steady"/>).</summary>
    /// <param name="packet">The datagram (only read during the call).</param>
    /// <param name="link">The link it came on (for the metrics).</param>
    /// <param name="steady">The node's record of each sender's last heartbeat, or <see langword="null"/> to parse every payload.</param>
    /// <returns>What it was; a heartbeat is for the caller to deliver to its core.</returns>
    internal InboundPacket Route(ReadOnlySpan<byte> packet, string link, SteadyHeartbeats? steady)
    {
        if (!_codec.TryOpen(packet, out var envelope, out var reason))
        {
            _metrics?.Dropped(reason);
            return new InboundPacket(InboundKind.Dropped, InboundDrop.Wire, reason, null, 0, 0, null);
        }

        // Authentic and fresh (MAC, replay window): the same bytes as the sender's last heartbeat but for its number parse to the same.
        if (steady?.TryMatch(envelope.Sender, envelope.Incarnation, envelope.Payload) is { } repeat)
        {
            _metrics?.HeartbeatReceived(link);
            return new InboundPacket(InboundKind.Heartbeat, InboundDrop.None, default, envelope.Sender, envelope.Incarnation, envelope.Sequence, repeat);
        }

        // Taken, not shared, while in use: a vote handler may send, and an in-memory link delivers on the sender's thread.
        var message = t_message ?? new ClusterMessage();
        t_message = null;
        try
        {
            var routed = PayloadCodec.TryRead(envelope.Payload, message)
                ? Dispatch(envelope.Sender, envelope.Incarnation, envelope.Sequence, message, link)
                : Malformed(InboundDrop.MalformedPayload, envelope.Sender, envelope.Incarnation, envelope.Sequence);
            if (steady is not null && routed.Heartbeat is { } heartbeat)
            {
                steady.Remember(envelope.Sender, envelope.Incarnation, envelope.Payload, heartbeat);
            }

            return routed;
        }
        finally
        {
            t_message = message;
        }
    }

    /// <summary>
    /// Routes one message that arrives already decoded, with its envelope's fields, from a sender whose codec stamped it in the
    /// same process (the simulator's typed delivery): the envelope checks that do not depend on the bytes (from self, unknown sender,
    /// replay: <see cref="EnvelopeCodec.TryAcceptVouched"/>), then what <see cref="Route(ReadOnlySpan{byte}, string)"/> does after decoding the payload.
    /// </summary>
    /// <param name="sender">The sender's name.</param>
    /// <param name="incarnation">The sender's incarnation.</param>
    /// <param name="sequence">The envelope's sequence number.</param>
    /// <param name="message">The decoded payload (only read).</param>
    /// <param name="link">The link it came on (for the metrics).</param>
    /// <returns>What it was, as <see cref="Route(ReadOnlySpan{byte}, string)"/> returns it.</returns>
    internal InboundPacket RouteDecoded(string sender, ulong incarnation, ulong sequence, ClusterMessage message, string link)
    {
        if (!_codec.TryAcceptVouched(sender, incarnation, sequence, out var knownSender, out var reason))
        {
            _metrics?.Dropped(reason);
            return new InboundPacket(InboundKind.Dropped, InboundDrop.Wire, reason, null, 0, 0, null);
        }

        // One message object reaches a receiver on every link, and again as a duplicate or a replay: mapped once (the mapping is
        // a pure function of a message nobody writes to, and its result is immutable).
        if (ReferenceEquals(message, _decoded.Message) && knownSender != _witnessName)
        {
            _metrics?.HeartbeatReceived(link);
            return new InboundPacket(InboundKind.Heartbeat, InboundDrop.None, default, knownSender!, incarnation, sequence, _decoded.Heartbeat);
        }

        var routed = Dispatch(knownSender!, incarnation, sequence, message, link);
        if (routed.Heartbeat is { } heartbeat)
        {
            _decoded = (message, heartbeat);
        }

        return routed;
    }

    /// <summary>The last heartbeat <see cref="RouteDecoded"/> mapped, and the message it came from.</summary>
    private (ClusterMessage? Message, HeartbeatMessage? Heartbeat) _decoded;

    /// <summary>What follows decoding: votes to the voter, admin messages to the admin forwarding, heartbeats mapped for the core.</summary>
    private InboundPacket Dispatch(string sender, ulong incarnation, ulong sequence, ClusterMessage message, string link)
    {
        var drop = InboundDrop.MalformedPayload;
        if (message.BodyCase == ClusterMessage.BodyOneofCase.Heartbeat && sender != _witnessName)
        {
            if (HeartbeatMapper.FromProto(message.Heartbeat) is { } heartbeat)
            {
                _metrics?.HeartbeatReceived(link);
                return new InboundPacket(InboundKind.Heartbeat, InboundDrop.None, default, sender, incarnation, sequence, heartbeat);
            }

            drop = InboundDrop.MalformedHeartbeat;
        }
        else if (message.BodyCase is ClusterMessage.BodyOneofCase.VoteRequest or ClusterMessage.BodyOneofCase.VoteReply or ClusterMessage.BodyOneofCase.VoteRelease
            && _votes is not null)
        {
            if (_votes(sender, message))
            {
                return new InboundPacket(InboundKind.Vote, InboundDrop.None, default, sender, incarnation, sequence, null);
            }

            drop = InboundDrop.VoteRejected;
        }
        else if (message.BodyCase is ClusterMessage.BodyOneofCase.AdminRequest or ClusterMessage.BodyOneofCase.AdminReply
            && _admin is not null && sender != _witnessName)
        {
            if (_admin(sender, incarnation, message))
            {
                return new InboundPacket(InboundKind.Admin, InboundDrop.None, default, sender, incarnation, sequence, null);
            }
        }

        return Malformed(drop, sender, incarnation, sequence);
    }

    private InboundPacket Malformed(InboundDrop drop, string sender, ulong incarnation, ulong sequence)
    {
        _codec.Stats.RecordDropped(DropReason.Malformed);
        _metrics?.Dropped(DropReason.Malformed);
        return new InboundPacket(InboundKind.Dropped, drop, DropReason.Malformed, sender, incarnation, sequence, null);
    }
}
