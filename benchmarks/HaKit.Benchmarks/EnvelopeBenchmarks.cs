using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Benchmarks;

/// <summary>
/// Cost of the wire layer per packet, against the floor it cannot beat: one HMAC-SHA256 over the same bytes
/// with a reused keyed instance. The payload is a realistic heartbeat (two groups).
/// </summary>
[MemoryDiagnoser]
public class EnvelopeBenchmarks
{
    private static readonly string[] Nodes = ["alpha", "beta"];

    private AuthKeyRing _keys = null!;
    private EnvelopeCodec _sender = null!;
    private EnvelopeCodec _receiver = null!;
    private EnvelopeCodec _replayReceiver = null!;
    private HMACSHA256 _hmac = null!;
    private byte[] _payload = null!;
    private byte[] _buffer = null!;
    private byte[] _packet = null!;
    private byte[] _signed = null!;
    private byte[] _mac = null!;

    /// <summary>Builds the codecs, a heartbeat payload and one valid packet.</summary>
    [GlobalSetup]
    public void Setup()
    {
        byte[] secret = new byte[32];
        for (int i = 0; i < secret.Length; i++)
        {
            secret[i] = (byte)(i * 7 + 3);
        }

        _keys = new AuthKeyRing(new AuthOptions { SendKeyId = 1, Keys = [new AuthKeyOptions { Id = 1, Secret = Convert.ToBase64String(secret) }] });
        _sender = new EnvelopeCodec("bench", "alpha", Nodes, 42, _keys, 1400, new WireStats());
        _receiver = new EnvelopeCodec("bench", "beta", Nodes, 7, _keys, 1400, new WireStats());
        _replayReceiver = new EnvelopeCodec("bench", "beta", Nodes, 7, _keys, 1400, new WireStats());

        var heartbeat = new ClusterMessage
        {
            Heartbeat = new Heartbeat
            {
                Priority = 100,
                Groups =
                {
                    new GroupStatus { Name = "web", Role = WireRole.Active, Epoch = 12, HighestEpoch = 12, Eligible = true },
                    new GroupStatus { Name = "db", Role = WireRole.Standby, HighestEpoch = 4, Eligible = true },
                },
            },
        };
        _payload = new byte[heartbeat.CalculateSize()];
        PayloadCodec.Write(heartbeat, _payload);

        _buffer = new byte[1400];
        int n = _sender.Encode(_payload, _buffer);
        _packet = _buffer.AsSpan(0, n).ToArray();
        _signed = _packet.AsSpan(0, n - 2 - AuthKeyRing.MacLength).ToArray();
        _mac = new byte[AuthKeyRing.MacLength];
        _hmac = new HMACSHA256(secret);

        // The repeated packet is accepted once here, so every measured TryOpen runs all checks and the MAC
        // and is dropped only at the final replay step.
        _replayReceiver.TryOpen(_packet, out _, out _);
    }

    /// <summary>Releases the keyed HMAC instances.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _keys.Dispose();
        _hmac.Dispose();
    }

    /// <summary>The floor: HMAC-SHA256 over as many bytes as an envelope signs, with a reused keyed instance.</summary>
    [Benchmark(Baseline = true)]
    public bool RawHmacSha256() => _hmac.TryComputeHash(_signed, _mac, out _);

    /// <summary>Encodes and signs one envelope.</summary>
    [Benchmark]
    public int Encode() => _sender.Encode(_payload, _buffer);

    /// <summary>Opens a packet: every check and the MAC, dropped at the replay check (the packet repeats).</summary>
    [Benchmark]
    public bool TryOpen() => _replayReceiver.TryOpen(_packet, out _, out _);

    /// <summary>Encodes a fresh envelope and opens it on the accepted path.</summary>
    [Benchmark]
    public bool EncodeThenTryOpen()
    {
        int n = _sender.Encode(_payload, _buffer);
        return _receiver.TryOpen(_buffer.AsSpan(0, n), out _, out _);
    }
}
