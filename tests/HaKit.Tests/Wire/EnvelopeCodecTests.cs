using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Tests.Wire;

public sealed class EnvelopeCodecTests
{
    private WireKit _kit = null!;

    [SetUp]
    public void SetUp() => _kit = new WireKit();

    [TearDown]
    public void TearDown() => _kit.Dispose();

    [Test]
    public void TryPeekCluster_reads_the_claimed_cluster_and_rejects_garbage()
    {
        byte[] packet = WireKit.Encode(_kit.Codec("alpha"), [1, 2, 3]);
        Assert.That(EnvelopeCodec.TryPeekCluster(packet, out var cluster), Is.True);
        Assert.That(Encoding.UTF8.GetString(cluster), Is.EqualTo(WireKit.Cluster));
        Assert.That(EnvelopeCodec.TryPeekCluster([], out _), Is.False);
        Assert.That(EnvelopeCodec.TryPeekCluster([0x0a, 0x7f, 0x41], out _), Is.False, "a length past the end");
        Assert.That(EnvelopeCodec.TryPeekCluster(packet.AsSpan(2).ToArray(), out _), Is.False, "not starting with field 1");
    }

    [Test]
    public void A_packet_opens_to_what_was_encoded_with_its_sender_incarnation_sequence_and_key()
    {
        EnvelopeCodec alpha = _kit.Codec("alpha", incarnation: 7);
        var stats = new WireStats();
        EnvelopeCodec beta = _kit.Codec("beta", stats: stats);
        byte[] payload = Encoding.UTF8.GetBytes("hello heartbeat");

        for (ulong expectedSequence = 1; expectedSequence <= 3; expectedSequence++)
        {
            byte[] packet = WireKit.Encode(alpha, payload);
            bool opened = beta.TryOpen(packet, out OpenedEnvelope envelope, out _);

            Assert.That(opened, Is.True);
            Assert.That(envelope.SenderIndex, Is.Zero);
            Assert.That(ReferenceEquals(envelope.Sender, WireKit.Nodes[0]), Is.True, "Sender is the known-nodes instance");
            Assert.That(envelope.Incarnation, Is.EqualTo(7UL));
            Assert.That(envelope.Sequence, Is.EqualTo(expectedSequence));
            Assert.That(envelope.KeyId, Is.EqualTo(1U));
            Assert.That(envelope.Payload.ToArray(), Is.EqualTo(payload));
        }

        Assert.That(stats.Accepted, Is.EqualTo(3));
        Assert.That(stats.TotalDropped, Is.Zero);
        Assert.That(alpha.LastSequence, Is.EqualTo(3UL));
    }

    [Test]
    public void An_empty_payload_with_incarnation_zero_round_trips()
    {
        EnvelopeCodec alpha = _kit.Codec("alpha", incarnation: 0);
        EnvelopeCodec beta = _kit.Codec("beta");

        byte[] packet = WireKit.Encode(alpha, []);

        Assert.That(beta.TryOpen(packet, out OpenedEnvelope envelope, out _), Is.True);
        Assert.That(envelope.Payload.IsEmpty, Is.True);
        Assert.That(envelope.Incarnation, Is.Zero);
    }

    [Test]
    public void An_encoded_packet_is_the_generated_Envelope_byte_for_byte_with_the_mac_over_what_precedes_it()
    {
        EnvelopeCodec alpha = _kit.Codec("alpha", incarnation: 300);
        byte[] payload = new byte[200];
        new Random(1).NextBytes(payload);

        byte[] packet = WireKit.Encode(alpha, payload);
        Envelope parsed = Envelope.Parser.ParseFrom(packet);

        Assert.That(parsed.Cluster, Is.EqualTo(WireKit.Cluster));
        Assert.That(parsed.Sender, Is.EqualTo("alpha"));
        Assert.That(parsed.Incarnation, Is.EqualTo(300UL));
        Assert.That(parsed.Sequence, Is.EqualTo(1UL));
        Assert.That(parsed.KeyId, Is.EqualTo(1U));
        Assert.That(parsed.Payload.ToByteArray(), Is.EqualTo(payload));
        Assert.That(parsed.Mac.Length, Is.EqualTo(32));

        // The mac is HMAC-SHA256 over every byte before field 7's tag, and field 7 is last.
        int signed = packet.Length - 34;
        Assert.That(packet[signed], Is.EqualTo((byte)0x3A));
        Assert.That(packet[signed + 1], Is.EqualTo((byte)32));
        byte[] expectedMac = HMACSHA256.HashData(WireKit.SecretBytes(1), packet.AsSpan(0, signed));
        Assert.That(parsed.Mac.ToByteArray(), Is.EqualTo(expectedMac));

        // Byte-for-byte the canonical encoding Google.Protobuf writes.
        Assert.That(parsed.ToByteArray(), Is.EqualTo(packet));
    }

    [Test]
    public void A_generated_Envelope_signed_by_the_proto_rule_opens()
    {
        var stats = new WireStats();
        EnvelopeCodec beta = _kit.Codec("beta", stats: stats);
        byte[] payload = [9, 8, 7, 6];
        byte[] packet = WireKit.SignGenerated(WireKit.Generated("gamma", sequence: 42, incarnation: 5, payload: payload), WireKit.SecretBytes(1));

        Assert.That(beta.TryOpen(packet, out OpenedEnvelope envelope, out _), Is.True);
        Assert.That(envelope.Sender, Is.EqualTo("gamma"));
        Assert.That(envelope.SenderIndex, Is.EqualTo(2));
        Assert.That(envelope.Sequence, Is.EqualTo(42UL));
        Assert.That(envelope.Incarnation, Is.EqualTo(5UL));
        Assert.That(envelope.Payload.ToArray(), Is.EqualTo(payload));
        Assert.That(stats.Accepted, Is.EqualTo(1));
    }

    [Test]
    public void Encoding_into_a_too_small_destination_is_rejected()
    {
        EnvelopeCodec alpha = _kit.Codec("alpha");
        var small = new byte[40];

        Assert.That(() => alpha.Encode(new byte[10], small), Throws.ArgumentException.With.Property("ParamName").EqualTo("destination"));
    }

    [Test]
    public void MaxPayloadLength_fits_and_a_packet_above_the_maximum_size_is_refused()
    {
        EnvelopeCodec alpha = _kit.Codec("alpha", maxPacketSize: 256);
        var destination = new byte[4096];

        Assert.That(alpha.Encode(new byte[alpha.MaxPayloadLength], destination), Is.LessThanOrEqualTo(256));
        Assert.That(() => alpha.Encode(new byte[257 - 34], destination), Throws.ArgumentException.With.Property("ParamName").EqualTo("payload"));
        Assert.That(() => alpha.Encode(new byte[100_000], destination), Throws.ArgumentException);
    }

    [Test]
    public void The_constructor_rejects_empty_names_duplicate_nodes_and_a_tiny_packet_size()
    {
        AuthKeyRing ring = _kit.Ring();
        var stats = new WireStats();

        Assert.That(() => new EnvelopeCodec("", "a", ["a"], 1, ring, 1400, stats), Throws.ArgumentException);
        Assert.That(() => new EnvelopeCodec("c", "", ["a"], 1, ring, 1400, stats), Throws.ArgumentException);
        Assert.That(() => new EnvelopeCodec("c", "a", ["a", "b", "a"], 1, ring, 1400, stats), Throws.ArgumentException.With.Message.Contains("'a'"));
        Assert.That(() => new EnvelopeCodec("c", "a", ["a", ""], 1, ring, 1400, stats), Throws.ArgumentException);
        Assert.That(() => new EnvelopeCodec("c", "a", ["a"], 1, ring, 40, stats), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    // ---- one test per drop reason: exactly that reason, exactly that counter ----

    [Test]
    public void A_packet_above_the_maximum_size_is_dropped_as_Oversized()
    {
        EnvelopeCodec alpha = _kit.Codec("alpha", maxPacketSize: 2000);
        var stats = new WireStats();
        EnvelopeCodec beta = _kit.Codec("beta", stats: stats, maxPacketSize: 300);
        byte[] packet = WireKit.Encode(alpha, new byte[301 - 40]);
        Assert.That(packet.Length, Is.GreaterThan(300));

        AssertDrop(beta, packet, DropReason.Oversized, stats);
    }

    [Test]
    public void A_packet_of_exactly_the_maximum_size_is_accepted()
    {
        EnvelopeCodec alpha = _kit.Codec("alpha", maxPacketSize: 300);
        EnvelopeCodec beta = _kit.Codec("beta", maxPacketSize: 300);
        var buffer = new byte[300];
        int payloadLength = alpha.MaxPayloadLength;
        while (FitsIn300(payloadLength + 1))
        {
            payloadLength++;
        }

        bool FitsIn300(int length)
        {
            try
            {
                return alpha.Encode(new byte[length], new byte[4096]) <= 300;
            }
            catch (ArgumentException)
            {
                return false;
            }
        }

        int n = alpha.Encode(new byte[payloadLength], buffer);

        Assert.That(n, Is.EqualTo(300));
        Assert.That(beta.TryOpen(buffer, out _, out _), Is.True);
        Assert.That(() => alpha.Encode(new byte[payloadLength + 1], new byte[4096]), Throws.ArgumentException);
    }

    [Test]
    public void A_packet_cut_short_is_dropped_as_Truncated()
    {
        var stats = new WireStats();
        EnvelopeCodec beta = _kit.Codec("beta", stats: stats);
        byte[] packet = WireKit.Encode(_kit.Codec("alpha"), new byte[50]);

        AssertDrop(beta, packet.AsSpan(0, packet.Length - 10).ToArray(), DropReason.Truncated, stats);
    }

    public static IEnumerable<TestCaseData> TruncatedPackets()
    {
        yield return new TestCaseData(new byte[] { 0x0A }).SetName("{m}(Truncated_LengthMissing)");
        yield return new TestCaseData(new byte[] { 0x0A, 0x05, 0x61 }).SetName("{m}(Truncated_LengthPastEnd)");
        yield return new TestCaseData(new byte[] { 0x0A, 0x01, 0x61, 0x12, 0x01, 0x62, 0x20, 0x80 }).SetName("{m}(Truncated_VarintPastEnd)");
        yield return new TestCaseData(new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F }).SetName("{m}(Truncated_HugeLength)");
        yield return new TestCaseData(new byte[] { 0x80 }).SetName("{m}(Truncated_TagPastEnd)");
    }

    [TestCaseSource(nameof(TruncatedPackets))]
    public void A_crafted_packet_ending_inside_a_field_is_dropped_as_Truncated(byte[] packet)
    {
        var stats = new WireStats();
        AssertDrop(_kit.Codec("beta", stats: stats), packet, DropReason.Truncated, stats);
    }

    public static IEnumerable<TestCaseData> MalformedPackets()
    {
        byte[] Valid(Action<List<byte>> edit)
        {
            // cluster "c", sender "alpha", seq 1, key 1, payload {1}, mac 32 zero bytes
            var bytes = new List<byte> { 0x0A, 1, (byte)'c', 0x12, 5 };
            bytes.AddRange("alpha"u8.ToArray());
            bytes.AddRange([0x20, 1, 0x28, 1, 0x32, 1, 1, 0x3A, 32]);
            bytes.AddRange(new byte[32]);
            edit(bytes);
            return bytes.ToArray();
        }

        yield return new TestCaseData(Array.Empty<byte>()).SetName("{m}(Malformed_Empty)");
        yield return new TestCaseData(Valid(b => b.InsertRange(0, [0x40, 1]))).SetName("{m}(Malformed_UnknownField8)");
        yield return new TestCaseData(Valid(b => b.InsertRange(0, [0x00]))).SetName("{m}(Malformed_FieldZero)");
        yield return new TestCaseData(Valid(b => b[0] = 0x08)).SetName("{m}(Malformed_WrongWireTypeCluster)");
        yield return new TestCaseData(Valid(b => b[10] = 0x22)).SetName("{m}(Malformed_WrongWireTypeSequence)");
        yield return new TestCaseData(Valid(b => b.InsertRange(3, [0x0A, 1, (byte)'c']))).SetName("{m}(Malformed_DuplicateCluster)");
        yield return new TestCaseData(Valid(b => { b.RemoveRange(0, 3); b.InsertRange(7, [0x0A, 1, (byte)'c']); })).SetName("{m}(Malformed_OutOfOrder)");
        yield return new TestCaseData(Valid(b => b.RemoveRange(0, 3))).SetName("{m}(Malformed_MissingCluster)");
        yield return new TestCaseData(Valid(b => b.RemoveRange(10, 2))).SetName("{m}(Malformed_MissingSequence)");
        yield return new TestCaseData(Valid(b => b.RemoveRange(12, 2))).SetName("{m}(Malformed_MissingKeyId)");
        yield return new TestCaseData(Valid(b => b.RemoveRange(b.Count - 34, 34))).SetName("{m}(Malformed_MissingMac)");
        yield return new TestCaseData(Valid(b => { b[b.Count - 33] = 31; b.RemoveAt(b.Count - 1); })).SetName("{m}(Malformed_Mac31Bytes)");
        yield return new TestCaseData(Valid(b => { b[b.Count - 33] = 33; b.Add(0); })).SetName("{m}(Malformed_Mac33Bytes)");
        yield return new TestCaseData(Valid(b => b.AddRange([0x3A, 0]))).SetName("{m}(Malformed_FieldAfterMac)");
        yield return new TestCaseData(Valid(b => b.Add(0))).SetName("{m}(Malformed_TrailingByteAfterMac)");
        yield return new TestCaseData(Valid(b => b[11] = 0)).SetName("{m}(Malformed_SequenceZero)");
        yield return new TestCaseData(Valid(b => { b.RemoveAt(13); b.InsertRange(13, [0x80, 0x80, 0x80, 0x80, 0x10]); })).SetName("{m}(Malformed_KeyIdAbove32Bits)");
        yield return new TestCaseData(Valid(b => { b.RemoveAt(11); b.InsertRange(11, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]); })).SetName("{m}(Malformed_VarintOverflow)");
    }

    [TestCaseSource(nameof(MalformedPackets))]
    public void A_packet_that_breaks_the_envelope_layout_is_dropped_as_Malformed(byte[] packet)
    {
        var stats = new WireStats();
        AssertDrop(_kit.Codec("beta", stats: stats, known: ["alpha", "beta"], cluster: "c"), packet, DropReason.Malformed, stats);
    }

    [Test]
    public void A_packet_of_another_cluster_is_dropped_as_WrongCluster()
    {
        var stats = new WireStats();
        byte[] packet = WireKit.Encode(_kit.Codec("alpha", cluster: "other"), [1]);

        AssertDrop(_kit.Codec("beta", stats: stats), packet, DropReason.WrongCluster, stats);
    }

    [Test]
    public void A_packet_from_a_node_outside_the_cluster_is_dropped_as_UnknownSender()
    {
        var stats = new WireStats();
        byte[] packet = WireKit.Encode(_kit.Codec("zeta", known: ["zeta", "beta"]), [1]);

        AssertDrop(_kit.Codec("beta", stats: stats), packet, DropReason.UnknownSender, stats);
    }

    [Test]
    public void A_nodes_own_packet_is_dropped_as_FromSelf()
    {
        var stats = new WireStats();
        EnvelopeCodec alpha = _kit.Codec("alpha", stats: stats);

        AssertDrop(alpha, WireKit.Encode(alpha, [1]), DropReason.FromSelf, stats);
    }

    [Test]
    public void A_nodes_own_packet_is_dropped_as_FromSelf_even_when_it_is_not_a_known_node()
    {
        var stats = new WireStats();
        EnvelopeCodec alpha = _kit.Codec("alpha", stats: stats, known: ["beta"]);

        AssertDrop(alpha, WireKit.Encode(_kit.Codec("alpha"), [1]), DropReason.FromSelf, stats);
    }

    [Test]
    public void A_packet_under_a_key_id_the_receiver_lacks_is_dropped_as_UnknownKey()
    {
        var stats = new WireStats();
        byte[] packet = WireKit.Encode(_kit.Codec("alpha", _kit.Ring(2)), [1]);

        AssertDrop(_kit.Codec("beta", _kit.Ring(1), stats), packet, DropReason.UnknownKey, stats);
    }

    [Test]
    public void A_flipped_mac_bit_is_dropped_as_BadMac()
    {
        var stats = new WireStats();
        byte[] packet = WireKit.Encode(_kit.Codec("alpha"), [1, 2, 3]);
        packet[^1] ^= 0x01;

        AssertDrop(_kit.Codec("beta", stats: stats), packet, DropReason.BadMac, stats);
    }

    [Test]
    public void A_packet_signed_with_another_secret_under_the_same_key_id_is_dropped_as_BadMac()
    {
        var stats = new WireStats();
        var otherSecret = new AuthOptions { SendKeyId = 1, Keys = [new AuthKeyOptions { Id = 1, Secret = WireKit.Secret(99) }] };
        using var ring = new AuthKeyRing(otherSecret);
        byte[] packet = WireKit.Encode(_kit.Codec("alpha", ring), [1]);

        AssertDrop(_kit.Codec("beta", stats: stats), packet, DropReason.BadMac, stats);
    }

    [Test]
    public void A_packet_opened_twice_is_dropped_the_second_time_as_Replayed()
    {
        var stats = new WireStats();
        EnvelopeCodec beta = _kit.Codec("beta", stats: stats);
        byte[] packet = WireKit.Encode(_kit.Codec("alpha"), [1]);
        Assert.That(beta.TryOpen(packet, out _, out _), Is.True);

        bool opened = beta.TryOpen(packet, out OpenedEnvelope envelope, out DropReason reason);

        Assert.That(opened, Is.False);
        Assert.That(reason, Is.EqualTo(DropReason.Replayed));
        Assert.That(envelope.Sender, Is.Null, "envelope is default on drop");
        Assert.That(stats.Accepted, Is.EqualTo(1));
        Assert.That(stats.GetDropped(DropReason.Replayed), Is.EqualTo(1));
        Assert.That(stats.TotalDropped, Is.EqualTo(1));
    }

    [Test]
    public void During_key_rotation_both_keys_open_and_afterwards_the_removed_key_is_UnknownKey()
    {
        var stats = new WireStats();
        EnvelopeCodec receiver = _kit.Codec("beta", _kit.Ring(1, 1, 2), stats);
        EnvelopeCodec oldSender = _kit.Codec("alpha", _kit.Ring(1, 1, 2));
        EnvelopeCodec newSender = _kit.Codec("gamma", _kit.Ring(2, 1, 2));

        Assert.That(receiver.TryOpen(WireKit.Encode(oldSender, [1]), out OpenedEnvelope a, out _), Is.True);
        Assert.That(a.KeyId, Is.EqualTo(1U));
        Assert.That(receiver.TryOpen(WireKit.Encode(newSender, [2]), out OpenedEnvelope b, out _), Is.True);
        Assert.That(b.KeyId, Is.EqualTo(2U));

        // Rotation finished: key 1 removed from the receiver.
        var after = new WireStats();
        EnvelopeCodec rotated = _kit.Codec("beta", _kit.Ring(2, 2), after);
        AssertDrop(rotated, WireKit.Encode(oldSender, [3]), DropReason.UnknownKey, after);
        Assert.That(rotated.TryOpen(WireKit.Encode(newSender, [4]), out _, out _), Is.True);
    }

    private static void AssertDrop(EnvelopeCodec codec, byte[] packet, DropReason expected, WireStats stats)
    {
        bool opened = codec.TryOpen(packet, out _, out DropReason reason);

        Assert.That(opened, Is.False);
        Assert.That(reason, Is.EqualTo(expected));
        WireKit.AssertOnlyDrop(stats, expected);
    }
}
