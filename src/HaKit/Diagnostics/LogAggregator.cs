using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace HaKit.Diagnostics;

/// <summary>
/// Aggregates a repeated log message (a failed send every heartbeat, a "no majority yet" every retry): the caller logs the
/// first occurrence of a run in full; later ones are counted, and one summary line per interval says
/// <c>&lt;what&gt; repeated N times in the last T s (last: &lt;reason&gt;)</c>. When the message stops (the caller reports
/// <see cref="Recovered"/>, or a whole interval passes without one) the run ends with a recovery line.
/// </summary>
/// <remarks>
/// Thread-safe. Time comes from the <see cref="TimeProvider"/> (its timer drives the summaries), so tests run it on a fake clock.
/// Never use it for explanations that must stay whole (role changes, split brain, fencing).
/// </remarks>
internal sealed partial class LogAggregator : IDisposable
{
    /// <summary>The default summary interval.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Run> _runs = new(StringComparer.Ordinal);
    private ITimer? _timer;
    private int _active;
    private bool _disposed;

    /// <summary>Creates an aggregator that writes its summary and recovery lines to <paramref name="logger"/>.</summary>
    /// <param name="logger">Where summaries and recovery lines go (the caller logs first occurrences itself).</param>
    /// <param name="time">The clock of the summaries.</param>
    /// <param name="interval">How often a summary is written while a message repeats (default <see cref="DefaultInterval"/>).</param>
    public LogAggregator(ILogger logger, TimeProvider time, TimeSpan? interval = null)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(time);
        _logger = logger;
        _time = time;
        _interval = interval ?? DefaultInterval;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_interval, TimeSpan.Zero, nameof(interval));
    }

    /// <summary>The summary interval.</summary>
    public TimeSpan Interval => _interval;

    /// <summary>
    /// Whether <paramref name="error"/> is a socket error that a network partition, a peer that is down or a full buffer
    /// causes (logged without a stack trace), rather than a bug.
    /// </summary>
    public static bool IsExpected(Exception error) => error is SocketException s && s.SocketErrorCode is
        SocketError.NetworkUnreachable or SocketError.HostUnreachable or SocketError.ConnectionRefused or SocketError.ConnectionReset
        or SocketError.MessageSize or SocketError.NetworkDown or SocketError.HostDown or SocketError.NoBufferSpaceAvailable
        or SocketError.AddressNotAvailable or SocketError.TimedOut or SocketError.AccessDenied or SocketError.NetworkReset
        or SocketError.WouldBlock or SocketError.TryAgain;

    /// <summary>Records one occurrence of <paramref name="what"/>.</summary>
    /// <param name="what">What happened and to what (message kind and target), e.g. "link lan: send to 10.0.0.2:694 failed".</param>
    /// <param name="reason">This occurrence's reason (shown as "last:" in the summary).</param>
    /// <returns><see langword="true"/> when this is the first occurrence of a run: the caller logs it in full.</returns>
    public bool Occurred(string what, string reason)
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            if (_runs.TryGetValue(what, out var run))
            {
                run.Total++;
                run.InWindow++;
                run.LastReason = reason;
                return false;
            }

            _runs[what] = new Run { FirstTimestamp = now, WindowTimestamp = now, Total = 1, LastReason = reason };
            Volatile.Write(ref _active, _runs.Count);
            if (_timer is null && !_disposed)
            {
                _timer = _time.CreateTimer(static s => ((LogAggregator)s!).Tick(), this, _interval, _interval);
            }

            return true;
        }
    }

    /// <summary>
    /// Ends the run of <paramref name="what"/> (the error stopped): writes the count not yet summarized and a recovery line.
    /// Nothing happens (and nothing is locked) when no message is being aggregated, so a hot success path may call it freely.
    /// </summary>
    /// <param name="what">The same text as given to <see cref="Occurred"/>.</param>
    public void Recovered(string what)
    {
        if (Volatile.Read(ref _active) == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (_runs.Remove(what, out var run))
            {
                End(what, run, _time.GetTimestamp());
                Volatile.Write(ref _active, _runs.Count);
            }
        }
    }

    /// <summary>Stops the timer; counts not yet written are dropped.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>Once per interval: a summary for each message that repeated, a recovery line for each that stopped.</summary>
    internal void Tick()
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            List<string>? ended = null;
            foreach (var (what, run) in _runs)
            {
                if (run.InWindow > 0)
                {
                    LogRepeated(_logger, what, run.InWindow, _time.GetElapsedTime(run.WindowTimestamp, now).TotalSeconds, run.LastReason);
                    run.InWindow = 0;
                    run.WindowTimestamp = now;
                    run.Quiet = false;
                }
                else if (run.Quiet)
                {
                    // A whole interval without one: the condition is over.
                    (ended ??= []).Add(what);
                }
                else
                {
                    run.Quiet = true;
                }
            }

            foreach (var what in ended ?? [])
            {
                _runs.Remove(what, out var run);
                End(what, run!, now);
            }

            Volatile.Write(ref _active, _runs.Count);
            if (_runs.Count == 0)
            {
                _timer?.Dispose();
                _timer = null;
            }
        }
    }

    private void End(string what, Run run, long now)
    {
        if (run.InWindow > 0)
        {
            LogRepeated(_logger, what, run.InWindow, _time.GetElapsedTime(run.WindowTimestamp, now).TotalSeconds, run.LastReason);
        }

        LogRecovered(_logger, what, run.Total, _time.GetElapsedTime(run.FirstTimestamp, now).TotalSeconds);
    }

    [LoggerMessage(EventId = 40, Level = LogLevel.Warning, Message = "{What} repeated {Count} times in the last {Seconds:0.#} s (last: {Reason})")]
    private static partial void LogRepeated(ILogger logger, string what, long count, double seconds, string reason);

    [LoggerMessage(EventId = 41, Level = LogLevel.Information, Message = "{What}: no longer happening ({Total} times in {Seconds:0.#} s)")]
    private static partial void LogRecovered(ILogger logger, string what, long total, double seconds);

    private sealed class Run
    {
        public long FirstTimestamp { get; init; }

        public long WindowTimestamp { get; set; }

        public long Total { get; set; }

        public long InWindow { get; set; }

        public string LastReason { get; set; } = "";

        public bool Quiet { get; set; }
    }
}
