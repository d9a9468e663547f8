using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// Writes the log line of each <see cref="ClusterEvent"/> (<see cref="EventLog"/>) off the decision loop, in the order the events
/// were raised. Formatting a log line is cheap once warm, but the first line of each message shape costs milliseconds of JIT
/// (every message's state is a new generic instantiation of the logging pipeline, which ahead-of-time preparation cannot reach),
/// and a slow log sink can block: measured, the first takeover of a process spent 40 to 90 ms of its loop in these lines
/// (docs/benchmarks.md, crash-hint block). The loop only enqueues; a bounded queue drops the oldest lines when the sink cannot
/// keep up, and says how many.
/// </summary>
internal sealed class EventLogWriter : IAsyncDisposable
{
    /// <summary>Lines kept waiting for a slow log sink before the oldest are dropped.</summary>
    internal const int Capacity = 4096;

    private readonly ILogger _logger;
    private readonly string _nodeName;
    private readonly Channel<ClusterEvent> _events;
    private readonly Task _writer;
    private long _dropped;

    /// <summary>Starts the writer.</summary>
    /// <param name="logger">Where the lines go.</param>
    /// <param name="nodeName">This node's name (some lines name it).</param>
    public EventLogWriter(ILogger logger, string nodeName)
    {
        _logger = logger;
        _nodeName = nodeName;
        _events = Channel.CreateBounded<ClusterEvent>(
            new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.DropOldest },
            _ => Interlocked.Increment(ref _dropped));
        _writer = Task.Run(WriteAsync);
    }

    /// <summary>Events whose line was dropped because the log sink fell <see cref="Capacity"/> lines behind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// Queues the event's line (never blocks). An event whose line is written only at <see cref="LogLevel.Debug"/> (a resource action
    /// that completed: every monitor round) is not queued while Debug is off: queuing it would wake a thread-pool worker to write
    /// nothing, twice a second on an idle owner.
    /// </summary>
    /// <param name="e">The event.</param>
    public void Post(ClusterEvent e)
    {
        if (e is ResourceActionCompleted && !_logger.IsEnabled(LogLevel.Debug))
        {
            return;
        }

        _events.Writer.TryWrite(e);
    }

    /// <summary>Writes what is queued, then stops, bounded by <paramref name="bound"/> (a stuck sink cannot hold the node's stop).</summary>
    /// <param name="bound">How long to wait for the queued lines.</param>
    public async Task FlushAndStopAsync(TimeSpan bound)
    {
        _events.Writer.TryComplete();
        using var stop = new CancellationTokenSource();
        var bounded = Task.Delay(bound, TimeProvider.System, stop.Token);
        await Task.WhenAny(_writer, bounded).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => new(FlushAndStopAsync(TimeSpan.FromSeconds(2)));

    private async Task WriteAsync()
    {
        long reported = 0;
        await foreach (var e in _events.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                var dropped = Dropped;
                if (dropped != reported)
                {
                    RuntimeLog.EventLinesDropped(_logger, dropped - reported, Capacity);
                    reported = dropped;
                }

                EventLog.Log(_logger, _nodeName, e);
            }
            catch (Exception ex)
            {
                // A logging provider that throws must not end the writer: the next line may succeed.
                RuntimeLog.SubscriberError(_logger, ex);
            }
        }
    }
}
