using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using HaKit.Diagnostics;
using HaKit.Grpc.Link.V1;
using HaKit.Transport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Grpc;

/// <summary>A peer on a Grpc link: its node name and the address its link server listens on.</summary>
/// <param name="Name">The peer's node name (for the crash hint).</param>
/// <param name="EndPoint">Its <c>HaKit:Nodes[i]:Addresses:&lt;link&gt;</c>.</param>
internal sealed record GrpcPeer(string Name, IPEndPoint EndPoint);

/// <summary>
/// The gRPC heartbeat link (<see cref="LinkKind.Grpc"/>): a Kestrel HTTP/2 server on the local node's address, and one long-lived
/// bidirectional stream dialed to each peer (Grpc.Net.Client) on which this node's packets go out.
/// </summary>
/// <remarks>
/// <para><b>Who dials.</b> Every node dials every peer and sends only on the stream it dialed; it receives on the streams its
/// peers dialed. So a pair has two streams, deliberately: each side owns a dialer, and it is the dialer that notices its peer's
/// death and probes it with a reconnect, on both sides alike, with no rule about which side dials and no shared stream whose
/// loss only one side could interpret.</para>
/// <para><b>Crash hint.</b> A stream that ends without the server's <c>Goodbye</c> frame (a clean stop sends one on every stream
/// before the server goes away) is followed by an immediate reconnect. When that reconnect is refused (<c>ECONNREFUSED</c>: the
/// host answers and nothing listens on the port), the peer's process is very probably gone, and the receiver is told
/// (<see cref="IPacketReceiver.OnPeerProcessGone"/>) once per broken stream. A host that lost power or a stopped process sends no
/// reset and refuses nothing: the reconnect times out, and there is no hint. After that, reconnects back off from 20 ms,
/// doubling up to <see cref="LinkOptions.ReconnectDelayMax"/>.</para>
/// <para><b>Queueing.</b> <see cref="SendAsync"/> never waits for the network: the packet is queued per peer (at most
/// <see cref="QueueCapacity"/>, the oldest dropped). When a stream reconnects after it was up, only the newest
/// <see cref="KeptOnReconnect"/> queued packets are still sent: older heartbeats say nothing about the present.</para>
/// <para>Receive callbacks run on the server's request threads; no exception escapes them (a throwing receiver is reported as a
/// fault). <see cref="DisposeAsync"/> waits for running callbacks, sends every stream a goodbye and stops the server.</para>
/// </remarks>
internal sealed partial class GrpcLinkTransport : IHeartbeatTransport
{
    /// <summary>Packets queued per peer at most.</summary>
    public const int QueueCapacity = 1024;

    /// <summary>Packets still sent from the queue when a stream (re)connects.</summary>
    public const int KeptOnReconnect = 8;

    private const int New = 0;
    private const int Started = 1;
    private const int Disposed = 2;
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(20);

    /// <summary>The first reconnect after a stream whose end was hinted already (a peer whose process is gone restarts far later).</summary>
    private static readonly TimeSpan AfterHint = TimeSpan.FromMilliseconds(100);

    /// <summary>Immediate reconnects after a stream broke while their failure is neither a refusal nor a timeout.</summary>
    private const int ProbeAttempts = 3;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan GoodbyeWait = TimeSpan.FromSeconds(1);

    /// <summary>How long the watcher's accepted probe is watched for the reset of a listener that its dying process is closing.</summary>
    private static readonly TimeSpan ClosingListenerWindow = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan StopWait = TimeSpan.FromSeconds(3);

    private readonly IPEndPoint _bind;
    private readonly int _maxPacketSize;
    private readonly GrpcLinkSecurity _security;
    private readonly TimeSpan _reconnectDelayMax;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly PeerDialer[] _dialers;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<IServerStreamWriter<LinkFrame>, byte> _incoming = new();
    private int _warmUpStreamsEnded;
    private readonly Lock _lifecycle = new();
    private IPacketReceiver? _receiver;
    private WebApplication? _server;
    private Task? _disposeTask;
    private int _state;
    private volatile bool _crashed;
    private int _activeCallbacks;

    /// <summary>Creates the (unstarted) link.</summary>
    /// <param name="linkName">The link name.</param>
    /// <param name="bind">The local node's address on the link (the server listens here).</param>
    /// <param name="peers">The other nodes' addresses on the link.</param>
    /// <param name="maxPacketSize">The largest packet <see cref="SendAsync"/> accepts.</param>
    /// <param name="security">TLS settings (owned: disposed with the link).</param>
    /// <param name="reconnectDelayMax">The longest wait between reconnect attempts.</param>
    /// <param name="loggerFactory">Logs.</param>
    /// <param name="time">The clock for reconnect back-off.</param>
    public GrpcLinkTransport(string linkName, IPEndPoint bind, IReadOnlyList<GrpcPeer> peers, int maxPacketSize, GrpcLinkSecurity security, TimeSpan reconnectDelayMax, ILoggerFactory? loggerFactory = null, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(linkName);
        ArgumentNullException.ThrowIfNull(bind);
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(security);
        LinkName = linkName;
        _bind = bind;
        _maxPacketSize = maxPacketSize;
        _security = security;
        _reconnectDelayMax = reconnectDelayMax;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<GrpcLinkTransport>();
        _time = time ?? TimeProvider.System;
        _dialers = peers.Select(p => new PeerDialer(this, p)).ToArray();
    }

    /// <inheritdoc />
    public string LinkName { get; }

    /// <summary>The streams peers (or the start-up warm-up) have open to this link's server now (for tests and diagnostics).</summary>
    internal int IncomingStreams => _incoming.Count;

    /// <summary>How many of the start-up warm-up's own streams (<see cref="CrashPathWarmUp.ExerciseServerAsync"/>) the server has seen end.</summary>
    internal int WarmUpStreamsEnded => Volatile.Read(ref _warmUpStreamsEnded);

    /// <summary>Crash hints reported so far (for tests and diagnostics).</summary>
    public int CrashHints => _dialers.Sum(d => d.Hints);

    /// <inheritdoc />
    public async ValueTask StartAsync(IPacketReceiver receiver, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_state == Disposed, this);
            if (_state != New || _receiver is not null)
            {
                throw new InvalidOperationException($"link {LinkName} was already started");
            }

            _receiver = receiver;
        }

        var server = BuildServer();
        try
        {
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or InvalidOperationException)
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"link {LinkName}: cannot listen on {_bind}: {ex.Message}", ex);
        }

        lock (_lifecycle)
        {
            _server = server;
            if (_state == Disposed)
            {
                // Disposed while starting: the dispose path did not see the server; stop it here.
                _ = server.StopAsync(CancellationToken.None).ContinueWith(_ => server.DisposeAsync().AsTask(), TaskScheduler.Default);
                throw new ObjectDisposedException(nameof(GrpcLinkTransport));
            }

            _state = Started;
        }

        GrpcLinkLog.Serving(_logger, LinkName, _bind, _security.UseTls ? (_security.RequireClientCertificate ? "mutual TLS" : "TLS") : "plaintext HTTP/2, loopback");
        foreach (var dialer in _dialers)
        {
            dialer.Start(_stop.Token);
        }

        // The first crash a node sees would otherwise run the connection-loss path cold (JIT, first exceptions): measured
        // 35 ms from SIGKILL to the stream's end the first time, 8 ms afterwards. Run it once now, off the caller's path.
        _ = Task.Run(() => CrashPathWarmUp.RunAsync(_logger, LinkName, _time, (_bind, _security, () => WarmUpStreamsEnded), _stop.Token), CancellationToken.None);
    }

    /// <inheritdoc />
    public ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
    {
        var state = Volatile.Read(ref _state);
        ObjectDisposedException.ThrowIf(state == Disposed, this);
        if (state != Started)
        {
            throw new InvalidOperationException($"link {LinkName} is not started");
        }

        if (packet.Length > _maxPacketSize)
        {
            throw new ArgumentException($"packet of {packet.Length} bytes exceeds the link's maximum of {_maxPacketSize} bytes", nameof(packet));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var frame = new LinkFrame { Packet = ByteString.CopyFrom(packet.Span) };
        foreach (var dialer in _dialers)
        {
            dialer.Enqueue(frame);
        }

        return default;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        lock (_lifecycle)
        {
            _disposeTask ??= DisposeCoreAsync();
        }

        return new ValueTask(_disposeTask);
    }

    /// <summary>
    /// For tests: stops the way a killed process does, with no goodbye on any stream: nothing more is delivered, every stream and the
    /// listener are torn down at once (peers see their streams end without goodbye, and their reconnects refused).
    /// </summary>
    internal async Task CrashAsync()
    {
        _crashed = true;
        lock (_lifecycle)
        {
            Volatile.Write(ref _state, Disposed);
            _disposeTask ??= Task.CompletedTask;
        }

        if (_server is { } server)
        {
            // Listener and connections first, torn down at once (nothing more is written on them), as the kernel does for a killed process.
            using var now = new CancellationTokenSource();
            await now.CancelAsync().ConfigureAwait(false);
            try
            {
                await server.StopAsync(now.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var dialer in _dialers)
        {
            dialer.Dispose();
        }

        if (_server is { } stopped)
        {
            await stopped.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A TCP socket (Nagle off) connected to <paramref name="endPoint"/>; disposed if the connect fails.</summary>
    internal static async ValueTask<Socket> ConnectSocketAsync(EndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Serves one stream a peer dialed: its packets go to the receiver until it says goodbye, the stream ends, or this link stops.</summary>
    internal async Task ServeAsync(IAsyncStreamReader<LinkFrame> requestStream, IServerStreamWriter<LinkFrame> responseStream, ServerCallContext context)
    {
        // Headers at once: the dialer's proof that the stream is up.
        var warmUp = context.RequestHeaders.Get(CrashPathWarmUp.Header) is not null;
        await context.WriteResponseHeadersAsync([]).ConfigureAwait(false);
        _incoming.TryAdd(responseStream, 0);
        if (Volatile.Read(ref _state) == Disposed)
        {
            // A stream dialed while this link stops (after the goodbyes went out): it gets its goodbye too, or its dialer would
            // take the end of the stream for a crash.
            if (!_crashed)
            {
                await SayGoodbyeAsync(responseStream).ConfigureAwait(false);
            }

            _incoming.TryRemove(responseStream, out _);
            return;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, context.CancellationToken);
        try
        {
            while (await requestStream.MoveNext(stop.Token).ConfigureAwait(false))
            {
                var frame = requestStream.Current;
                if (frame.KindCase == LinkFrame.KindOneofCase.Goodbye)
                {
                    break;
                }

                if (frame.KindCase == LinkFrame.KindOneofCase.Packet)
                {
                    Deliver(frame.Packet.Span);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or RpcException or InvalidOperationException)
        {
            // The peer's stream broke or this link stops: the peer's own dialer notices and reconnects; nothing to do here.
        }
        finally
        {
            _incoming.TryRemove(responseStream, out _);
            if (warmUp)
            {
                Interlocked.Increment(ref _warmUpStreamsEnded);
            }
        }
    }

    private WebApplication BuildServer()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(GrpcLinkTransport).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseShutdownTimeout(StopWait);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(10);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(10);
            kestrel.Listen(_bind, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                _security.ServeOn(listen, subject => GrpcLinkLog.ClientCertificateRefused(_logger, LinkName, subject));
            });
        });
        builder.Services.AddRouting();
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = _maxPacketSize + 64;
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddSingleton(this);
        var app = builder.Build();
        app.UseRouting();
        app.MapGrpcService<LinkService>();
        return app;
    }

    private void Deliver(ReadOnlySpan<byte> packet)
    {
        Interlocked.Increment(ref _activeCallbacks);
        try
        {
            if (Volatile.Read(ref _state) != Started)
            {
                return;
            }

            try
            {
                _receiver!.OnPacketReceived(this, packet);
            }
            catch (Exception ex)
            {
                Fault(ex);
            }
        }
        finally
        {
            if (Interlocked.Decrement(ref _activeCallbacks) == 0 && Volatile.Read(ref _state) == Disposed)
            {
                _drained.TrySetResult();
            }
        }
    }

    private void Fault(Exception error)
    {
        if (Volatile.Read(ref _state) != Started)
        {
            return;
        }

        try
        {
            _receiver!.OnTransportFault(this, error);
        }
        catch (Exception)
        {
            // A receiver that throws from its fault handler too has nothing left to be told.
        }
    }

    private void Hint(string peer, string evidence)
    {
        TakeoverTrace.Mark("grpc.hint");
        if (Volatile.Read(ref _state) == Started)
        {
            try
            {
                _receiver!.OnPeerProcessGone(this, peer, evidence);
            }
            catch (Exception ex)
            {
                Fault(ex);
            }
        }

        // Logged after the receiver has it: formatting a log line is not on the takeover's path.
        GrpcLinkLog.CrashHint(_logger, LinkName, peer, evidence);
    }

    private async Task DisposeCoreAsync()
    {
        bool wasStarted;
        lock (_lifecycle)
        {
            wasStarted = _state == Started;
            Volatile.Write(ref _state, Disposed);
        }

        if (Volatile.Read(ref _activeCallbacks) == 0)
        {
            _drained.TrySetResult();
        }

        // Running receive callbacks finish first (one of them may be this very call's caller).
        await _drained.Task.ConfigureAwait(false);
        if (wasStarted)
        {
            // A clean stop: every stream hears a goodbye before it ends, so no peer takes the end for a crash.
            await Task.WhenAll(_incoming.Keys.Select(SayGoodbyeAsync)).ConfigureAwait(false);
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_dialers.Select(d => d.StopAsync())).ConfigureAwait(false);
        WebApplication? server;
        lock (_lifecycle)
        {
            server = _server;
        }

        if (server is not null)
        {
            try
            {
                using var bounded = new CancellationTokenSource(StopWait);
                await server.StopAsync(bounded.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Handlers still running after the bound are aborted by the dispose below.
            }

            await server.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
        _security.Dispose();
    }

    private static async Task SayGoodbyeAsync(IServerStreamWriter<LinkFrame> stream)
    {
        try
        {
            await stream.WriteAsync(new LinkFrame { Goodbye = new Goodbye { Reason = "node stopping" } }).WaitAsync(GoodbyeWait).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or TimeoutException or OperationCanceledException or RpcException)
        {
            // The stream is already gone.
        }
    }

    /// <summary>Reads a stream until it ends; whether the peer said goodbye and how it ended (the dialer's own reading, for <see cref="CrashPathWarmUp"/>).</summary>
    /// <param name="call">The call.</param>
    internal static Task<(bool Clean, string How)> ReadEndAsync(AsyncDuplexStreamingCall<LinkFrame, LinkFrame> call) => PeerDialer.ReadAsync(call);

    /// <summary>Whether <paramref name="error"/> (or anything inside it) is a refused TCP connect.</summary>
    internal static bool IsRefused(Exception? error) => FindSocketError(error) == SocketError.ConnectionRefused;

    /// <summary>How a stream ended, in words (<c>connection reset</c>, <c>connection closed without goodbye</c>).</summary>
    internal static string DescribeEnd(Exception? error) => FindSocketError(error) switch
    {
        SocketError.ConnectionReset => "connection reset",
        SocketError.ConnectionAborted => "connection aborted",
        _ => "connection closed without goodbye",
    };

    private static SocketError? FindSocketError(Exception? error)
    {
        for (var depth = 0; error is not null && depth < 16; depth++)
        {
            if (error is SocketException socket)
            {
                return socket.SocketErrorCode;
            }

            if (error is RpcException rpc && rpc.Status.DebugException is { } debug && FindSocketError(debug) is { } inner)
            {
                return inner;
            }

            if (error is AggregateException aggregate && aggregate.InnerExceptions.Count > 0)
            {
                foreach (var e in aggregate.InnerExceptions)
                {
                    if (FindSocketError(e) is { } found)
                    {
                        return found;
                    }
                }
            }

            error = error.InnerException;
        }

        return null;
    }

    /// <summary>The gRPC service the link's server exposes; hands every stream to its transport.</summary>
    private sealed class LinkService(GrpcLinkTransport link) : HeartbeatLink.HeartbeatLinkBase
    {
        public override Task Connect(IAsyncStreamReader<LinkFrame> requestStream, IServerStreamWriter<LinkFrame> responseStream, ServerCallContext context) =>
            link.ServeAsync(requestStream, responseStream, context);
    }
}
