using HaKit.Wire;

namespace HaKit.Tests.Wire;

public sealed class EnvelopeCodecFuzzTests
{
    private WireKit _kit = null!;

    [SetUp]
    public void SetUp() => _kit = new WireKit();

    [TearDown]
    public void TearDown() => _kit.Dispose();

    [Test]
    public void Random_bytes_never_throw_and_are_never_accepted()
    {
        var random = new Random(1234);
        var stats = new WireStats();
        EnvelopeCodec receiver = _kit.Codec("beta", stats: stats, maxPacketSize: 512);
        const int Count = 20_000;

        for (int i = 0; i < Count; i++)
        {
            var packet = new byte[random.Next(0, 600)];
            random.NextBytes(packet);
            if (i % 2 == 0 && packet.Length > 0)
            {
                packet[0] = 0x0A; // start like an envelope to get past the first tag more often
            }

            Assert.That(receiver.TryOpen(packet, out _, out _), Is.False, $"random packet {i} accepted");
        }

        Assert.That(stats.Accepted, Is.Zero);
        Assert.That(stats.TotalDropped, Is.EqualTo(Count));
    }

    [Test]
    public void Every_single_bit_flip_of_a_valid_packet_is_dropped_and_leaves_the_replay_window_alone()
    {
        var random = new Random(1234);
        var stats = new WireStats();
        EnvelopeCodec receiver = _kit.Codec("beta", stats: stats);
        EnvelopeCodec sender = _kit.Codec("alpha", incarnation: 77);
        long attempts = 0;

        for (int p = 0; p < 12; p++)
        {
            var payload = new byte[random.Next(0, 200)];
            random.NextBytes(payload);
            byte[] original = WireKit.Encode(sender, payload);
            for (int bit = 0; bit < original.Length * 8; bit++)
            {
                byte[] flipped = (byte[])original.Clone();
                flipped[bit / 8] ^= (byte)(1 << (bit % 8));
                attempts++;
                Assert.That(receiver.TryOpen(flipped, out _, out _), Is.False, $"packet {p} bit {bit} accepted");
            }
        }

        Assert.That(stats.Accepted, Is.Zero);
        Assert.That(stats.TotalDropped, Is.EqualTo(attempts));
        Assert.That(stats.GetDropped(DropReason.BadMac), Is.GreaterThan(0));

        // The untouched packets were never delivered, so the flips did not poison the replay window.
        byte[] fresh = WireKit.Encode(_kit.Codec("alpha", incarnation: 77), [1]);
        Assert.That(receiver.TryOpen(fresh, out _, out _), Is.True);
    }

    [Test]
    public void Every_prefix_of_a_valid_packet_is_dropped_as_Truncated_or_Malformed()
    {
        var stats = new WireStats();
        EnvelopeCodec receiver = _kit.Codec("beta", stats: stats);
        byte[] packet = WireKit.Encode(_kit.Codec("alpha"), new byte[40]);

        for (int length = 0; length < packet.Length; length++)
        {
            Assert.That(receiver.TryOpen(packet.AsSpan(0, length), out _, out DropReason reason), Is.False);
            Assert.That(reason, Is.AnyOf(DropReason.Truncated, DropReason.Malformed), $"length {length}");
        }

        Assert.That(receiver.TryOpen(packet, out _, out _), Is.True);
    }
}
