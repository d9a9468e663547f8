using System.Net;
using System.Net.Sockets;
using HaKit.Arbitration;
using HaKit.Notifications;
using HaKit.Ownership;
using HaKit.Runtime;
using HaKit.Tests.Configuration;
using Microsoft.Extensions.Logging;

namespace HaKit.Tests.Arbitration;

/// <summary>ipfail's pieces outside the core: target syntax, the ICMP probe, options, the wire field, probe rounds and the notification.</summary>
[TestFixture]
public class IpfailTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(500);

    [TestCase("icmp:10.0.0.1", typeof(IcmpEchoProbe), "icmp 10.0.0.1")]
    [TestCase("ICMP:gateway.example", typeof(IcmpEchoProbe), "icmp gateway.example")]
    [TestCase("icmp:fd00::1", typeof(IcmpEchoProbe), "icmp fd00::1")]
    [TestCase("icmp:[fd00::1]", typeof(IcmpEchoProbe), "icmp fd00::1")]
    [TestCase("tcp:10.0.0.1:443", typeof(TcpConnectProbe), "tcp 10.0.0.1:443")]
    [TestCase("tcp:[fd00::1]:80", typeof(TcpConnectProbe), "tcp [fd00::1]:80")]
    [TestCase("10.0.0.1:80", typeof(TcpConnectProbe), "tcp 10.0.0.1:80")]
    public void Targets_parse_into_their_probe(string text, Type kind, string target)
    {
        var probe = ReachabilityTarget.Create(text, Timeout, TimeProvider.System);
        Assert.That(probe, Is.InstanceOf(kind));
        Assert.That(probe.Target, Is.EqualTo(target));
        Assert.That(ReachabilityTarget.TryValidate(text, out var why), Is.True, why);
    }

    [TestCase("icmp:", "host is missing")]
    [TestCase("icmp:gw:80", "has no port")]
    [TestCase("icmp:[gw]", "not an IPv6 address")]
    [TestCase("tcp:10.0.0.1", "port is missing")]
    [TestCase("10.0.0.1", "port is missing")]
    [TestCase("", "empty")]
    public void Bad_targets_say_why(string text, string why)
    {
        Assert.That(ReachabilityTarget.TryValidate(text, out var error), Is.False);
        Assert.That(error, Does.Contain(why));
    }

    [Test]
    public async Task Icmp_reaches_loopback_and_not_an_unrouted_address_within_the_timeout()
    {
        if (Environment.UserName != "root" && File.ReadAllText("/proc/sys/net/ipv4/ping_group_range").Trim() == "1\t0")
        {
            Assert.Ignore("ICMP needs root or net.ipv4.ping_group_range covering this group (it is '1 0' here)");
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.That(await new IcmpEchoProbe("127.0.0.1", TimeSpan.FromSeconds(2), TimeProvider.System).ProbeAsync(cts.Token), Is.True);
        var started = TimeProvider.System.GetTimestamp();
        // TEST-NET-3 (RFC 5737) is never routed to a host that answers: either no route (fails at once) or no reply (the timeout).
        Assert.That(await new IcmpEchoProbe("203.0.113.7", Timeout, TimeProvider.System).ProbeAsync(cts.Token), Is.False);
        Assert.That(TimeProvider.System.GetElapsedTime(started), Is.LessThan(TimeSpan.FromSeconds(3)), "bounded by the probe timeout");
        Assert.That(await new IcmpEchoProbe("127.0.0.1", Timeout, TimeProvider.System).ProbeAsync(new CancellationToken(true)), Is.False, "cancelled: does not answer");
    }

    [Test]
    public void Ipfail_options_are_validated_with_key_value_and_fix()
    {
        string[] Errors(Action<HaKitOptions> change)
        {
            var o = HaKitOptionsValidatorTests.Valid();
            change(o);
            return HaKitOptionsValidator.Validate(o).ToArray();
        }

        Assert.That(Errors(o => o.Arbiter.Ipfail.Enabled = true), Has.One.StartsWith("HaKit:Arbiter:Ipfail:Enabled = True").And.Contain("Arbiter:PingTargets"));
        Assert.That(Errors(o => o.Arbiter.Ipfail.Rounds = 1), Has.One.StartsWith("HaKit:Arbiter:Ipfail:Rounds = 1").And.Contain("one lost round"));
        Assert.That(Errors(o =>
        {
            o.Arbiter.PingTargets.Add("icmp:10.0.0.254");
            o.Arbiter.Ipfail.Enabled = true;
            o.Arbiter.Ipfail.Interval = TimeSpan.FromSeconds(1);
        }), Has.One.StartsWith("HaKit:Arbiter:Ipfail:Interval = ").And.Contain("longer than Arbiter:PingTimeout"));
        Assert.That(Errors(o => o.Arbiter.PingTargets.Add("icmp:a b")), Has.One.StartsWith("HaKit:Arbiter:PingTargets:0 = 'icmp:a b'").And.Contain("icmp:host"));
        Assert.That(Errors(o =>
        {
            o.Arbiter.PingTargets.AddRange(["icmp:10.0.0.254", "tcp:gw:443", "10.0.0.1:22"]);
            o.Arbiter.Ipfail.Enabled = true;
        }), Is.Empty);
    }

    [Test]
    public void The_score_travels_in_heartbeats_and_a_heartbeat_without_it_is_unknown()
    {
        var message = new HeartbeatMessage(100, false, [], 7) { Reachability = new ReachabilityScore(1, 2) };
        var proto = HeartbeatMapper.ToProto(message);
        Assert.That(HeartbeatMapper.FromProto(HaKit.Wire.Proto.Heartbeat.Parser.ParseFrom(Google.Protobuf.MessageExtensions.ToByteArray(proto.Heartbeat)))!.Reachability, Is.EqualTo(new ReachabilityScore(1, 2)));

        // A zero score is still a score (it must not read as "unknown").
        var zero = HeartbeatMapper.ToProto(message with { Reachability = new ReachabilityScore(0, 2) });
        Assert.That(HeartbeatMapper.FromProto(HaKit.Wire.Proto.Heartbeat.Parser.ParseFrom(Google.Protobuf.MessageExtensions.ToByteArray(zero.Heartbeat)))!.Reachability, Is.EqualTo(new ReachabilityScore(0, 2)));

        // An older peer sends no field at all.
        var old = HeartbeatMapper.ToProto(new HeartbeatMessage(100, false, [], 7));
        Assert.That(old.Heartbeat.Reachability, Is.Null);
        Assert.That(HeartbeatMapper.FromProto(old.Heartbeat)!.Reachability, Is.Null);
    }

    [Test]
    public async Task A_probe_round_probes_every_target_and_logs_only_when_the_reachable_set_changes()
    {
        var up = new FakeProbe("icmp 10.0.0.254") { Answers = true };
        var gw = new FakeProbe("tcp gw:443") { Answers = true };
        var logger = new Lines();
        var rounds = new List<ReachabilityRound>();
        var monitor = new ReachabilityMonitor([up, gw], TimeSpan.FromSeconds(1), TimeProvider.System, logger, rounds.Add);

        await monitor.RoundAsync(CancellationToken.None);
        await monitor.RoundAsync(CancellationToken.None);
        Assert.That(logger.Messages, Is.Empty, "all reachable: nothing to say");
        up.Answers = false;
        await monitor.RoundAsync(CancellationToken.None);
        await monitor.RoundAsync(CancellationToken.None);
        Assert.That(logger.Messages, Has.Count.EqualTo(1));
        Assert.That(logger.Messages[0], Is.EqualTo("ipfail: ping targets reached 1 of 2 (was 2); unreachable: icmp 10.0.0.254"));
        gw.Throws = true;
        await monitor.RoundAsync(CancellationToken.None);
        Assert.That(logger.Messages, Has.Count.EqualTo(2), "a probe that throws counts as unreachable");
        Assert.That(rounds.Select(r => r.Score), Is.EqualTo(new[] { 2, 2, 1, 1, 0 }));
        Assert.That(rounds[^1].Lost, Is.EqualTo(new[] { "icmp 10.0.0.254", "tcp gw:443" }));
        Assert.That(up.Calls + gw.Calls, Is.EqualTo(10));
    }

    [Test]
    public void The_move_is_notified_as_an_ipfail_event()
    {
        var n = Notification.From(new ReachabilityMove(TimeSpan.FromSeconds(3), "web", "a", "b", 0, 1, 1, ["icmp 10.0.0.254"]), "c1", "a", DateTimeOffset.UnixEpoch)!;
        Assert.That((n.Kind, n.Name, n.State), Is.EqualTo(("ipfail", "web", "moving")));
        var fields = n.Fields.ToDictionary(f => f.Key, f => f.Value);
        Assert.That(fields["to"], Is.EqualTo("b"));
        Assert.That(fields["score"], Is.EqualTo("0"));
        Assert.That(fields["peer_score"], Is.EqualTo("1"));
        Assert.That(fields["lost"], Is.EqualTo("icmp 10.0.0.254"));
        Assert.That(EventLog.Describe("a", new ReachabilityMove(TimeSpan.Zero, "web", "a", "b", 0, 1, 1, ["icmp 10.0.0.254"])),
            Is.EqualTo("ipfail: moving group web to b: this node reaches 0 of 1 ping targets, b reaches 1; lost: icmp 10.0.0.254"));
    }

    [Test]
    public async Task A_tcp_target_via_the_new_prefix_connects()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var probe = ReachabilityTarget.Create($"tcp:127.0.0.1:{port}", TimeSpan.FromSeconds(3), TimeProvider.System);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            Assert.That(await probe.ProbeAsync(cts.Token), Is.True);
        }
        finally
        {
            listener.Stop();
        }
    }

    private sealed class FakeProbe(string target) : IReachabilityProbe
    {
        public bool Answers { get; set; }

        public bool Throws { get; set; }

        public int Calls { get; private set; }

        public string Target => target;

        public ValueTask<bool> ProbeAsync(CancellationToken cancellationToken)
        {
            Calls++;
            return Throws ? throw new InvalidOperationException("broken probe") : ValueTask.FromResult(Answers);
        }
    }

    private sealed class Lines : ILogger
    {
        public List<string> Messages { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == 1202)
            {
                Messages.Add(formatter(state, exception));
            }
        }
    }
}
