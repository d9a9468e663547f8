using System.Diagnostics;
using System.Net.Http.Headers;
using System.Threading.Channels;
using HaKit.Diagnostics;
using HaKit.Ownership;
using HaKit.Resources;
using HaKit.Runtime;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace HaKit.Notifications;

/// <summary>
/// Delivers <see cref="Notification"/>s to the configured script and webhook (<see cref="NotifyOptions"/>) from a bounded queue on
/// its own task. <see cref="Post"/> never blocks and never throws: when the queue is full the oldest waiting notification is
/// dropped and counted. A script runs without a shell and is killed (its whole tree) after <see cref="NotifyOptions.ScriptTimeout"/>;
/// a webhook POST is retried with exponential back-off (Polly) and each attempt is bounded by <see cref="NotifyOptions.WebhookTimeout"/>.
/// Failures are counted (<c>hakit.notifications</c>) and logged, never retried beyond that.
/// </summary>
internal sealed partial class Notifier : IAsyncDisposable
{
    /// <summary>How long <see cref="DisposeAsync"/> lets the queue drain before it stops delivering.</summary>
    internal static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private readonly Dictionary<string, string> _degraded = new(StringComparer.Ordinal);
    private readonly NotifyOptions _options;
    private readonly string[] _scriptArguments;
    private readonly string _cluster;
    private readonly string _node;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly HaKitMetrics? _metrics;
    private readonly Channel<Notification> _queue;
    private readonly HttpClient? _http;
    private readonly Uri? _webhook;
    private readonly ResiliencePipeline<HttpResponseMessage>? _pipeline;
    private readonly CancellationTokenSource _stop = new();
    private readonly LogAggregator _repeated;
    private Task? _pump;
    private long _delivered;
    private long _failed;
    private long _dropped;

    /// <summary>Creates the notifier (nothing is delivered before <see cref="Start"/>).</summary>
    /// <param name="options">What to notify; a copy of the script arguments is taken.</param>
    /// <param name="cluster">The cluster name.</param>
    /// <param name="node">This node's name.</param>
    /// <param name="logger">Logs deliveries that failed and dropped notifications.</param>
    /// <param name="time">The clock (event time stamps, time-outs, back-off).</param>
    /// <param name="metrics">Counts deliveries, failures and drops; none when null.</param>
    /// <param name="handler">The HTTP handler for the webhook (tests); a new <see cref="SocketsHttpHandler"/> when null.</param>
    public Notifier(NotifyOptions options, string cluster, string node, ILogger logger, TimeProvider time, HaKitMetrics? metrics = null, HttpMessageHandler? handler = null)
    {
        _options = options;
        _scriptArguments = [.. options.ScriptArguments];
        _cluster = cluster;
        _node = node;
        _logger = logger;
        _time = time;
        _metrics = metrics;
        _repeated = new LogAggregator(logger, time);
        _queue = Channel.CreateBounded<Notification>(
            new BoundedChannelOptions(options.QueueLimit) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            OnDropped);
        if (!string.IsNullOrWhiteSpace(options.Webhook))
        {
            _webhook = new Uri(options.Webhook, UriKind.Absolute);
            _http = new HttpClient(handler ?? new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) }, disposeHandler: true)
            {
                Timeout = Timeout.InfiniteTimeSpan, // each attempt is bounded by the pipeline's time-out
            };
            var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time };
            if (options.WebhookRetries > 0)
            {
                builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
                {
                    MaxRetryAttempts = options.WebhookRetries,
                    BackoffType = DelayBackoffType.Exponential,
                    Delay = TimeSpan.FromMilliseconds(200),
                    ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                        .Handle<HttpRequestException>()
                        .Handle<TimeoutRejectedException>()
                        .HandleResult(r => !r.IsSuccessStatusCode),
                    OnRetry = args =>
                    {
                        args.Outcome.Result?.Dispose();
                        return default;
                    },
                });
            }

            _pipeline = builder.AddTimeout(options.WebhookTimeout).Build();
        }
    }

    /// <summary>Notifications delivered to every configured target.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Deliveries that failed (per target).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Notifications dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Starts delivering.</summary>
    public void Start() => _pump ??= Task.Run(() => PumpAsync(_stop.Token));

    /// <summary>Queues the notification of <paramref name="e"/>, if the outside is told of that event. Never blocks.</summary>
    /// <param name="e">The event.</param>
    public void Post(ClusterEvent e)
    {
        if (!IsNews(e))
        {
            return;
        }

        if (Notification.From(e, _cluster, _node, _time.GetUtcNow()) is { } n)
        {
            _queue.Writer.TryWrite(n);
        }
    }

    /// <summary>
    /// A group's monitor reports Degraded at every round while the condition lasts (a replicated group writing without its
    /// outdated peer, say): only the first report of each condition is news. A new message, a recovery or a role change starts over.
    /// Called on the node's loop only.
    /// </summary>
    private bool IsNews(ClusterEvent e)
    {
        switch (e)
        {
            case GroupHealthReported { Outcome: GroupOutcome.Degraded } h:
                var condition = $"{h.Resource}\n{h.Message}";
                if (_degraded.TryGetValue(h.Group, out var last) && last == condition)
                {
                    return false;
                }

                _degraded[h.Group] = condition;
                return true;
            case GroupHealthReported h:
                _degraded.Remove(h.Group);
                return true;
            case RoleChanged r:
                _degraded.Remove(r.Group);
                return true;
            default:
                return true;
        }
    }

    /// <summary>Stops taking notifications, delivers what is queued for up to <see cref="DrainTimeout"/>, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_pump is { } pump)
        {
            try
            {
                await pump.WaitAsync(DrainTimeout, _time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await _stop.CancelAsync().ConfigureAwait(false);
                await pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        _stop.Dispose();
        _http?.Dispose();
        _repeated.Dispose();
    }

    private void OnDropped(Notification n)
    {
        Interlocked.Increment(ref _dropped);
        _metrics?.Notification("queue", "dropped");
        if (_repeated.Occurred("notifications: queue full, oldest dropped", n.ToString()))
        {
            LogDropped(_logger, n.ToString(), _options.QueueLimit);
        }
    }

    private async Task PumpAsync(CancellationToken stop)
    {
        try
        {
            await foreach (var n in _queue.Reader.ReadAllAsync(stop).ConfigureAwait(false))
            {
                var json = n.ToJson();
                var ok = true;
                if (!string.IsNullOrWhiteSpace(_options.Script))
                {
                    ok &= await RunScriptAsync(n, json, stop).ConfigureAwait(false);
                }

                if (_webhook is not null)
                {
                    ok &= await PostWebhookAsync(n, json, stop).ConfigureAwait(false);
                }

                if (ok)
                {
                    Interlocked.Increment(ref _delivered);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped while the queue was not yet drained.
        }
    }

    private async Task<bool> RunScriptAsync(Notification n, byte[] json, CancellationToken stop)
    {
        var psi = new ProcessStartInfo(_options.Script)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in _scriptArguments)
        {
            psi.ArgumentList.Add(a);
        }

        psi.ArgumentList.Add(n.Kind);
        psi.ArgumentList.Add(n.Name);
        psi.ArgumentList.Add(n.State);
        psi.Environment["HAKIT_EVENT"] = n.Kind;
        psi.Environment["HAKIT_NAME"] = n.Name;
        psi.Environment["HAKIT_STATE"] = n.State;
        foreach (var (key, value) in n.Fields)
        {
            psi.Environment["HAKIT_" + key.ToUpperInvariant()] = value;
        }

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(stop);
        bounded.CancelAfter(_options.ScriptTimeout);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("no process was started");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return Fail("script", n, $"{_options.Script} could not be started: {ex.Message}");
        }

        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var errors = process.StandardError.ReadToEndAsync(CancellationToken.None);
            try
            {
                try
                {
                    await process.StandardInput.BaseStream.WriteAsync(json, bounded.Token).ConfigureAwait(false);
                    process.StandardInput.Close();
                }
                catch (IOException)
                {
                    // The script does not read its standard input (it exited already): the environment carries the event too.
                }

                await process.WaitForExitAsync(bounded.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                ChildProcess.KillTree(process);
                return stop.IsCancellationRequested ? false
                    : Fail("script", n, $"{_options.Script} ran longer than {_options.ScriptTimeout.TotalSeconds:0.###} s and was killed");
            }

            var tail = await TailAsync(output, errors).ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                return Fail("script", n, $"{_options.Script} exited with code {process.ExitCode}{tail}");
            }

            _metrics?.Notification("script", "delivered");
            _repeated.Recovered("notifications: delivery to the script failed");
            LogDelivered(_logger, "script", n.ToString());
            return true;
        }
    }

    private async Task<bool> PostWebhookAsync(Notification n, byte[] json, CancellationToken stop)
    {
        try
        {
            using var response = await _pipeline!.ExecuteAsync(
                async token =>
                {
                    using var content = new ByteArrayContent(json);
                    content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    return await _http!.PostAsync(_webhook, content, token).ConfigureAwait(false);
                },
                stop).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return Fail("webhook", n, $"{_webhook} answered {(int)response.StatusCode} {response.ReasonPhrase} after {_options.WebhookRetries + 1} attempts");
            }

            _metrics?.Notification("webhook", "delivered");
            _repeated.Recovered("notifications: delivery to the webhook failed");
            LogDelivered(_logger, "webhook", n.ToString());
            return true;
        }
        catch (Exception ex) when (ex is HttpRequestException or TimeoutRejectedException && !stop.IsCancellationRequested)
        {
            return Fail("webhook", n, $"{_webhook} unreachable after {_options.WebhookRetries + 1} attempts: {ex.Message}");
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return false;
        }
    }

    private bool Fail(string target, Notification n, string why)
    {
        Interlocked.Increment(ref _failed);
        _metrics?.Notification(target, "failed");
        if (_repeated.Occurred($"notifications: delivery to the {target} failed", why))
        {
            LogFailed(_logger, target, n.ToString(), why);
        }

        return false;
    }

    /// <summary>The script's last output lines, waiting for them no longer than <see cref="ChildProcess.OutputDrainWait"/>: a
    /// process the script left in the background may keep its pipes open, and must not hold the notifications.</summary>
    private static async Task<string> TailAsync(Task<string> output, Task<string> errors)
    {
        try
        {
            await Task.WhenAll(output, errors).WaitAsync(ChildProcess.OutputDrainWait).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return "";
        }

        return Tail(output.Result + errors.Result);
    }

    private static string Tail(string output)
    {
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "" : ": " + string.Join(" | ", lines.TakeLast(3));
    }

    [LoggerMessage(EventId = 3501, Level = LogLevel.Debug, Message = "notification {Notification} delivered to the {Target}")]
    private static partial void LogDelivered(ILogger logger, string target, string notification);

    [LoggerMessage(EventId = 3502, Level = LogLevel.Warning, Message = "notification {Notification} not delivered to the {Target}: {Why}")]
    private static partial void LogFailed(ILogger logger, string target, string notification, string why);

    [LoggerMessage(EventId = 3503, Level = LogLevel.Warning, Message = "notification {Notification} dropped: {Limit} notifications are already waiting (HaKit:Notify:QueueLimit)")]
    private static partial void LogDropped(ILogger logger, string notification, int limit);
}
