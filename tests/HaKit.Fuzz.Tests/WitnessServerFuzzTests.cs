using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CsCheck;
using Google.Protobuf;
using HaKit.Arbitration;
using HaKit.Wire;
using HaKit.Wire.Proto;
using HaKit.Witness;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Fuzz.Tests;

/// <summary>
/// The witness's datagram handling (<see cref="WitnessServer"/>'s handler, the code its receive loop runs for every packet) on hostile
/// input: random bytes, envelopes claiming a served cluster, and vote and outdated-mark requests of an authenticated node, intact or damaged. It never
/// throws; an answer is always an envelope the node can open.
/// </summary>
[TestFixture]
public sealed class WitnessServerFuzzTests
{
    private const int MaxPacketSize = WitnessServer.MaxPacketSize;

    private static readonly string Secret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    private string _stateDirectory = null!;
    private FakeTimeProvider _time = null!;
    private WitnessServer _server = null!;
    private AuthKeyRing _keys = null!;

    [SetUp]
    public async Task SetUp()
    {
        _stateDirectory = Path.Combine(Path.GetTempPath(), "hakit-fuzz-witness-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)));
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = Secret }], SendKeyId = 1 };
        _server = new WitnessServer(
            new WitnessOptions
            {
                Listen = "127.0.0.1:0",
                MaxLeaseTtl = TimeSpan.FromSeconds(10),
                StateDirectory = _stateDirectory,
                Clusters = [new WitnessClusterOptions { Name = "demo", Nodes = ["a", "b"], Auth = auth }],
            },
            _time);
        await _server.StartAsync(CancellationToken.None);
        _time.Advance(_server.MaxLeaseTtl); // past the quiet period after start
        _keys = new AuthKeyRing(auth);
    }

    [TearDown]
    public async Task TearDown()
    {
        await _server.DisposeAsync();
        _keys.Dispose();
        if (Directory.Exists(_stateDirectory))
        {
            Directory.Delete(_stateDirectory, recursive: true);
        }
    }

    [Test]
    public void Random_datagrams_are_dropped_without_an_answer_and_counted()
    {
        var handler = new Handler(_server);
        long inputs = 0;
        Fuzz.Run("witness/random-bytes", Gen.Byte.Array[0, 1500], bytes =>
        {
            inputs++;
            Fuzz.Require(handler.Handle(bytes) == 0, () => Fuzz.Hex(bytes));
        }, ciDefault: 50_000, print: Fuzz.Hex);
        long dropped = _server.UnroutedStats.TotalDropped + _server.ClusterStats.Values.Sum(s => s.TotalDropped);
        Assert.That(dropped, Is.EqualTo(inputs));
    }

    [Test]
    public void Signed_vote_messages_intact_or_damaged_never_throw_and_every_answer_opens_at_the_node()
    {
        var handler = new Handler(_server);
        var node = new EnvelopeCodec("demo", "a", ["a", "b", "witness"], 1, _keys, MaxPacketSize, new WireStats());
        // Half the group names come from a few real ones, so grants, renewals, releases and marks meet groups the witness knows;
        // the other half are random, and past MaxGroupsPerCluster (default 1024) those are refused as unknown groups.
        var groupName = Gen.Frequency((1, Gen.String[0, 16]), (1, Gen.Int[0, 3].Select(i => new[] { "web", "db", "g", "" }[i])));
        var request = Gen.Select(Gen.ULong, groupName, Gen.ULong[0, 50], Gen.UInt[0, 20_000], Gen.Bool).Select((id, group, epoch, ttl, renew) =>
            new ClusterMessage { VoteRequest = new VoteRequest { RequestId = id, Group = group, Epoch = epoch, TtlMs = ttl, Renew = renew } });
        var release = Gen.Select(groupName, Gen.ULong[0, 50], Gen.ULong).Select((group, epoch, id) =>
            new ClusterMessage { VoteRelease = new VoteRelease { Group = group, Epoch = epoch, RequestId = id } });
        var mark = Gen.Select(Gen.ULong, Gen.Select(groupName, Gen.Int[0, 3].Select(i => new[] { "a", "b", "", "zed" }[i])), Gen.Int[-1, 3], Gen.Long[-1, 50], Gen.Long[-1, 100_000]).Select((id, target, op, epoch, index) =>
            new ClusterMessage { OutdatedMarkRequest = new OutdatedMarkRequest { RequestId = id, Group = target.Item1, Node = target.Item2, Op = (OutdatedMarkOp)op, Epoch = epoch, Index = index } });
        var other = Gen.Select(Gen.ULong, Gen.String[0, 8]).Select((id, group) => new ClusterMessage { VoteReply = new VoteReply { RequestId = id, Group = group, Granted = true } });
        var gen = Gen.Select(Gen.Frequency((6, request), (2, release), (2, mark), (1, other)), Fuzz.Damage, Gen.Bool, Gen.Int[0, 3_000]);
        long answers = 0;
        Fuzz.Run("witness/signed-votes", gen, t =>
        {
            var (message, (mutation, position, noise), damageEnvelope, advanceMs) = t;
            _time.Advance(TimeSpan.FromMilliseconds(advanceMs)); // leases expire as the sample goes on
            var payload = message.ToByteArray();
            byte[] packet;
            if (damageEnvelope)
            {
                packet = Fuzz.Mutate(Sign(node, payload), mutation, position, noise);
            }
            else
            {
                packet = Sign(node, Fuzz.Mutate(payload, mutation, position, noise));
            }

            var length = handler.Handle(packet);
            if (length > 0)
            {
                answers++;
                Assert.That(node.TryOpen(handler.Reply.AsSpan(0, length), out var opened, out var why), Is.True, why.ToString());
                var reply = new ClusterMessage();
                reply.MergeFrom(opened.Payload);
                Assert.That(reply.BodyCase, Is.AnyOf(ClusterMessage.BodyOneofCase.VoteReply, ClusterMessage.BodyOneofCase.OutdatedMarkReply));
                if (reply.BodyCase == ClusterMessage.BodyOneofCase.VoteReply)
                {
                    Assert.That(reply.VoteReply.To, Is.EqualTo("a"));
                }
                else
                {
                    Assert.That(reply.OutdatedMarkReply.Node, Is.AnyOf("a", "b"), "marks only for the cluster's nodes");
                }
            }
        }, ciDefault: 4_000, print: t => $"{t.Item1} {t.Item2.Mutation}@{t.Item2.Position} noise {Fuzz.Hex(t.Item2.Noise)} envelope {t.Item3} +{t.Item4} ms");
        Assert.That(answers, Is.GreaterThan(0), "intact requests are answered");
    }

    private static byte[] Sign(EnvelopeCodec codec, byte[] payload)
    {
        var buffer = new byte[MaxPacketSize];
        return buffer[..codec.Encode(payload, buffer)];
    }

    /// <summary>The buffers the witness's receive loop passes to its handler, for one caller at a time.</summary>
    private sealed class Handler(WitnessServer server)
    {
        private readonly SocketAddress _from = new IPEndPoint(IPAddress.Loopback, 40_000).Serialize();
        private readonly byte[] _payload = new byte[MaxPacketSize];
        private readonly WitnessProtocol _protocol = new();

        public byte[] Reply { get; } = new byte[MaxPacketSize];

        public int Handle(byte[] packet) => server.Handle(packet, _from, Reply, _payload, _protocol);
    }
}
