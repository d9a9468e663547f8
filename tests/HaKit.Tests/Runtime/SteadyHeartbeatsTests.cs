using HaKit.Ownership;
using HaKit.Runtime;
using HaKit.Tests.Wire;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Tests.Runtime;

/// <summary>
/// Issue 13, idle cost: a heartbeat that repeats its sender's previous one in every field but its announcement number skips the
/// protobuf parse (<see cref="SteadyHeartbeats"/>), and the core gets exactly what the full parse would have given it.
/// </summary>
[TestFixture]
public sealed class SteadyHeartbeatsTests
{
    private static HeartbeatMessage Beat(ulong sequence, GroupRole role = GroupRole.Active, ulong epoch = 3) =>
        new(100, false, [new GroupAnnouncement("web", role, epoch, epoch, true, null, 0, 0), new GroupAnnouncement("db", GroupRole.Standby, 0, 2, true, "beta", 1, 1)], sequence)
        {
            Reachability = new ReachabilityScore(2, 3),
        };

    private static byte[] Payload(HeartbeatMessage message) => Payload(HeartbeatMapper.ToProto(message));

    private static byte[] Payload(ClusterMessage message)
    {
        var buffer = new byte[1400];
        return buffer[..PayloadCodec.Write(message, buffer)];
    }

    /// <summary>What the full path makes of a payload: parse and map.</summary>
    private static HeartbeatMessage Parsed(byte[] payload)
    {
        var message = new ClusterMessage();
        Assert.That(PayloadCodec.TryRead(payload, message), Is.True);
        return HeartbeatMapper.FromProto(message.Heartbeat)!;
    }

    private static void AssertSame(HeartbeatMessage? actual, HeartbeatMessage expected)
    {
        Assert.That(actual, Is.Not.Null, "took the shortcut");
        Assert.Multiple(() =>
        {
            Assert.That(actual!.Sequence, Is.EqualTo(expected.Sequence));
            Assert.That(actual.Priority, Is.EqualTo(expected.Priority));
            Assert.That(actual.Leaving, Is.EqualTo(expected.Leaving));
            Assert.That(actual.Probe, Is.EqualTo(expected.Probe));
            Assert.That(actual.Reachability, Is.EqualTo(expected.Reachability));
            Assert.That(actual.Groups, Is.EqualTo(expected.Groups));
        });
    }

    [Test]
    public void A_repeat_with_a_new_announcement_number_gives_what_the_parse_gives_also_when_the_number_grows_a_byte()
    {
        var steady = new SteadyHeartbeats();
        var first = Payload(Beat(126));
        Assert.That(steady.TryMatch("beta", 7, first), Is.Null, "nothing recorded yet");
        steady.Remember("beta", 7, first, Parsed(first));
        foreach (var sequence in new ulong[] { 127, 128, 129, 16_384, 126, 126 })
        {
            var payload = Payload(Beat(sequence));
            AssertSame(steady.TryMatch("beta", 7, payload), Parsed(payload));
        }

        Assert.That(steady.Matched, Is.EqualTo(6));
    }

    [Test]
    public void Any_other_change_another_incarnation_or_sender_takes_the_full_path()
    {
        var steady = new SteadyHeartbeats();
        var first = Payload(Beat(1));
        steady.Remember("beta", 7, first, Parsed(first));
        var changed = new (string Why, HeartbeatMessage Message)[]
        {
            ("a new role", Beat(2, GroupRole.Stopping)),
            ("a new epoch", Beat(2, epoch: 4)),
            ("a probe", Beat(2) with { Probe = true }),
            ("a goodbye", Beat(2) with { Leaving = true }),
            ("a new reachability score", Beat(2) with { Reachability = new ReachabilityScore(3, 3) }),
            ("no reachability score", Beat(2) with { Reachability = null }),
            ("a new priority", Beat(2) with { Priority = 101 }),
            ("one group fewer", Beat(2) with { Groups = [new GroupAnnouncement("web", GroupRole.Active, 3, 3, true, null, 0, 0)] }),
            ("no announcement number", Beat(0)),
        };
        Assert.Multiple(() =>
        {
            foreach (var (why, message) in changed)
            {
                Assert.That(steady.TryMatch("beta", 7, Payload(message)), Is.Null, why);
            }

            Assert.That(steady.TryMatch("beta", 8, Payload(Beat(2))), Is.Null, "a restarted sender");
            Assert.That(steady.TryMatch("gamma", 7, Payload(Beat(2))), Is.Null, "another sender");
            Assert.That(steady.TryMatch("beta", 7, Payload(Beat(2))), Is.Not.Null, "the plain repeat still matches");
        });

        var next = Payload(Beat(3, GroupRole.Stopping));
        steady.Remember("beta", 7, next, Parsed(next));
        Assert.Multiple(() =>
        {
            Assert.That(steady.TryMatch("beta", 7, Payload(Beat(4))), Is.Null, "the record follows the latest parsed heartbeat");
            AssertSame(steady.TryMatch("beta", 7, Payload(Beat(4, GroupRole.Stopping))), Beat(4, GroupRole.Stopping));
        });
    }

    [Test]
    public void Only_the_plain_shape_is_split()
    {
        var plain = Payload(Beat(5));
        var vote = Payload(new ClusterMessage { VoteRequest = new VoteRequest { RequestId = 1, Group = "web", Epoch = 2, TtlMs = 100 } });
        var twice = plain.Concat(Payload(Beat(5))).ToArray(); // two heartbeat fields: the parser merges them
        var trailing = plain.Concat(new byte[] { 0x10, 0x01 }).ToArray(); // another field after the heartbeat
        Assert.Multiple(() =>
        {
            Assert.That(SteadyHeartbeats.TrySplit(plain, out _, out _, out var sequence), Is.True);
            Assert.That(sequence, Is.EqualTo(5));
            Assert.That(SteadyHeartbeats.TrySplit(vote, out _, out _, out _), Is.False, "not a heartbeat");
            Assert.That(SteadyHeartbeats.TrySplit(twice, out _, out _, out _), Is.False, "two heartbeat fields");
            Assert.That(SteadyHeartbeats.TrySplit(trailing, out _, out _, out _), Is.False, "more than the heartbeat");
            Assert.That(SteadyHeartbeats.TrySplit(plain.AsSpan(0, plain.Length - 1), out _, out _, out _), Is.False, "truncated");
            Assert.That(SteadyHeartbeats.TrySplit(Payload(Beat(0)), out _, out _, out _), Is.False, "no announcement number");
        });
    }

    [Test]
    public void Through_the_router_the_second_authentic_heartbeat_skips_the_parse_and_a_forged_one_is_still_refused()
    {
        using var kit = new WireKit();
        var ring = kit.Ring();
        var sender = kit.Codec("beta", ring);
        var stats = new WireStats();
        var router = new InboundRouter(kit.Codec("alpha", ring, stats));
        var steady = new SteadyHeartbeats();
        byte[] Packet(HeartbeatMessage message)
        {
            var packet = new byte[1400];
            return packet[..sender.Encode(Payload(message), packet)];
        }

        var first = router.Route(Packet(Beat(1)), "lan0", steady);
        var second = router.Route(Packet(Beat(2)), "lan0", steady);
        var forged = Packet(Beat(3));
        forged[^1] ^= 0xFF; // the MAC's last byte
        var refused = router.Route(forged, "lan0", steady);
        var changed = router.Route(Packet(Beat(4, GroupRole.Stopping)), "lan0", steady);
        Assert.Multiple(() =>
        {
            Assert.That(first.Kind, Is.EqualTo(InboundKind.Heartbeat));
            Assert.That(second.Kind, Is.EqualTo(InboundKind.Heartbeat));
            Assert.That(second.Sender, Is.EqualTo("beta"));
            AssertSame(second.Heartbeat, Beat(2));
            Assert.That(refused.Kind, Is.EqualTo(InboundKind.Dropped), "the MAC is checked before the shortcut");
            Assert.That(changed.Heartbeat!.Groups[0].Role, Is.EqualTo(GroupRole.Stopping), "a change is parsed");
            Assert.That(steady.Matched, Is.EqualTo(1), "only the plain repeat took the shortcut");
        });
    }
}
