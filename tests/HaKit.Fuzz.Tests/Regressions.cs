using System.Net;
using HaKit.Runtime;
using HaKit.Wire;

namespace HaKit.Fuzz.Tests;

/// <summary>
/// Pinned hostile inputs: every crash or hang a fuzz run finds is added here with its bytes (hex) and a name saying what it
/// broke, next to the fix. None has been found so far; these pin the hand-picked edge cases the fuzzers aim at, so a change
/// that breaks them fails fast and by name.
/// </summary>
[TestFixture]
public sealed class Regressions : IDisposable
{
    private readonly AuthKeyRing _keys = EnvelopeCodecFuzzTests.Keys(1);

    public void Dispose() => _keys.Dispose();

    [TestCase("", DropReason.Malformed, TestName = "An_empty_datagram_is_malformed")]
    [TestCase("0A", DropReason.Truncated, TestName = "A_lone_cluster_tag_is_truncated")]
    [TestCase("0AFFFFFFFFFFFFFFFFFF01", DropReason.Truncated, TestName = "A_cluster_length_of_2_to_the_64_minus_1_is_truncated_not_an_overflow")]
    [TestCase("0AFFFFFFFFFFFFFFFFFFFF01", DropReason.Malformed, TestName = "An_eleven_byte_varint_is_malformed")]
    [TestCase("0A0464656D6F0A0464656D6F", DropReason.Malformed, TestName = "A_repeated_field_is_malformed")]
    [TestCase("0A0464656D6F120161200128013A050102030405", DropReason.Malformed, TestName = "A_mac_that_is_not_32_bytes_is_malformed")]
    [TestCase("0A0464656D6F12016120012801", DropReason.Malformed, TestName = "An_envelope_without_a_mac_is_malformed")]
    [TestCase("0A0464656D6F120161200128FFFFFFFF1F", DropReason.Malformed, TestName = "A_key_id_above_32_bits_is_malformed")]
    public void Pinned_envelopes_are_dropped_with_their_reason(string hex, DropReason expected)
    {
        var stats = new WireStats();
        var codec = new EnvelopeCodec("demo", "b", ["a", "b"], 1, _keys, 1400, stats);
        var opened = codec.TryOpen(Convert.FromHexString(hex), out _, out var reason);
        Assert.That(opened, Is.False);
        Assert.That(reason, Is.EqualTo(expected));
        Assert.That(stats.TotalDropped, Is.EqualTo(1));
    }

    [Test]
    public void A_heartbeat_with_a_role_this_version_does_not_know_is_dropped_as_malformed()
    {
        var codec = new EnvelopeCodec("demo", "b", ["a", "b"], 1, _keys, 1400, new WireStats());
        var sender = new EnvelopeCodec("demo", "a", ["a", "b"], 1, _keys, 1400, new WireStats());
        // ClusterMessage { heartbeat { groups { name: "web" role: 99 } } }
        var payload = Convert.FromHexString("0A0912070A037765621063");
        var packet = new byte[1400];
        var length = sender.Encode(payload, packet);
        var routed = new InboundRouter(codec).Route(packet.AsSpan(0, length), "lan0");
        Assert.That(routed.Kind, Is.EqualTo(InboundKind.Dropped));
        Assert.That(routed.Drop, Is.EqualTo(InboundDrop.MalformedHeartbeat));
    }

    [Test]
    public void The_largest_udp_datagram_is_dropped_as_oversized()
    {
        var codec = new EnvelopeCodec("demo", "b", ["a", "b"], 1, _keys, 1400, new WireStats());
        Assert.That(codec.TryOpen(new byte[IPEndPoint.MaxPort], out _, out var reason), Is.False);
        Assert.That(reason, Is.EqualTo(DropReason.Oversized));
    }
}
