using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Runtime;

namespace HaKit.Tests.Runtime;

public sealed class HeartbeatMapperTests
{
    [Test]
    public void A_heartbeat_survives_the_round_trip_through_protobuf_including_its_announcement_number()
    {
        var message = new HeartbeatMessage(
            150,
            true,
            [
                new GroupAnnouncement("web", GroupRole.Active, 7, 9, true, null, 2, 1),
                new GroupAnnouncement("db", GroupRole.Standby, 0, 4, false, "b", 0, 0),
            ],
            Sequence: 123_456_789_012UL);

        var proto = HeartbeatMapper.ToProto(message);
        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(proto);
        var back = HeartbeatMapper.FromProto(HaKit.Wire.Proto.ClusterMessage.Parser.ParseFrom(bytes).Heartbeat);

        Assert.That(back, Is.Not.Null);
        Assert.That(back!.Sequence, Is.EqualTo(123_456_789_012UL));
        Assert.That(back.Priority, Is.EqualTo(150));
        Assert.That(back.Leaving, Is.True);
        Assert.That(back.Groups, Is.EqualTo(message.Groups).AsCollection);
    }
}
