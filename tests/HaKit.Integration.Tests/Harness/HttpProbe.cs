using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HaKit.Integration.Harness;

/// <summary>The sample's answer body <c>node=&lt;name&gt; epoch=&lt;n&gt;</c>.</summary>
/// <param name="Node">The answering node.</param>
/// <param name="Epoch">The group's epoch at that node.</param>
public readonly record struct ServiceAnswer(string Node, ulong Epoch)
{
    /// <summary>Parses a body; null when it is not <c>node=X epoch=N</c>.</summary>
    public static ServiceAnswer? TryParse(string? body)
    {
        if (body is null)
        {
            return null;
        }

        string? node = null;
        ulong? epoch = null;
        foreach (var token in body.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (token.StartsWith("node=", StringComparison.Ordinal))
            {
                node = token[5..];
            }
            else if (token.StartsWith("epoch=", StringComparison.Ordinal) &&
                     ulong.TryParse(token.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var e))
            {
                epoch = e;
            }
        }

        return node is { Length: > 0 } && epoch is { } ep ? new ServiceAnswer(node, ep) : null;
    }

    /// <inheritdoc />
    public override string ToString() => $"node={Node} epoch={Epoch}";
}

/// <summary>A raw HTTP/1.1 GET over <see cref="TcpClient"/> with a short timeout: no connection pooling, no retries.</summary>
public static class HttpProbe
{
    private static readonly byte[] Request = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n");

    /// <summary>
    /// Connects to <paramref name="endpoint"/> (giving up after <paramref name="connectTimeout"/>), sends <c>GET /</c> and reads the
    /// response to its end (giving up after <paramref name="readTimeout"/>). Returns the body of a 200 response, otherwise null.
    /// </summary>
    public static async Task<string?> GetBodyAsync(IPEndPoint endpoint, TimeSpan connectTimeout, TimeSpan readTimeout, CancellationToken cancellationToken = default)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connect.CancelAfter(connectTimeout);
                await socket.ConnectAsync(endpoint, connect.Token).ConfigureAwait(false);
            }

            using var read = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            read.CancelAfter(readTimeout);
            await socket.SendAsync(Request, SocketFlags.None, read.Token).ConfigureAwait(false);
            var buffer = new byte[4096];
            var length = 0;
            while (length < buffer.Length)
            {
                var n = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, read.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                length += n;
            }

            var text = Encoding.UTF8.GetString(buffer, 0, length);
            var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            return text.StartsWith("HTTP/1.1 200", StringComparison.Ordinal) && headerEnd >= 0 ? text[(headerEnd + 4)..] : null;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or IOException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return null;
        }
    }

    /// <summary><see cref="GetBodyAsync"/>, parsed as the sample's answer.</summary>
    public static async Task<ServiceAnswer?> AskAsync(IPEndPoint endpoint, TimeSpan connectTimeout, TimeSpan readTimeout, CancellationToken cancellationToken = default) =>
        ServiceAnswer.TryParse(await GetBodyAsync(endpoint, connectTimeout, readTimeout, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Asks every <paramref name="pollInterval"/> until <paramref name="accept"/> holds for an answer; returns that answer, or null
    /// after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<ServiceAnswer?> WaitForAnswerAsync(IPEndPoint endpoint, Func<ServiceAnswer, bool> accept, TimeSpan timeout,
        TimeSpan? pollInterval = null, CancellationToken cancellationToken = default)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        while (started.Elapsed < timeout)
        {
            var answer = await AskAsync(endpoint, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            if (answer is { } a && accept(a))
            {
                return a;
            }

            await Task.Delay(pollInterval ?? TimeSpan.FromMilliseconds(10), cancellationToken).ConfigureAwait(false);
        }

        return null;
    }
}
