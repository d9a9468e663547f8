using CsCheck;
using HaKit.Wire;

namespace HaKit.Fuzz.Tests;

/// <summary>
/// <see cref="EnvelopeCodec.TryOpen"/> on hostile bytes: it never throws, counts every drop, never opens a damaged or forged
/// packet, and a damaged copy never stops the intact packet from opening afterwards (the replay window moves only after the MAC).
/// </summary>
[TestFixture]
public sealed class EnvelopeCodecFuzzTests : IDisposable
{
    private const int MaxPacketSize = 1400;

    private readonly AuthKeyRing _keys = Keys(1);
    private readonly AuthKeyRing _attackerKeys = Keys(200);

    public void Dispose()
    {
        _keys.Dispose();
        _attackerKeys.Dispose();
    }

    [Test]
    public void Random_bytes_never_throw_never_open_and_are_all_counted()
    {
        var stats = new WireStats();
        var receiver = Codec("b", _keys, stats);
        long inputs = 0;
        Fuzz.Run("envelope/random-bytes", Gen.Byte.Array[0, MaxPacketSize + 64], bytes =>
        {
            Interlocked.Increment(ref inputs);
            Fuzz.Require(!receiver.TryOpen(bytes, out _, out var reason), () => Fuzz.Hex(bytes));
            Fuzz.Require(Enum.IsDefined(reason), () => reason.ToString());
        }, ciDefault: 200_000, threads: 2);
        Assert.That(stats.TotalDropped, Is.EqualTo(inputs), "every packet is counted");
        Assert.That(stats.Accepted, Is.Zero);
    }

    [Test]
    public void Bytes_that_look_like_an_envelope_never_throw()
    {
        // Valid field tags of this cluster and sender followed by noise: reaches the deeper parse paths that uniform bytes rarely do.
        var stats = new WireStats();
        var sender = Codec("a", _keys, new WireStats());
        var receiver = Codec("b", _keys, stats);
        var gen = Gen.Select(Gen.Byte.Array[0, 300], Gen.Int[0, 400], Gen.Byte.Array[0, 60]);
        Fuzz.Run("envelope/structured-noise", gen, t =>
        {
            var (payload, cut, noise) = t;
            var packet = new byte[MaxPacketSize];
            var length = sender.Encode(payload, packet);
            byte[] input = [.. packet.AsSpan(0, Math.Min(cut, length)), .. noise];
            var intact = input.AsSpan().SequenceEqual(packet.AsSpan(0, length));
            var opened = receiver.TryOpen(input, out _, out var reason);
            Fuzz.Require(opened == intact, () => $"opened {opened}, intact {intact}, {reason}: {Fuzz.Hex(input)}");
            Fuzz.Require(opened || Enum.IsDefined(reason), () => reason.ToString());
        }, ciDefault: 100_000, print: t => $"payload {Fuzz.Hex(t.Item1)} cut {t.Item2} noise {Fuzz.Hex(t.Item3)}");
    }

    [Test]
    public void A_damaged_envelope_never_opens_and_the_intact_one_still_does()
    {
        var stats = new WireStats();
        var sender = Codec("a", _keys, new WireStats());
        var receiver = Codec("b", _keys, stats);
        var gen = Gen.Select(Gen.Byte.Array[0, 1000], Fuzz.Damage);
        Fuzz.Run("envelope/mutated-valid", gen, t =>
        {
            var (payload, (mutation, position, noise)) = t;
            var buffer = new byte[MaxPacketSize];
            var valid = buffer[..sender.Encode(payload, buffer)];
            var damaged = Fuzz.Mutate(valid, mutation, position, noise);
            if (mutation != Fuzz.Mutation.None)
            {
                var opened = receiver.TryOpen(damaged, out _, out var reason);
                Fuzz.Require(!opened, () => $"{mutation} opened: {Fuzz.Hex(damaged)}");
                Fuzz.Require(reason != DropReason.Replayed, () => "a damaged packet is refused before the replay check");
            }

            Fuzz.Require(receiver.TryOpen(valid, out var envelope, out var why), () => $"{why}: {Fuzz.Hex(valid)}");
            Fuzz.Require(envelope.Payload.SequenceEqual(payload) && envelope.Sender == "a", () => "the payload and sender come through intact");
            Fuzz.Require(!receiver.TryOpen(valid, out _, out var again) && again == DropReason.Replayed, () => "the same packet twice is a replay");
        }, ciDefault: 50_000, print: t => $"payload {Fuzz.Hex(t.Item1)} {t.Item2.Mutation}@{t.Item2.Position} noise {Fuzz.Hex(t.Item2.Noise)}");
    }

    [Test]
    public void An_envelope_signed_with_another_key_never_opens()
    {
        var stats = new WireStats();
        // The attacker knows the cluster, the names and the key id, but not the secret.
        var forger = Codec("a", _attackerKeys, new WireStats());
        var receiver = Codec("b", _keys, stats);
        var gen = Gen.Select(Gen.Byte.Array[0, 1000], Gen.ULong);
        Fuzz.Run("envelope/forged-mac", gen, t =>
        {
            var (payload, _) = t;
            var buffer = new byte[MaxPacketSize];
            var forged = buffer[..forger.Encode(payload, buffer)];
            Fuzz.Require(!receiver.TryOpen(forged, out _, out var reason) && reason == DropReason.BadMac, () => $"{reason}: {Fuzz.Hex(forged)}");
        }, ciDefault: 50_000);
        Assert.That(stats.Accepted, Is.Zero);
        Assert.That(stats.GetDropped(DropReason.BadMac), Is.EqualTo(stats.TotalDropped));
    }

    [Test]
    public void TryPeekCluster_never_throws_and_returns_a_slice_of_the_packet()
    {
        Fuzz.Run("envelope/peek-cluster", Gen.Byte.Array[0, 200], bytes =>
        {
            if (EnvelopeCodec.TryPeekCluster(bytes, out var cluster))
            {
                Assert.That(cluster.Length, Is.InRange(1, bytes.Length));
            }
        }, ciDefault: 100_000, threads: 2);
    }

    internal static AuthKeyRing Keys(int seed) => new(new AuthOptions
    {
        Keys = [new AuthKeyOptions { Id = 1, Secret = Convert.ToBase64String(Enumerable.Range(seed, 32).Select(i => (byte)i).ToArray()) }],
        SendKeyId = 1,
    });

    private static EnvelopeCodec Codec(string node, AuthKeyRing keys, WireStats stats) =>
        new("demo", node, ["a", "b"], incarnation: node == "a" ? 7UL : 9UL, keys, MaxPacketSize, stats);
}
