using HaKit;
using System.Globalization;
using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;

namespace TwoNode;

/// <summary>
/// Writes the sample's machine-readable lines to stdout (and nothing else goes there: logs go to stderr).
/// Every line starts with an ISO-8601 UTC timestamp with milliseconds (taken when the line is raised) and is flushed at once.
/// Lines raised before <see cref="Ready"/> are held back and written right after the <c>ready</c> line.
/// </summary>
/// <remarks>
/// The lines are written by a thread of the reporter's own, never by the caller: <see cref="OnEvent"/> runs on the node's loop
/// (<c>ClusterNode.EventRaised</c> handlers must not block), and a write to a pipe waits for its reader. Written in place, each line
/// held the loop 1–2 ms during a takeover (measured on the takeover benchmark: the hint's and the decision's lines came before the
/// arbiter was asked), and a reader that stopped reading would have stalled the node. At most <see cref="Capacity"/> lines wait;
/// beyond that lines are dropped and counted, and a <c>dropped lines=N</c> line says so once the writer catches up. The thread
/// lives as long as the reporter (<see cref="Dispose"/> ends it): started at a crash it would cost more than it saves.
/// </remarks>
public sealed class StdoutReporter : IDisposable
{
    /// <summary>How many lines may wait for the writer before new ones are dropped.</summary>
    public const int Capacity = 10_000;

    private readonly object _lock = new(); // Monitor: the writer and Flush wait on it
    private readonly TextWriter _out;
    private readonly Queue<string> _queue = new();
    private readonly Thread _writer;
    private List<string>? _held = [];
    private long _queued;
    private long _written;
    private long _dropped;
    private bool _disposed;

    /// <summary>Creates a reporter writing to <paramref name="output"/> (default: <see cref="Console.Out"/>).</summary>
    public StdoutReporter(TextWriter? output = null)
    {
        _out = output ?? Console.Out;
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "stdout lines" };
        _writer.Start();
    }

    /// <summary>
    /// The node is started (links bound): writes <c>ready node=&lt;name&gt; arbiter=&lt;mode&gt; admin=&lt;endpoint&gt;</c> (without
    /// <c>arbiter=</c> when <paramref name="arbiter"/> is null, without <c>admin=</c> when <paramref name="admin"/> is null, e.g. the
    /// admin API is disabled), then any held lines.
    /// </summary>
    public void Ready(string node, string? arbiter = null, string? admin = null)
    {
        lock (_lock)
        {
            var ready = $"ready node={node}" + (arbiter is null ? "" : $" arbiter={arbiter}") + (admin is null ? "" : $" admin={admin}");
            Enqueue(Stamp(ready));
            foreach (var line in _held ?? [])
            {
                Enqueue(line);
            }

            _held = null;
        }
    }

    /// <summary>Right before a graceful exit completes: writes <c>exit</c> and waits (up to two seconds) until every line is written.</summary>
    public void Exit()
    {
        Line("exit");
        Flush(TimeSpan.FromSeconds(2));
    }

    /// <summary>Waits until every line raised so far is written, or <paramref name="timeout"/> passed.</summary>
    /// <returns>Whether every line was written.</returns>
    public bool Flush(TimeSpan timeout)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (_lock)
        {
            while (_written < _queued)
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0 || !Monitor.Wait(_lock, TimeSpan.FromMilliseconds(left)))
                {
                    return _written >= _queued;
                }
            }

            return true;
        }
    }

    /// <summary>Writes what is queued (up to two seconds) and ends the writer thread.</summary>
    public void Dispose()
    {
        Flush(TimeSpan.FromSeconds(2));
        lock (_lock)
        {
            _disposed = true;
            Monitor.PulseAll(_lock);
        }

        _writer.Join(TimeSpan.FromSeconds(2));
    }

    /// <summary>The HTTP listener of <paramref name="group"/> is bound: <c>http listening group=.. address=.. epoch=..</c>.</summary>
    public void HttpListening(string group, string address, ulong epoch) =>
        Line($"http listening group={group} address={address} epoch={epoch.ToString(CultureInfo.InvariantCulture)}");

    /// <summary>The HTTP listener of <paramref name="group"/> is closed: <c>http stopped group=.. address=..</c>.</summary>
    public void HttpStopped(string group, string address) => Line($"http stopped group={group} address={address}");

    /// <summary>Handler for <c>ClusterNode.EventRaised</c>: role changes, peer health changes and crash hints.</summary>
    public void OnEvent(object? sender, ClusterEvent e)
    {
        switch (e)
        {
            case RoleChanged r:
                var reason = r.Takeover?.ToString().ToLowerInvariant() ?? "-";
                var ms = r.TakeoverDuration is { } d ? Math.Round(d.TotalMilliseconds).ToString("0", CultureInfo.InvariantCulture) : "-";
                Line($"role group={r.Group} from={r.From} to={r.To} epoch={r.Epoch.ToString(CultureInfo.InvariantCulture)} reason={reason} takeover_ms={ms}");
                break;
            case PeerHealthChanged p:
                Line($"peer node={p.Peer} health={p.To}");
                break;
            case PeerCrashHinted h:
                Line($"hint node={h.Peer} link={h.Link} shortened={(h.Shortened.Count == 0 ? "-" : string.Join(',', h.Shortened))}");
                break;
        }
    }

    private void Line(string text)
    {
        var line = Stamp(text);
        lock (_lock)
        {
            if (_held is not null)
            {
                _held.Add(line);
            }
            else
            {
                Enqueue(line);
            }
        }
    }

    /// <summary>Queues <paramref name="line"/> for the writer (under <see cref="_lock"/>).</summary>
    private void Enqueue(string line)
    {
        if (_queue.Count >= Capacity)
        {
            _dropped++;
            return;
        }

        _queue.Enqueue(line);
        _queued++;
        Monitor.PulseAll(_lock); // the writer, and no Flush waiter can take its wake-up
    }

    private void WriteLoop()
    {
        while (true)
        {
            string line;
            long dropped;
            lock (_lock)
            {
                while (_queue.Count == 0)
                {
                    if (_disposed)
                    {
                        return;
                    }

                    Monitor.Wait(_lock);
                }

                line = _queue.Dequeue();
                dropped = _dropped;
                _dropped = 0;
            }

            try
            {
                if (dropped > 0)
                {
                    _out.Write(Stamp($"dropped lines={dropped.ToString(CultureInfo.InvariantCulture)}") + "\n");
                }

                _out.Write(line + "\n");
                _out.Flush();
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // The reader is gone (a closed pipe): the line is lost, the node goes on.
            }

            lock (_lock)
            {
                _written++;
                Monitor.PulseAll(_lock);
            }
        }
    }

    private static string Stamp(string text) =>
        TimeProvider.System.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) + " " + text;
}
