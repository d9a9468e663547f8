using System.Diagnostics.CodeAnalysis;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Fencing;

/// <summary>
/// A fence agent that calls an HTTP API: a network power switch, an out-of-band controller's REST gateway or a cloud
/// provider's "stop instance" endpoint behind a small proxy.
/// </summary>
/// <remarks>
/// <para><b>Fence:</b> POSTs to <see cref="FenceAgentOptions.Url"/> with <c>{node}</c> and <c>{cluster}</c> replaced by the URI-escaped
/// node and cluster names, with the JSON body <c>{"action":"off","node":"…","cluster":"…"}</c>. Any 2xx answer means fenced; anything else
/// (or no answer) is a failure naming the status code.</para>
/// <para><b>Confirm</b> (on by default) when <see cref="FenceAgentOptions.StatusUrl"/> is set: GETs the status URL (same placeholders);
/// the node is confirmed off when the answer is 2xx with a JSON object whose <c>state</c> property is <c>off</c> (case-insensitive).
/// Any other state is a failure naming the state seen. The result is <see cref="FenceResult.Succeeded"/> only once confirmed:
/// confirmation is part of <see cref="FenceAsync"/>. Without a status URL the POST's 2xx is the result.</para>
/// <para><see cref="FenceAgentOptions.BearerToken"/>, when set, is sent as <c>Authorization: Bearer …</c> on both requests. It is never
/// logged and never appears in an explanation.</para>
/// <para>The request is bounded by the cancellation token (the runtime's <c>Fencing:Timeout</c>); a cancelled call throws
/// <see cref="OperationCanceledException"/>. Network errors are returned as failures.</para>
/// </remarks>
public sealed class HttpFenceAgent : IFenceAgent, IDisposable
{
    private const int BodyExcerpt = 200;

    private readonly HttpClient _http;
    private readonly bool _ownsClient;
    private readonly string _url;
    private readonly string _statusUrl;
    private readonly string _token;
    private readonly bool _confirm;
    private readonly string[] _nodes;
    private readonly string _cluster;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Creates the agent from its options (<see cref="FenceAgentOptions.Name"/>, <see cref="FenceAgentOptions.Url"/>,
    /// <see cref="FenceAgentOptions.StatusUrl"/>, <see cref="FenceAgentOptions.BearerToken"/>, <see cref="FenceAgentOptions.Confirm"/>,
    /// <see cref="FenceAgentOptions.Nodes"/>; a copy is taken).</summary>
    /// <param name="options">The agent's settings.</param>
    /// <param name="clusterName">The cluster name, for the <c>{cluster}</c> placeholder.</param>
    /// <param name="httpClient">The client to send with (not disposed by the agent). When <see langword="null"/> the agent creates one
    /// with its own handler, without a client-side timeout (the cancellation token bounds each call), and disposes it in <see cref="Dispose"/>.</param>
    /// <param name="logger">Receives the answers (never the token); none when <see langword="null"/>.</param>
    /// <param name="timeProvider">Clock for elapsed times; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The name is empty, or <see cref="FenceAgentOptions.Url"/> is not an absolute http/https URL.</exception>
    [SuppressMessage("Reliability", "CA2000:Dispose objects before losing scope", Justification = "The handler is owned by the client, which this agent disposes.")]
    public HttpFenceAgent(FenceAgentOptions options, string clusterName, HttpClient? httpClient = null, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Name, nameof(options));
        ArgumentNullException.ThrowIfNull(clusterName);
        if (!Uri.TryCreate(Expand(options.Url, "node", clusterName), UriKind.Absolute, out var probe) || (probe.Scheme != Uri.UriSchemeHttp && probe.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"fence agent {options.Name}: Url must be an absolute http/https URL", nameof(options));
        }

        Name = options.Name;
        _url = options.Url;
        _statusUrl = options.StatusUrl ?? "";
        _token = options.BearerToken ?? "";
        _confirm = options.Confirm;
        _nodes = [.. options.Nodes];
        _cluster = clusterName;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        if (httpClient is null)
        {
            _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
            _ownsClient = true;
        }
        else
        {
            _http = httpClient;
        }
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async ValueTask<FenceResult> FenceAsync(string node, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(node);
        if (FenceAgentSupport.NotFor(_nodes, node) is { } skipped)
        {
            return skipped;
        }

        FenceResult result;
        try
        {
            result = await FenceCoreAsync(node, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            result = new FenceResult(false, "the HTTP client timed out");
        }
        catch (HttpRequestException ex)
        {
            result = new FenceResult(false, $"request failed: {ex.Message}");
        }

        result = result with { Explanation = Scrub(result.Explanation) };
        if (result.Succeeded)
        {
            FencingLog.Succeeded(_logger, Name, result.Explanation);
        }
        else
        {
            FencingLog.Failed(_logger, Name, result.Explanation);
        }

        return result;
    }

    /// <summary>Disposes the HTTP client when the agent created it.</summary>
    public void Dispose()
    {
        if (_ownsClient)
        {
            _http.Dispose();
        }
    }

    private async Task<FenceResult> FenceCoreAsync(string node, CancellationToken cancellationToken)
    {
        var url = Expand(_url, node, _cluster);
        var body = JsonSerializer.Serialize(new Dictionary<string, string> { ["action"] = "off", ["node"] = node, ["cluster"] = _cluster });
        using (var post = Request(HttpMethod.Post, url))
        {
            post.Content = new StringContent(body, Encoding.UTF8, "application/json");
            var started = _time.GetTimestamp();
            using var response = await _http.SendAsync(post, cancellationToken).ConfigureAwait(false);
            FencingLog.HttpAnswered(_logger, Name, "POST", url, (int)response.StatusCode, _time.GetElapsedTime(started).TotalMilliseconds);
            if (!response.IsSuccessStatusCode)
            {
                var text = await ExcerptAsync(response, cancellationToken).ConfigureAwait(false);
                return new FenceResult(false, $"POST {url} answered {(int)response.StatusCode} {response.ReasonPhrase}{text}");
            }
        }

        if (!_confirm || _statusUrl.Length == 0)
        {
            return new FenceResult(true, $"POST {url} answered 2xx{(_statusUrl.Length == 0 ? "" : " (not confirmed: Confirm is off)")}");
        }

        var statusUrl = Expand(_statusUrl, node, _cluster);
        using var get = Request(HttpMethod.Get, statusUrl);
        var t0 = _time.GetTimestamp();
        using var status = await _http.SendAsync(get, cancellationToken).ConfigureAwait(false);
        FencingLog.HttpAnswered(_logger, Name, "GET", statusUrl, (int)status.StatusCode, _time.GetElapsedTime(t0).TotalMilliseconds);
        if (!status.IsSuccessStatusCode)
        {
            var text = await ExcerptAsync(status, cancellationToken).ConfigureAwait(false);
            return new FenceResult(false, $"POST {url} succeeded, but GET {statusUrl} answered {(int)status.StatusCode} {status.ReasonPhrase}{text}");
        }

        var json = await status.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var state = ReadState(json);
        return state switch
        {
            null => new FenceResult(false, $"POST {url} succeeded, but GET {statusUrl} did not answer a JSON object with a \"state\" string{Excerpt(json)}"),
            _ when string.Equals(state, "off", StringComparison.OrdinalIgnoreCase) => new FenceResult(true, $"POST {url} succeeded; status confirmed off"),
            _ => new FenceResult(false, $"POST {url} succeeded, but status reports state '{state}' (expected off)"),
        };
    }

    private HttpRequestMessage Request(HttpMethod method, string url)
    {
        var request = new HttpRequestMessage(method, url);
        if (_token.Length > 0)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        }

        return request;
    }

    private static string? ReadState(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (string.Equals(p.Name, "state", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                {
                    return p.Value.GetString();
                }
            }

            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static async Task<string> ExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return Excerpt(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (HttpRequestException)
        {
            return "";
        }
    }

    private static string Excerpt(string text)
    {
        text = text.Trim().ReplaceLineEndings(" ");
        return text.Length == 0 ? "" : ": " + (text.Length > BodyExcerpt ? text[..BodyExcerpt] + "…" : text);
    }

    /// <summary>Removes the token from a text that quotes the server (a server may echo the request).</summary>
    private string Scrub(string text) => _token.Length == 0 ? text : text.Replace(_token, "***", StringComparison.Ordinal);

    private static string Expand(string template, string node, string cluster) =>
        template.Replace("{node}", Uri.EscapeDataString(node), StringComparison.Ordinal).Replace("{cluster}", Uri.EscapeDataString(cluster), StringComparison.Ordinal);
}
