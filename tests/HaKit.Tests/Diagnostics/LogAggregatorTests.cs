using System.Net;
using System.Net.Sockets;
using HaKit.Diagnostics;
using HaKit.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Tests.Diagnostics;

/// <summary>Repeated log messages are aggregated: the first in full, then one summary per interval with a count, then a recovery line.</summary>
[TestFixture]
public class LogAggregatorTests
{
    private const string What = "Link lan: send to 10.0.0.2:694 failed";

    private FakeTimeProvider _time = null!;
    private FakeLogger _logger = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        _logger = new FakeLogger();
    }

    [Test]
    public void A_thousand_failed_sends_in_six_seconds_make_a_handful_of_lines_whose_counts_add_up()
    {
        using var aggregator = new LogAggregator(_logger, _time, TimeSpan.FromSeconds(5));
        var error = new SocketException((int)SocketError.NetworkUnreachable);
        int full = 0;
        for (int i = 0; i < 1000; i++)
        {
            if (aggregator.Occurred(What, error.SocketErrorCode.ToString()))
            {
                full++;
                _logger.Log(LogLevel.Warning, new EventId(1), "first failure", error, static (s, _) => s); // what a caller does with the first of a run
            }

            _time.Advance(TimeSpan.FromMilliseconds(6));
        }

        aggregator.Recovered(What);

        var lines = _logger.Collector.GetSnapshot();
        Assert.That(full, Is.EqualTo(1));
        Assert.That(lines, Has.Count.LessThanOrEqualTo(5), string.Join("\n", lines.Select(l => l.Message)));
        Assert.That(lines[0].Exception, Is.SameAs(error), "the first line carries the detail");
        var summaries = lines.Where(l => l.Id.Id == 40).ToList();
        Assert.That(summaries, Has.Count.EqualTo(2), "one at the 5 s interval, one for the rest at recovery");
        Assert.That(summaries.All(s => s.Exception is null));
        Assert.That(summaries[0].Message, Does.Match(@"^Link lan: send to 10\.0\.0\.2:694 failed repeated \d+ times in the last 5 s \(last: NetworkUnreachable\)$"));
        long counted = summaries.Sum(s => Convert.ToInt64(s.StructuredState!.Single(kv => kv.Key == "Count").Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(1 + counted, Is.EqualTo(1000), "first + summaries = every occurrence");
        var recovery = lines[^1];
        Assert.That(recovery.Id.Id, Is.EqualTo(41));
        Assert.That(recovery.Message, Is.EqualTo("Link lan: send to 10.0.0.2:694 failed: no longer happening (1000 times in 6 s)"));
    }

    [Test]
    public void A_message_that_stops_without_being_told_ends_after_a_quiet_interval_and_the_next_one_is_logged_in_full()
    {
        using var aggregator = new LogAggregator(_logger, _time, TimeSpan.FromSeconds(10));
        Assert.That(aggregator.Occurred(What, "a"), Is.True);
        Assert.That(aggregator.Occurred(What, "b"), Is.False);
        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.That(_logger.Collector.GetSnapshot().Select(l => l.Message), Is.EqualTo(new[] { What + " repeated 1 times in the last 10 s (last: b)" }));

        _time.Advance(TimeSpan.FromSeconds(10)); // a quiet interval
        _time.Advance(TimeSpan.FromSeconds(10)); // and another: over
        Assert.That(_logger.Collector.LatestRecord.Message, Is.EqualTo(What + ": no longer happening (2 times in 30 s)"));
        Assert.That(aggregator.Occurred(What, "c"), Is.True, "a new run starts with a full line");
    }

    [Test]
    public void Different_targets_are_aggregated_apart_and_recovering_one_leaves_the_other()
    {
        using var aggregator = new LogAggregator(_logger, _time);
        Assert.That(aggregator.Occurred("send to a failed", "x"), Is.True);
        Assert.That(aggregator.Occurred("send to b failed", "x"), Is.True);
        aggregator.Recovered("send to a failed");
        Assert.That(aggregator.Occurred("send to b failed", "x"), Is.False);
        Assert.That(aggregator.Occurred("send to a failed", "x"), Is.True);
    }

    [Test]
    public void Recovered_without_a_run_logs_nothing()
    {
        using var aggregator = new LogAggregator(_logger, _time);
        aggregator.Recovered(What);
        Assert.That(_logger.Collector.Count, Is.Zero);
    }

    [TestCase(SocketError.NetworkUnreachable, true)]
    [TestCase(SocketError.HostUnreachable, true)]
    [TestCase(SocketError.ConnectionRefused, true)]
    [TestCase(SocketError.MessageSize, true)]
    [TestCase(SocketError.InvalidArgument, false)]
    [TestCase(SocketError.NotSocket, false)]
    public void Network_errors_are_expected_and_others_are_not(SocketError code, bool expected) =>
        Assert.That(LogAggregator.IsExpected(new SocketException((int)code)), Is.EqualTo(expected));

    [Test]
    public async Task A_udp_link_logs_a_repeated_expected_send_error_once_without_a_stack_trace_then_a_count_then_the_end()
    {
        // A broadcast destination on a socket without SO_BROADCAST: EACCES (AccessDenied, as an iptables REJECT gives) on every send.
        await using var link = new UdpUnicastTransport("lan0", new IPEndPoint(IPAddress.Loopback, 0), [new IPEndPoint(IPAddress.Broadcast, 9)], 1400, _logger) { TimeProvider = _time };
        await link.StartAsync(new NullReceiver(), CancellationToken.None);

        for (int i = 0; i < 50; i++)
        {
            await link.SendAsync(new byte[10], CancellationToken.None);
        }

        var failures = _logger.Collector.GetSnapshot().Where(l => l.Level == LogLevel.Warning).ToList();
        Assert.That(failures, Has.Count.EqualTo(1), string.Join("\n", failures.Select(f => f.Message)));
        Assert.That(failures[0].Message, Does.Contain("send to 255.255.255.255:9 failed (AccessDenied"));
        Assert.That(failures[0].Exception, Is.Null, "an expected socket error has no stack trace");

        _time.Advance(LogAggregator.DefaultInterval);
        Assert.That(_logger.Collector.LatestRecord.Message, Is.EqualTo("Link lan0: send to 255.255.255.255:9 failed repeated 49 times in the last 10 s (last: AccessDenied)"));

        _time.Advance(LogAggregator.DefaultInterval);
        _time.Advance(LogAggregator.DefaultInterval);
        Assert.That(_logger.Collector.LatestRecord.Message, Is.EqualTo("Link lan0: send to 255.255.255.255:9 failed: no longer happening (50 times in 30 s)"));
    }

    private sealed class NullReceiver : IPacketReceiver
    {
        public void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
        {
        }

        public void OnTransportFault(IHeartbeatTransport link, Exception error)
        {
        }
    }
}
