using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using HaKit.Grpc.Link.V1;
using Microsoft.Extensions.Logging;

namespace HaKit.Grpc;

/// <summary>
/// Runs the dialer's connection-loss path once at link start, so that the first real crash of a peer does not pay for it cold.
/// </summary>
/// <remarks>
/// <para>Measured on the TwoNode sample (b kept running, a SIGKILLed and restarted five times, idle 2-core machine): b logged the
/// end of its stream to a 35 ms after the first SIGKILL and 8 ms after each later one. The difference is code that runs only when
/// a connection dies (the HTTP/2 client's abort of a connection that ended, Grpc.Net.Client's status mapping, the first
/// exceptions of that kind, this link's own <c>ReadAsync</c>/<c>DescribeEnd</c>/<c>IsRefused</c>), compiled and initialised on
/// first use; a node meets its peer's crash about once per process lifetime, so every real first crash paid it.</para>
/// <para>The warm-up needs no peer: a throwaway loopback listener answers a <c>Connect</c> call with just enough HTTP/2 (a SETTINGS
/// frame, its acknowledgement, and the response HEADERS with <c>:status 200</c> and <c>content-type: application/grpc</c>) for the
/// call to be established, then closes the connection without a goodbye, as a crashed peer's kernel does; a second call to the
/// closed port is refused. Nothing of it reaches the core (no hint, no packet); failures are logged at Debug and ignored.</para>
/// </remarks>
internal static class CrashPathWarmUp
{
    /// <summary>The request header that marks the warm-up's own stream to the link's server.</summary>
    internal const string Header = "hakit-warm-up";

    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    /// <summary>The server's side of the exchange: SETTINGS (empty), SETTINGS ACK, HEADERS on stream 1 (END_HEADERS).</summary>
    private static readonly byte[] ServerFrames =
    [
        0, 0, 0, 0x04, 0x00, 0, 0, 0, 0,                  // SETTINGS, no parameters
        0, 0, 0, 0x04, 0x01, 0, 0, 0, 0,                  // SETTINGS ACK (of the client's)
        0, 0, 19, 0x01, 0x04, 0, 0, 0, 1,                 // HEADERS, END_HEADERS, stream 1, 19 bytes of HPACK:
        0x88,                                             //   :status 200 (static table index 8)
        0x5f, 0x10,                                       //   content-type (static index 31), literal value of 16 bytes:
        (byte)'a', (byte)'p', (byte)'p', (byte)'l', (byte)'i', (byte)'c', (byte)'a', (byte)'t',
        (byte)'i', (byte)'o', (byte)'n', (byte)'/', (byte)'g', (byte)'r', (byte)'p', (byte)'c',
    ];

    /// <summary>Runs the warm-up; never throws.</summary>
    /// <param name="logger">The link's logger (Debug lines only).</param>
    /// <param name="link">The link name, for the log.</param>
    /// <param name="time">The link's time source (for the duration in the log).</param>
    /// <param name="stop">The link's stop token.</param>
    /// <param name="server">This link's server: its address, TLS settings, and how many warm-up streams it has seen end (see <see cref="ExerciseServerAsync"/>).</param>
    public static async Task RunAsync(ILogger logger, string link, TimeProvider time, (IPEndPoint Address, GrpcLinkSecurity Security, Func<int> WarmUpStreamsEnded) server, CancellationToken stop)
    {
        var started = time.GetTimestamp();
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
            bound.CancelAfter(Bound);
            var (how, refused) = await ExerciseAsync(bound.Token).ConfigureAwait(false);
            GrpcLinkLog.WarmedUp(logger, link, time.GetElapsedTime(started).TotalMilliseconds, how, refused);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            GrpcLinkLog.WarmUpFailed(logger, link, ex.Message);
        }

        if (!CanDialItself(server.Security))
        {
            GrpcLinkLog.ServerWarmUpSkipped(logger, link);
            return;
        }

        started = time.GetTimestamp();
        try
        {
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(stop);
            bound.CancelAfter(Bound);
            var how = await ExerciseServerAsync(server.Address, server.Security, server.WarmUpStreamsEnded, bound.Token).ConfigureAwait(false);
            GrpcLinkLog.ServerWarmedUp(logger, link, time.GetElapsedTime(started).TotalMilliseconds, how);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            GrpcLinkLog.WarmUpFailed(logger, link, ex.Message);
        }
    }

    /// <summary>
    /// The server's side of a crash, once: dials this link's own server as a peer's dialer would (same TLS settings), waits for the
    /// stream to be up and then closes the connection without a goodbye, as a crashed peer's kernel does. Kestrel's connection
    /// abort, the gRPC call's end and this link's <c>ServeAsync</c> ending on a broken stream run then, not at the first real crash
    /// (measured with <c>DOTNET_JitDisasmSummary</c> on the TwoNode sample: 30–65 of the methods compiled between a peer's SIGKILL
    /// and the answer from the new owner were Kestrel's and Grpc.AspNetCore's, for the dead peer's incoming stream). The stream
    /// carries no packet, so nothing of it reaches the core. Not run when the server would refuse the node's own certificate
    /// (<see cref="CanDialItself"/>).
    /// </summary>
    /// <param name="server">The address this link's server listens on (a wildcard address is dialed on loopback).</param>
    /// <param name="security">The link's TLS settings.</param>
    /// <param name="warmUpStreamsEnded">How many warm-up streams the server has seen end (<see cref="GrpcLinkTransport.WarmUpStreamsEnded"/>).</param>
    /// <param name="cancellationToken">Bounds the exercise.</param>
    /// <returns>How the client read the end of the stream.</returns>
    internal static async Task<string> ExerciseServerAsync(IPEndPoint server, GrpcLinkSecurity security, Func<int> warmUpStreamsEnded, CancellationToken cancellationToken)
    {
        var target = server.Address.Equals(IPAddress.Any) ? new IPEndPoint(IPAddress.Loopback, server.Port)
            : server.Address.Equals(IPAddress.IPv6Any) ? new IPEndPoint(IPAddress.IPv6Loopback, server.Port)
            : server;
        Socket? connected = null;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = Bound,
            EnableMultipleHttp2Connections = false,
            ConnectCallback = async (_, token) =>
            {
                connected = await GrpcLinkTransport.ConnectSocketAsync(target, token).ConfigureAwait(false);
                return new NetworkStream(connected, ownsSocket: true);
            },
        };
        if (security.UseTls)
        {
            handler.SslOptions = security.ClientOptions(target.Address);
        }

        using var channel = GrpcChannel.ForAddress($"{(security.UseTls ? "https" : "http")}://{target}", new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxRetryAttempts = 0,
        });
        var client = new HeartbeatLink.HeartbeatLinkClient(channel);
        var before = warmUpStreamsEnded();
        using var call = client.Connect(new Metadata { { Header, "1" } }, cancellationToken: cancellationToken);
        await call.ResponseHeadersAsync.WaitAsync(cancellationToken).ConfigureAwait(false);
        connected!.Close(); // no goodbye, no RST_STREAM: the connection just ends, as a killed peer's does
        var (_, how) = await GrpcLinkTransport.ReadEndAsync(call).WaitAsync(cancellationToken).ConfigureAwait(false);
        while (warmUpStreamsEnded() == before) // the server's handler saw its stream end (a peer's streams may come and go meanwhile)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), TimeProvider.System, cancellationToken).ConfigureAwait(false); // real sockets: real time
        }

        return how;
    }

    /// <summary>
    /// Whether the link's server accepts this node's own certificate (plaintext, or a certificate issued by the trusted CA or
    /// pinned). With peers pinned by thumbprint it does not: dialing itself would only make the server log a refused certificate.
    /// </summary>
    internal static bool CanDialItself(GrpcLinkSecurity security) => !security.UseTls || security.IsTrusted(security.Certificate);

    /// <summary>One round: a call established and then dropped without goodbye (returns how its end was read), then a call refused.</summary>
    internal static async Task<(string How, bool Refused)> ExerciseAsync(CancellationToken cancellationToken)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        using var channel = GrpcChannel.ForAddress($"http://{endPoint}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { ConnectTimeout = Bound, EnableMultipleHttp2Connections = false },
            DisposeHttpClient = true,
            MaxRetryAttempts = 0,
        });
        var client = new HeartbeatLink.HeartbeatLinkClient(channel);

        string how;
        using (var call = client.Connect(cancellationToken: cancellationToken))
        {
            using var accepted = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            var buffer = new byte[4096];
            await ReceiveRequestHeadersAsync(accepted, buffer, cancellationToken).ConfigureAwait(false);
            await accepted.SendAsync(ServerFrames, cancellationToken).ConfigureAwait(false);
            await call.ResponseHeadersAsync.WaitAsync(cancellationToken).ConfigureAwait(false);
            while (accepted.Available > 0)
            {
                _ = accepted.Receive(buffer); // read what is left, so that the close is a FIN (a crashed peer's usual end), not a reset
            }

            accepted.Shutdown(SocketShutdown.Both);
            accepted.Close();
            (_, how) = await GrpcLinkTransport.ReadEndAsync(call).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        listener.Close();
        try
        {
            using var again = client.Connect(cancellationToken: cancellationToken);
            await again.ResponseHeadersAsync.WaitAsync(cancellationToken).ConfigureAwait(false);
            return (how, false);
        }
        catch (RpcException ex)
        {
            return (how, GrpcLinkTransport.IsRefused(ex));
        }
    }

    /// <summary>
    /// Reads the client's side until its HEADERS frame has arrived (stream 1 is open): answering on stream 1 earlier is a protocol
    /// error. The connection preface (24 bytes) is followed by 9-byte frame headers: length (3), type (1; HEADERS = 1), flags, stream.
    /// </summary>
    private static async Task ReceiveRequestHeadersAsync(Socket socket, byte[] buffer, CancellationToken cancellationToken)
    {
        const int Preface = 24;
        var have = 0;
        var at = Preface;
        while (true)
        {
            while (have >= at + 9)
            {
                if (buffer[at + 3] == 0x01)
                {
                    return;
                }

                at += 9 + ((buffer[at] << 16) | (buffer[at + 1] << 8) | buffer[at + 2]);
            }

            if (have == buffer.Length)
            {
                throw new InvalidOperationException("no HEADERS frame in the client's first 4096 bytes");
            }

            var n = await socket.ReceiveAsync(buffer.AsMemory(have), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new InvalidOperationException("the client closed the warm-up connection");
            }

            have += n;
        }
    }
}
