namespace HaKit.Wire;

/// <summary>
/// Why a packet was dropped: by <see cref="EnvelopeCodec.TryOpen"/> (<see cref="Oversized"/> to <see cref="Replayed"/>; the checks run
/// in the order of those members, so a packet is counted under the first check it fails) or, before the codec sees it, by the
/// transport (<see cref="UnknownSource"/>, <see cref="RateLimited"/>).
/// </summary>
public enum DropReason
{
    /// <summary>The packet is longer than the configured maximum packet size; it is dropped before it is parsed.</summary>
    Oversized = 0,

    /// <summary>A varint or a length-delimited field runs past the end of the packet (a cut datagram or a corrupted length).</summary>
    Truncated = 1,

    /// <summary>
    /// The packet is not an envelope in HaKit's encoding: a wrong wire type, an unknown, duplicate or out-of-order field,
    /// a missing required field (cluster, sender, sequence, key id, mac), a zero sequence, a key id above 32 bits,
    /// an over-long varint, or a mac that is not the last field or not exactly 32 bytes.
    /// </summary>
    Malformed = 2,

    /// <summary>The envelope names another cluster (compared byte by byte on the UTF-8 name): another cluster shares the network or port.</summary>
    WrongCluster = 3,

    /// <summary>The sender is not one of the known nodes of this cluster (a misconfigured node, or a node removed from the configuration).</summary>
    UnknownSender = 4,

    /// <summary>The sender is the local node: multicast loops our own packets back, and a copied configuration may reuse our name.</summary>
    FromSelf = 5,

    /// <summary>The envelope's key id is not among the accepted keys (a key rotation half done, or a removed key).</summary>
    UnknownKey = 6,

    /// <summary>The HMAC-SHA256 does not match: the packet was corrupted or forged, or the sender's secret for this key id differs.</summary>
    BadMac = 7,

    /// <summary>
    /// The packet was authentic but already seen, older than the 64-packet replay window, or from an older incarnation
    /// of the sender (a replay attack, or a duplicate made by the network).
    /// </summary>
    Replayed = 8,

    /// <summary>
    /// The datagram came from an address and port that is not a configured peer of the link (a UDP unicast link with peers):
    /// dropped by the transport before any parsing or MAC, so a flood from elsewhere on the network costs only the receive.
    /// </summary>
    UnknownSource = 9,

    /// <summary>
    /// The datagram came from a configured peer's address and port, but above the per-source rate the transport parses
    /// (forged traffic in the peer's name, or a looping sender): dropped by the transport before any parsing or MAC.
    /// Also counts a heartbeat refused because the node's loop already had too many received heartbeats waiting.
    /// </summary>
    RateLimited = 10,
}
