using HaKit.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace HaKit.Tests.Runtime;

/// <summary>The event log lines are written off the loop, in event order, and a sink that falls behind loses lines, not the node.</summary>
[TestFixture]
public class EventLogWriterTests
{
    private static LinkHealthChanged Link(int i) => new(TimeSpan.FromMilliseconds(i), "b", $"lan{i}", PeerHealth.Suspect, PeerHealth.Dead, $"silent {i}");

    [Test]
    public async Task Lines_are_written_in_the_order_of_the_events()
    {
        var logger = new FakeLogger();
        await using (var writer = new EventLogWriter(logger, "a"))
        {
            for (var i = 0; i < 50; i++)
            {
                writer.Post(Link(i));
            }
        }

        var lines = logger.Collector.GetSnapshot().Select(r => r.Message).ToList();
        Assert.That(lines, Has.Count.EqualTo(50), "disposing writes what was queued");
        Assert.That(lines, Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"link lan{i} to node b is down (silent {i})")));
    }

    [Test]
    public async Task A_sink_that_blocks_does_not_block_the_poster_and_the_dropped_lines_are_counted_and_reported()
    {
        using var release = new ManualResetEventSlim();
        var logger = new BlockingLogger(release);
        var writer = new EventLogWriter(logger, "a");
        var total = EventLogWriter.Capacity + 100;
        for (var i = 0; i < total; i++)
        {
            writer.Post(Link(i)); // never blocks, although the sink is stuck on the first line
        }

        Assert.That(writer.Dropped, Is.GreaterThanOrEqualTo(99), "the queue holds Capacity lines; the oldest of the rest were dropped");
        release.Set();
        await writer.FlushAndStopAsync(TimeSpan.FromSeconds(10));

        Assert.That(logger.Lines, Has.Some.Match(@"^\d+ event log lines dropped: the log sink fell 4096 lines behind"));
        Assert.That(logger.Lines.Last(), Is.EqualTo($"link lan{total - 1} to node b is down (silent {total - 1})"), "the newest lines are kept");
    }

    [Test]
    public void The_warm_up_formats_a_line_for_every_event_a_takeover_raises()
    {
        // Each synthetic event must reach its own log line (a null description would mean a branch the warm-up never compiles).
        Assert.That(EventLog.WarmUp("a", "web"), Is.EqualTo(12));
    }

    private sealed class BlockingLogger(ManualResetEventSlim release) : ILogger
    {
        private readonly List<string> _lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (_lines)
                {
                    return [.. _lines];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            release.Wait(TimeSpan.FromSeconds(10));
            lock (_lines)
            {
                _lines.Add(formatter(state, exception));
            }
        }
    }
}
