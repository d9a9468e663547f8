using System.Security.Cryptography;
using Google.Protobuf;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Tests.Wire;

/// <summary>Shared builders for the wire tests. Disposes every key ring it made.</summary>
internal sealed class WireKit : IDisposable
{
    public const string Cluster = "test-cluster";
    public static readonly string[] Nodes = ["alpha", "beta", "gamma"];

    private readonly List<AuthKeyRing> _rings = [];

    public static byte[] SecretBytes(uint id, int length = 32)
    {
        var bytes = new byte[length];
        for (int i = 0; i < bytes.Length; i++)
        {
            bytes[i] = (byte)((i * 31) + (id * 17) + 5);
        }

        return bytes;
    }

    public static string Secret(uint id, int length = 32) => Convert.ToBase64String(SecretBytes(id, length));

    public static AuthOptions Auth(uint sendKeyId, params uint[] ids) => new()
    {
        SendKeyId = sendKeyId,
        Keys = ids.Select(id => new AuthKeyOptions { Id = id, Secret = Secret(id) }).ToList(),
    };

    public AuthKeyRing Ring(uint sendKeyId = 1, params uint[] ids)
    {
        var ring = new AuthKeyRing(Auth(sendKeyId, ids.Length == 0 ? [sendKeyId] : ids));
        _rings.Add(ring);
        return ring;
    }

    public EnvelopeCodec Codec(
        string node,
        AuthKeyRing? ring = null,
        WireStats? stats = null,
        ulong incarnation = 1,
        string cluster = Cluster,
        int maxPacketSize = 1400,
        IReadOnlyList<string>? known = null) =>
        new(cluster, node, known ?? Nodes, incarnation, ring ?? Ring(), maxPacketSize, stats ?? new WireStats());

    public static byte[] Encode(EnvelopeCodec codec, ReadOnlySpan<byte> payload)
    {
        var buffer = new byte[codec.MaxPacketSize];
        int n = codec.Encode(payload, buffer);
        return buffer.AsSpan(0, n).ToArray();
    }

    /// <summary>Signs a generated envelope the way hakit.proto says: HMAC over the encoding of fields 1..6, mac appended last.</summary>
    public static byte[] SignGenerated(Envelope envelope, byte[] secret)
    {
        envelope.Mac = ByteString.Empty;
        byte[] body = envelope.ToByteArray();
        envelope.Mac = ByteString.CopyFrom(HMACSHA256.HashData(secret, body));
        byte[] packet = envelope.ToByteArray();
        Assert.That(packet.AsSpan(0, body.Length).SequenceEqual(body), Is.True, "generated encoder must put the mac last");
        return packet;
    }

    public static Envelope Generated(string sender, ulong sequence, ulong incarnation = 1, uint keyId = 1, byte[]? payload = null, string cluster = Cluster) => new()
    {
        Cluster = cluster,
        Sender = sender,
        Incarnation = incarnation,
        Sequence = sequence,
        KeyId = keyId,
        Payload = ByteString.CopyFrom(payload ?? [1, 2, 3]),
    };

    /// <summary>Asserts the stats counted exactly one drop for <paramref name="reason"/> and nothing else.</summary>
    public static void AssertOnlyDrop(WireStats stats, DropReason reason, long count = 1)
    {
        Assert.That(stats.Accepted, Is.Zero, "accepted");
        foreach (DropReason r in Enum.GetValues<DropReason>())
        {
            Assert.That(stats.GetDropped(r), Is.EqualTo(r == reason ? count : 0), r.ToString());
        }

        Assert.That(stats.TotalDropped, Is.EqualTo(count));
    }

    public void Dispose()
    {
        foreach (AuthKeyRing ring in _rings)
        {
            ring.Dispose();
        }
    }
}
