using Google.Protobuf;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Tests.Wire;

public sealed class PayloadCodecTests
{
    internal static ClusterMessage SampleHeartbeat() => new()
    {
        Heartbeat = new Heartbeat
        {
            Priority = 150,
            Leaving = false,
            Groups =
            {
                new GroupStatus { Name = "web", Role = WireRole.Active, Epoch = 12, HighestEpoch = 12, Eligible = true },
                new GroupStatus { Name = "db", Role = WireRole.Standby, HighestEpoch = 4, Eligible = true, HandoffTo = "beta", FatalMark = 2, FatalCleared = 2 },
            },
        },
    };

    [Test]
    public void Admin_messages_round_trip_and_the_last_body_of_the_oneof_wins()
    {
        var request = new ClusterMessage { AdminRequest = new AdminRequest { RequestId = 7, Group = "web", Target = "b", Kind = AdminRequestKind.AdminRequestTakeover, To = "a" } };
        var reply = new ClusterMessage { AdminReply = new AdminReply { RequestId = 7, To = "b", ToIncarnation = 3, Accepted = true, Reason = "group web: stopping here, then starting on b" } };
        var reuse = new ClusterMessage();
        foreach (var message in new[] { request, reply })
        {
            var buffer = new byte[256];
            int n = PayloadCodec.Write(message, buffer);
            Assert.That(PayloadCodec.TryRead(buffer.AsSpan(0, n), reuse), Is.True);
            Assert.That(reuse, Is.EqualTo(message));
        }

        byte[] both = [.. request.ToByteArray(), .. SampleHeartbeat().ToByteArray()];
        Assert.That(PayloadCodec.TryRead(both, reuse), Is.True);
        Assert.That(reuse.BodyCase, Is.EqualTo(ClusterMessage.BodyOneofCase.Heartbeat), "an admin request followed by a heartbeat is a heartbeat");
        Assert.That(PayloadCodec.TryRead(reply.ToByteArray()[..^2], reuse), Is.False);
    }

    [Test]
    public void Outdated_mark_messages_round_trip_and_a_vote_reply_carries_the_offer()
    {
        var request = new ClusterMessage { OutdatedMarkRequest = new OutdatedMarkRequest { RequestId = 9, Group = "web", Node = "b", Op = OutdatedMarkOp.Set, Epoch = 4, Index = 1042 } };
        var reply = new ClusterMessage { OutdatedMarkReply = new OutdatedMarkReply { RequestId = 9, Group = "web", Node = "b", Status = OutdatedMarkStatus.Done, Present = true, Epoch = 4, Index = 1042, MarkedBy = "a" } };
        var offer = new ClusterMessage { VoteReply = new VoteReply { RequestId = 3, Group = "web", Granted = true, OutdatedMarks = true } };
        var reuse = new ClusterMessage();
        foreach (var message in new[] { request, reply, offer })
        {
            var buffer = new byte[256];
            int n = PayloadCodec.Write(message, buffer);
            Assert.That(PayloadCodec.TryRead(buffer.AsSpan(0, n), reuse), Is.True);
            Assert.That(reuse, Is.EqualTo(message));
        }

        Assert.That(PayloadCodec.TryRead(reply.ToByteArray()[..^2], reuse), Is.False);
    }

    [Test]
    public void Vote_messages_round_trip_and_the_last_body_of_the_oneof_wins()
    {
        var request = new ClusterMessage { VoteRequest = new VoteRequest { RequestId = 5, Group = "web", Epoch = 3, TtlMs = 2000, Renew = true } };
        var reply = new ClusterMessage { VoteReply = new VoteReply { RequestId = 5, Group = "web", Granted = false, HighestEpoch = 9, Holder = "b", RemainingMs = 700, Reason = "held", To = "a" } };
        var release = new ClusterMessage { VoteRelease = new VoteRelease { Group = "web", Epoch = 3, RequestId = 5 } };
        var reuse = new ClusterMessage();
        foreach (var message in new[] { request, reply, release })
        {
            var buffer = new byte[256];
            int n = PayloadCodec.Write(message, buffer);
            Assert.That(PayloadCodec.TryRead(buffer.AsSpan(0, n), reuse), Is.True);
            Assert.That(reuse, Is.EqualTo(message));
        }

        byte[] both = [.. SampleHeartbeat().ToByteArray(), .. request.ToByteArray()];
        Assert.That(PayloadCodec.TryRead(both, reuse), Is.True);
        Assert.That(reuse.BodyCase, Is.EqualTo(ClusterMessage.BodyOneofCase.VoteRequest), "a heartbeat followed by a vote request is a vote request, as protobuf's oneof rule says");
        byte[] truncated = request.ToByteArray()[..^2];
        Assert.That(PayloadCodec.TryRead(truncated, reuse), Is.False);
    }

    [Test]
    public void A_written_heartbeat_reads_back_equal_and_in_the_canonical_encoding()
    {
        ClusterMessage message = SampleHeartbeat();
        var buffer = new byte[256];

        int n = PayloadCodec.Write(message, buffer);
        var reuse = new ClusterMessage();
        bool ok = PayloadCodec.TryRead(buffer.AsSpan(0, n), reuse);

        Assert.That(ok, Is.True);
        Assert.That(reuse, Is.EqualTo(message));
        Assert.That(buffer.AsSpan(0, n).ToArray(), Is.EqualTo(message.ToByteArray()));
    }

    [Test]
    public void Writing_into_a_too_small_destination_is_rejected()
    {
        ClusterMessage message = SampleHeartbeat();

        Assert.That(() => PayloadCodec.Write(message, new byte[message.CalculateSize() - 1]), Throws.ArgumentException);
    }

    [Test]
    public void TryRead_replaces_the_previous_content_instead_of_appending()
    {
        var reuse = new ClusterMessage();
        byte[] first = SampleHeartbeat().ToByteArray();
        var second = new ClusterMessage { Heartbeat = new Heartbeat { Priority = 1, Leaving = true, Groups = { new GroupStatus { Name = "x" } } } };

        Assert.That(PayloadCodec.TryRead(first, reuse), Is.True);
        Assert.That(PayloadCodec.TryRead(second.ToByteArray(), reuse), Is.True);

        Assert.That(reuse, Is.EqualTo(second));
        Assert.That(reuse.Heartbeat.Groups, Has.Count.EqualTo(1));
    }

    [Test]
    public void An_empty_payload_reads_as_an_empty_message()
    {
        var reuse = SampleHeartbeat();

        Assert.That(PayloadCodec.TryRead([], reuse), Is.True);
        Assert.That(reuse.BodyCase, Is.EqualTo(ClusterMessage.BodyOneofCase.None));
    }

    public static IEnumerable<TestCaseData> InvalidPayloads()
    {
        yield return new TestCaseData(new byte[] { 0x0A, 0x05, 0x08 }).SetName("{m}(TryRead_LengthPastEnd)");
        yield return new TestCaseData(new byte[] { 0x0A, 0x02, 0x08, 0x80 }).SetName("{m}(TryRead_InnerVarintCut)");
        yield return new TestCaseData(new byte[] { 0x0A, 0x02, 0x12, 0x05 }).SetName("{m}(TryRead_InnerLengthPastEnd)");
        yield return new TestCaseData(new byte[] { 0x00 }).SetName("{m}(TryRead_FieldZero)");
        yield return new TestCaseData(new byte[] { 0x0F }).SetName("{m}(TryRead_InvalidWireType)");
        yield return new TestCaseData(new byte[] { 0x09, 0x01 }).SetName("{m}(TryRead_Fixed64Cut)");
        yield return new TestCaseData(new byte[] { 0x0A, 0x03, 0x12, 0x01, 0xFF }).SetName("{m}(TryRead_InnerGroupStatusGarbage)");
        yield return new TestCaseData(new byte[] { 0x0A, 0x04, 0x12, 0x02, 0x0A, 0x80 }).SetName("{m}(TryRead_InnerStringCut)");
    }

    [TestCaseSource(nameof(InvalidPayloads))]
    public void An_invalid_payload_is_refused_and_leaves_the_message_cleared(byte[] payload)
    {
        var reuse = SampleHeartbeat();

        Assert.That(PayloadCodec.TryRead(payload, reuse), Is.False);
        Assert.That(reuse.BodyCase, Is.EqualTo(ClusterMessage.BodyOneofCase.None));
    }

    [Test]
    public void Unknown_top_level_fields_are_skipped_and_never_accumulate()
    {
        byte[] known = SampleHeartbeat().ToByteArray();
        byte[] withUnknown = [.. known, 0x48, 0x05, 0x52, 0x02, 0xAA, 0xBB, 0x5D, 1, 2, 3, 4, 0x61, 1, 2, 3, 4, 5, 6, 7, 8];
        var reuse = new ClusterMessage();

        for (int i = 0; i < 3; i++)
        {
            Assert.That(PayloadCodec.TryRead(withUnknown, reuse), Is.True);
        }

        Assert.That(reuse, Is.EqualTo(SampleHeartbeat()));
        Assert.That(reuse.CalculateSize(), Is.EqualTo(known.Length));
    }

    [Test]
    public void Random_bytes_never_make_TryRead_throw()
    {
        var random = new Random(1234);
        var reuse = new ClusterMessage();
        int accepted = 0;

        for (int i = 0; i < 20_000; i++)
        {
            var payload = new byte[random.Next(0, 64)];
            random.NextBytes(payload);
            if (i % 2 == 0 && payload.Length > 1)
            {
                payload[0] = 0x0A;
                payload[1] = (byte)(payload.Length - 2);
            }

            if (PayloadCodec.TryRead(payload, reuse))
            {
                accepted++;
            }
        }

        Assert.That(accepted, Is.GreaterThan(0).And.LessThan(20_000), "some random payloads are valid protobuf, most are not");
    }
}
