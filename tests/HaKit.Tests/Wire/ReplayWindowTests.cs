using HaKit.Wire;

namespace HaKit.Tests.Wire;

public sealed class ReplayWindowTests
{
    private WireKit _kit = null!;
    private WireStats _stats = null!;
    private EnvelopeCodec _receiver = null!;

    [SetUp]
    public void SetUp()
    {
        _kit = new WireKit();
        _stats = new WireStats();
        _receiver = _kit.Codec("beta", stats: _stats);
    }

    [TearDown]
    public void TearDown() => _kit.Dispose();

    private static byte[][] Packets(EnvelopeCodec sender, int count) =>
        Enumerable.Range(0, count).Select(i => WireKit.Encode(sender, [(byte)i])).ToArray();

    private DropReason? Open(byte[] packet) => _receiver.TryOpen(packet, out _, out DropReason reason) ? null : reason;

    [Test]
    public void A_duplicate_is_dropped_as_Replayed()
    {
        byte[][] p = Packets(_kit.Codec("alpha"), 3);

        Assert.That(Open(p[0]), Is.Null);
        Assert.That(Open(p[1]), Is.Null);
        Assert.That(Open(p[0]), Is.EqualTo(DropReason.Replayed));
        Assert.That(Open(p[1]), Is.EqualTo(DropReason.Replayed));
        Assert.That(Open(p[2]), Is.Null);
        Assert.That(Open(p[2]), Is.EqualTo(DropReason.Replayed));
        Assert.That(_stats.Accepted, Is.EqualTo(3));
        Assert.That(_stats.GetDropped(DropReason.Replayed), Is.EqualTo(3));
    }

    [Test]
    public void Packets_reordered_within_the_64_entry_window_are_accepted_once()
    {
        byte[][] p = Packets(_kit.Codec("alpha"), 64);

        Assert.That(Open(p[63]), Is.Null, "seq 64");
        Assert.That(Open(p[0]), Is.Null, "seq 1 is 63 behind: still inside the 64-entry window");
        Assert.That(Open(p[31]), Is.Null, "seq 32");
        Assert.That(Open(p[30]), Is.Null, "seq 31");
        Assert.That(Open(p[31]), Is.EqualTo(DropReason.Replayed), "seq 32 again");
        Assert.That(_stats.Accepted, Is.EqualTo(4));
    }

    [Test]
    public void A_packet_older_than_the_window_is_dropped_as_Replayed()
    {
        byte[][] p = Packets(_kit.Codec("alpha"), 70);

        Assert.That(Open(p[64]), Is.Null, "seq 65");
        Assert.That(Open(p[0]), Is.EqualTo(DropReason.Replayed), "seq 1 is 64 behind: just outside the window");
        Assert.That(Open(p[1]), Is.Null, "seq 2 is 63 behind: inside");
        Assert.That(Open(p[69]), Is.Null, "seq 70 slides the window");
        Assert.That(Open(p[5]), Is.EqualTo(DropReason.Replayed), "seq 6 is 64 behind seq 70");
        Assert.That(Open(p[6]), Is.Null, "seq 7 is 63 behind seq 70");
    }

    [Test]
    public void The_window_slides_and_forgets_only_what_fell_out()
    {
        byte[][] p = Packets(_kit.Codec("alpha"), 200);

        Assert.That(Open(p[0]), Is.Null);
        Assert.That(Open(p[199]), Is.Null, "a jump far ahead resets the bitmap");
        Assert.That(Open(p[0]), Is.EqualTo(DropReason.Replayed), "seq 1 is 199 behind");
        Assert.That(Open(p[135]), Is.EqualTo(DropReason.Replayed), "seq 136 is 64 behind");
        Assert.That(Open(p[136]), Is.Null, "seq 137 is 63 behind and never seen");
        Assert.That(Open(p[199]), Is.EqualTo(DropReason.Replayed));
    }

    [Test]
    public void A_packet_of_an_older_incarnation_is_dropped_as_Replayed()
    {
        byte[] newer = WireKit.Encode(_kit.Codec("alpha", incarnation: 5), [1]);
        byte[] older = WireKit.Encode(_kit.Codec("alpha", incarnation: 4), [1]);

        Assert.That(Open(newer), Is.Null);
        Assert.That(Open(older), Is.EqualTo(DropReason.Replayed));
    }

    [Test]
    public void A_newer_incarnation_resets_the_window_and_ends_the_old_one()
    {
        EnvelopeCodec first = _kit.Codec("alpha", incarnation: 5);
        byte[][] old = Packets(first, 11);
        for (int i = 0; i < 10; i++)
        {
            Assert.That(Open(old[i]), Is.Null);
        }

        EnvelopeCodec restarted = _kit.Codec("alpha", incarnation: 6);
        byte[][] fresh = Packets(restarted, 2);

        Assert.That(Open(fresh[0]), Is.Null, "seq 1 of the new incarnation is accepted although seq 1 was seen before");
        Assert.That(Open(fresh[1]), Is.Null);
        Assert.That(Open(old[10]), Is.EqualTo(DropReason.Replayed), "the old incarnation is over");
        Assert.That(Open(fresh[0]), Is.EqualTo(DropReason.Replayed));
    }

    [Test]
    public void Each_sender_has_its_own_window()
    {
        byte[] fromAlpha = WireKit.Encode(_kit.Codec("alpha"), [1]);
        byte[] fromGamma = WireKit.Encode(_kit.Codec("gamma"), [1]);

        Assert.That(Open(fromAlpha), Is.Null);
        Assert.That(Open(fromGamma), Is.Null, "same incarnation and sequence from another sender");
    }

    [Test]
    public void A_forged_packet_with_a_high_sequence_or_incarnation_does_not_move_the_window()
    {
        byte[] forgedSecret = WireKit.SecretBytes(99);
        byte[] forgedSeq = WireKit.SignGenerated(WireKit.Generated("alpha", sequence: 1000, incarnation: 1), forgedSecret);
        byte[] forgedInc = WireKit.SignGenerated(WireKit.Generated("alpha", sequence: 1, incarnation: 1000), forgedSecret);

        Assert.That(Open(forgedSeq), Is.EqualTo(DropReason.BadMac));
        Assert.That(Open(forgedInc), Is.EqualTo(DropReason.BadMac));

        byte[][] legit = Packets(_kit.Codec("alpha", incarnation: 1), 2);
        Assert.That(Open(legit[0]), Is.Null, "seq 1 would be outside the window had the forged seq 1000 moved it");
        Assert.That(Open(legit[1]), Is.Null);
        Assert.That(_stats.GetDropped(DropReason.BadMac), Is.EqualTo(2));
        Assert.That(_stats.GetDropped(DropReason.Replayed), Is.Zero);
    }
}
