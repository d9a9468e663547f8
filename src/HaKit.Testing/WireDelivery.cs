namespace HaKit.Testing;

/// <summary>How the simulated network carries the nodes' messages (heartbeats, Witness-mode votes) between their processes.</summary>
public enum WireDelivery
{
    /// <summary>Full wire for one seed in eight (<see cref="Simulation.FullWireSeed"/>: <c>(Seed + Seed / 8) mod 8 = 0</c>), typed
    /// delivery for the others: the wire layer stays under test in every family, set-up and mix while most seeds run faster. Both
    /// give the same trace, line for line.</summary>
    Sampled = 0,

    /// <summary>Every message is encoded by the real payload codec and <c>EnvelopeCodec</c> (HMAC-SHA256) into bytes on each link, and
    /// the receiver opens the bytes (MAC, replay window) and parses the payload, as the node does.</summary>
    Full = 1,

    /// <summary>The message object travels instead of its bytes, with the envelope's fields (sender, incarnation, a sequence number
    /// from the sender's codec): the receiver's router runs the envelope checks that do not depend on the bytes (sender, replay
    /// window, counters) and everything after decoding (votes, heartbeat mapping); encoding, the MAC and parsing are skipped.</summary>
    Typed = 2,
}
