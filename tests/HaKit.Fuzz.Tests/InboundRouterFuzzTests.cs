using CsCheck;
using Google.Protobuf;
using HaKit.Runtime;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Fuzz.Tests;

/// <summary>
/// The payload codec and the heartbeat mapping behind <see cref="InboundRouter"/>, fed authentic envelopes (signed with the
/// cluster's key, so they pass the MAC) whose payload is hostile: random bytes, random messages with out-of-range values, and
/// damaged valid messages. The router never throws; it delivers a heartbeat or a vote, or drops and counts the packet.
/// </summary>
[TestFixture]
public sealed class InboundRouterFuzzTests : IDisposable
{
    private const int MaxPacketSize = 1400;

    private readonly AuthKeyRing _keys = EnvelopeCodecFuzzTests.Keys(1);

    public void Dispose() => _keys.Dispose();

    private static Gen<GroupStatus> GroupStatusGen { get; } =
        Gen.Select(Gen.String[0, 12], Gen.Int[-3, 9], Gen.ULong, Gen.ULong, Gen.Bool, Gen.String[0, 8], Gen.ULong, Gen.ULong)
            .Select((name, role, epoch, highest, eligible, handoff, fatal, cleared) => new GroupStatus
            {
                Name = name,
                Role = (WireRole)role,
                Epoch = epoch,
                HighestEpoch = highest,
                Eligible = eligible,
                HandoffTo = handoff,
                FatalMark = fatal,
                FatalCleared = cleared,
            });

    private static Gen<ClusterMessage> MessageGen { get; } = Gen.OneOf<ClusterMessage>(
        Gen.Select(Gen.UInt, GroupStatusGen.Array[0, 6], Gen.Bool, Gen.ULong).Select((priority, groups, leaving, sequence) =>
        {
            var hb = new Heartbeat { Priority = priority, Leaving = leaving, Sequence = sequence };
            hb.Groups.Add(groups);
            return new ClusterMessage { Heartbeat = hb };
        }),
        Gen.Select(Gen.ULong, Gen.String[0, 12], Gen.ULong, Gen.UInt, Gen.Bool).Select((id, group, epoch, ttl, renew) =>
            new ClusterMessage { VoteRequest = new VoteRequest { RequestId = id, Group = group, Epoch = epoch, TtlMs = ttl, Renew = renew } }),
        Gen.Select(Gen.ULong, Gen.String[0, 12], Gen.Bool, Gen.ULong, Gen.String[0, 8]).Select((id, group, granted, highest, holder) =>
            new ClusterMessage { VoteReply = new VoteReply { RequestId = id, Group = group, Granted = granted, HighestEpoch = highest, Holder = holder, To = "b" } }),
        Gen.Select(Gen.String[0, 12], Gen.ULong, Gen.ULong).Select((group, epoch, id) =>
            new ClusterMessage { VoteRelease = new VoteRelease { Group = group, Epoch = epoch, RequestId = id } }),
        Gen.Const(new ClusterMessage()));

    [Test]
    public void Authentic_envelopes_with_random_payload_bytes_are_routed_or_dropped_and_counted()
    {
        var (sender, receiver, stats) = Pair();
        var router = new InboundRouter(receiver, null, "witness", (_, m) => m.BodyCase == ClusterMessage.BodyOneofCase.VoteReply);
        long inputs = 0;
        Fuzz.Run("router/random-payload", Gen.Byte.Array[0, 600], payload =>
        {
            inputs++;
            Check(router, Sign(sender, payload), payload);
        }, ciDefault: 100_000, print: Fuzz.Hex);
        Assert.That(stats.Accepted, Is.EqualTo(inputs), "every envelope was authentic");
    }

    [Test]
    public void Authentic_random_and_damaged_messages_never_throw_and_heartbeats_map_exactly()
    {
        var (sender, receiver, stats) = Pair();
        var router = new InboundRouter(receiver, null, "witness", (who, m) => who == "a" && m.BodyCase != ClusterMessage.BodyOneofCase.VoteReply);
        long inputs = 0;
        Fuzz.Run("router/messages", Gen.Select(MessageGen, Fuzz.Damage), t =>
        {
            inputs++;
            var (message, (mutation, position, noise)) = t;
            var valid = message.ToByteArray();
            var payload = Fuzz.Mutate(valid, mutation, position, noise);
            var routed = Check(router, Sign(sender, payload), payload);
            if (mutation == Fuzz.Mutation.None && message.BodyCase == ClusterMessage.BodyOneofCase.Heartbeat)
            {
                var allRolesKnown = message.Heartbeat.Groups.All(g => Enum.IsDefined((GroupRole)(int)g.Role));
                Assert.That(routed.Kind, Is.EqualTo(allRolesKnown ? InboundKind.Heartbeat : InboundKind.Dropped));
                if (allRolesKnown)
                {
                    Assert.That(routed.Heartbeat!.Groups, Has.Count.EqualTo(message.Heartbeat.Groups.Count));
                    Assert.That(routed.Heartbeat.Sequence, Is.EqualTo(message.Heartbeat.Sequence));
                    Assert.That(routed.Heartbeat.Priority, Is.GreaterThanOrEqualTo(0));
                }
                else
                {
                    Assert.That(routed.Drop, Is.EqualTo(InboundDrop.MalformedHeartbeat));
                }
            }
        }, ciDefault: 50_000, print: t => $"{t.Item1} {t.Item2.Mutation}@{t.Item2.Position} noise {Fuzz.Hex(t.Item2.Noise)}");
        Assert.That(stats.Accepted, Is.EqualTo(inputs));
    }

    private static InboundPacket Check(InboundRouter router, byte[] packet, byte[] payload)
    {
        var routed = router.Route(packet, "lan0");
        switch (routed.Kind)
        {
            case InboundKind.Heartbeat:
                Assert.That(routed.Sender, Is.EqualTo("a"));
                Assert.That(routed.Heartbeat!.Groups.Select(g => g.Role), Is.All.Matches<GroupRole>(Enum.IsDefined), "no undefined role reaches the core");
                break;
            case InboundKind.Vote:
                Assert.That(routed.Heartbeat, Is.Null);
                break;
            default:
                Assert.That(routed.Kind, Is.EqualTo(InboundKind.Dropped), Fuzz.Hex(payload));
                Assert.That(routed.Drop, Is.Not.EqualTo(InboundDrop.None).And.Not.EqualTo(InboundDrop.Wire), "authentic envelopes pass the wire layer");
                Assert.That(routed.WireReason, Is.EqualTo(DropReason.Malformed));
                break;
        }

        return routed;
    }

    private static byte[] Sign(EnvelopeCodec sender, byte[] payload)
    {
        var buffer = new byte[MaxPacketSize];
        return buffer[..sender.Encode(payload, buffer)];
    }

    private (EnvelopeCodec Sender, EnvelopeCodec Receiver, WireStats Stats) Pair()
    {
        var stats = new WireStats();
        var sender = new EnvelopeCodec("demo", "a", ["a", "b", "witness"], 3, _keys, MaxPacketSize, new WireStats());
        var receiver = new EnvelopeCodec("demo", "b", ["a", "b", "witness"], 4, _keys, MaxPacketSize, stats);
        return (sender, receiver, stats);
    }
}
