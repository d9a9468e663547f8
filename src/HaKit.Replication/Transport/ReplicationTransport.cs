using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using HaKit.Grpc;
using HaKit.Replication.Protocol;
using HaKit.Replication.Transport;
using HaKit.Replication.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Replication;

/// <summary>
/// The replication transport of one node: a small Kestrel HTTP/2 server (gRPC service <c>hakit.replication.v1.Replication</c>)
/// on <see cref="ReplicationTransportOptions.Listen"/>, and, on the node whose id sorts first, a dialer with one long-lived
/// bidirectional stream per attached group. Both directions of a group's protocol share that stream. TLS as
/// <see cref="ReplicationTransportOptions.Tls"/> says (a Grpc link's settings: certificate files, the peer checked against a CA
/// or pinned thumbprints, optionally mutual); plaintext HTTP/2 (h2c) only between loopback addresses.
/// </summary>
public sealed class ReplicationTransport : IAsyncDisposable
{
    private const int MaxMessageBytes = 256 << 20;

    private readonly ReplicationTransportOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _timeProvider;
    private readonly ConcurrentDictionary<string, ReplicatedLog> _groups = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Session, byte> _sessions = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _dialers = [];
    private readonly GrpcLinkSecurity _security;
    private readonly ILogger _logger;
    private WebApplication? _server;
    private GrpcChannel? _channel;

    /// <summary>Creates the transport (nothing runs until <see cref="StartAsync"/>).</summary>
    /// <param name="options">Addresses and ids (validated).</param>
    /// <param name="loggerFactory">Logging; none if <see langword="null"/>.</param>
    /// <param name="timeProvider">Time for reconnect delays; the system's if <see langword="null"/>.</param>
    /// <exception cref="HaKitConfigurationException">The options are invalid.</exception>
    public ReplicationTransport(ReplicationTransportOptions options, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<ReplicationTransport>();
        _timeProvider = timeProvider ?? TimeProvider.System;
        _security = options.Tls is { } tls ? GrpcLinkSecurity.Load(tls.ToLinkOptions(), options.TlsKey) : GrpcLinkSecurity.Plaintext;
    }

    private bool Dials => string.CompareOrdinal(_options.NodeId, _options.PeerId) < 0;

    /// <summary>Carries <paramref name="log"/>'s group (attach every group before <see cref="StartAsync"/>).</summary>
    /// <param name="log">The group's log.</param>
    public void Attach(ReplicatedLog log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (!_groups.TryAdd(log.Group, log))
        {
            throw new InvalidOperationException($"group {log.Group} is already attached");
        }
    }

    /// <summary>Binds the server and starts dialing the peer (if this node dials).</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A task that completes when the server listens.</returns>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _server = BuildServer();
        await _server.StartAsync(cancellationToken).ConfigureAwait(false);
        if (Dials)
        {
            var handler = new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(2),
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                EnableMultipleHttp2Connections = true,
            };
            if (_security.Certificate is { } certificate)
            {
                handler.SslOptions = new System.Net.Security.SslClientAuthenticationOptions
                {
                    // The peer is addressed by IP and identified by its certificate (CA or pinned thumbprint), as a Grpc link's.
                    TargetHost = _options.Peer!.Address.ToString(),
                    ClientCertificates = [certificate],
                    LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
                    RemoteCertificateValidationCallback = (_, remote, _, _) => _security.IsTrusted(remote),
                };
            }

            _channel = GrpcChannel.ForAddress($"{(_security.UseTls ? "https" : "http")}://{_options.Peer}", new GrpcChannelOptions
            {
                HttpHandler = handler,
                DisposeHttpClient = true,
                MaxSendMessageSize = MaxMessageBytes,
                MaxReceiveMessageSize = MaxMessageBytes,
                MaxRetryAttempts = 0,
            });
            foreach (var log in _groups.Values)
            {
                _dialers.Add(Task.Run(() => DialAsync(log, _stop.Token), CancellationToken.None));
            }
        }
    }

    /// <summary>Stops dialing, ends every stream and stops the server.</summary>
    /// <returns>A task that completes when everything stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        DropConnections();
        try
        {
            await Task.WhenAll(_dialers).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        if (_server is not null)
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _server.StopAsync(bound.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            await _server.DisposeAsync().ConfigureAwait(false);
        }

        _channel?.Dispose();
        _security.Dispose();
        _stop.Dispose();
    }

    /// <summary>Ends every current stream at once (the dialer reconnects): for tests of connection loss.</summary>
    internal void DropConnections()
    {
        foreach (var session in _sessions.Keys)
        {
            session.Abort();
        }
    }

    private async Task DialAsync(ReplicatedLog log, CancellationToken stop)
    {
        var client = new V1.Replication.ReplicationClient(_channel!);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var call = client.Stream(cancellationToken: stop);
                await call.RequestStream.WriteAsync(new Frame { Hello = new Hello { Group = log.Group, Node = _options.NodeId } }, stop).ConfigureAwait(false);
                if (!await call.ResponseStream.MoveNext(stop).ConfigureAwait(false) || call.ResponseStream.Current.KindCase != Frame.KindOneofCase.Hello)
                {
                    throw new IOException("the peer did not answer the hello");
                }

                await RunSessionAsync(log, call.ResponseStream, call.RequestStream, stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RpcException or IOException or OperationCanceledException or HttpRequestException or InvalidOperationException)
            {
            }

            if (stop.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.Delay(_options.ReconnectDelay, _timeProvider, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task RunSessionAsync(ReplicatedLog log, IAsyncStreamReader<Frame> reader, IAsyncStreamWriter<Frame> writer, CancellationToken stop)
    {
        if (log.IsFaulted)
        {
            // A replica stopped on an error answers nothing: no stream, so its peer sees it down.
            throw new IOException($"the replicated log of group {log.Group} is stopped");
        }

        using var session = new Session(writer, stop);
        using var onFault = log.FaultedToken.Register(static s => ((Session)s!).Abort(), session);
        _sessions.TryAdd(session, 0);
        var send = session.Send;
        log.PeerUp(send);
        try
        {
            while (await reader.MoveNext(session.Token).ConfigureAwait(false))
            {
                if (FrameCodec.Decode(reader.Current) is { } message)
                {
                    if (ReplicationTrace.On)
                    {
                        ReplicationTrace.Mark(message is AppendMessage ? 5 : 14, message is AppendMessage a ? a.LastIndex : message is AckMessage k ? k.Received : 0);
                    }

                    log.Deliver(message);
                }
            }
        }
        finally
        {
            log.PeerDown(send);
            session.Abort();
            _sessions.TryRemove(session, out _);
            await session.StoppedAsync().ConfigureAwait(false);
        }
    }

    private WebApplication BuildServer()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(ReplicationTransport).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore();
        // The stream's handler never blocks (it decodes a frame and queues it for the log's loop; writes are queued or written
        // by the log's loop): Kestrel runs it and its own continuations inline on the socket's completion instead of
        // dispatching each to the thread pool (two hops less per message received or sent by the server side).
        builder.WebHost.UseSockets(sockets => sockets.UnsafePreferInlineScheduling = true);
        builder.WebHost.UseShutdownTimeout(TimeSpan.FromSeconds(2));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(5);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(5);
            kestrel.Limits.Http2.InitialConnectionWindowSize = 16 << 20;
            kestrel.Limits.Http2.InitialStreamWindowSize = 8 << 20;
            kestrel.Listen(_options.Listen!, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                _security.ServeOn(listen, subject => ReplicationLog.ClientCertificateRefused(_logger, _options.Listen!.ToString(), subject));
            });
        });
        builder.Services.AddSingleton(_loggerFactory);
        builder.Services.AddRouting();
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = MaxMessageBytes;
            o.MaxSendMessageSize = MaxMessageBytes;
            o.EnableDetailedErrors = false;
        });
        builder.Services.AddSingleton(this);
        var app = builder.Build();
        app.UseRouting();
        app.MapGrpcService<Service>();
        return app;
    }

    private sealed class Service(ReplicationTransport transport) : V1.Replication.ReplicationBase
    {
        public override async Task Stream(IAsyncStreamReader<Frame> requestStream, IServerStreamWriter<Frame> responseStream, ServerCallContext context)
        {
            if (!await requestStream.MoveNext(context.CancellationToken).ConfigureAwait(false) || requestStream.Current.KindCase != Frame.KindOneofCase.Hello)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, "the first frame must be a hello"));
            }

            var hello = requestStream.Current.Hello;
            if (!transport._groups.TryGetValue(hello.Group, out var log) || hello.Node != transport._options.PeerId)
            {
                throw new RpcException(new Status(StatusCode.NotFound, $"node {transport._options.NodeId} does not replicate group {hello.Group} with node {hello.Node}"));
            }

            await responseStream.WriteAsync(new Frame { Hello = new Hello { Group = hello.Group, Node = transport._options.NodeId } }, context.CancellationToken).ConfigureAwait(false);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, transport._stop.Token);
            try
            {
                await transport.RunSessionAsync(log, requestStream, responseStream, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (transport._stop.IsCancellationRequested)
            {
                // This node is shutting its transport down (host stop): not an error of the call.
            }
            catch (IOException)
            {
                // The peer's connection failed (reset: the peer was killed or its host went down). The stream is over and the log
                // heard that its peer is down; not an error of this node. (Kestrel runs the handler inline on socket completions,
                // so a reset reaches the read as this error rather than as the request's cancellation.)
            }
        }
    }

    /// <summary>
    /// One stream's outgoing queue and lifetime. A message is written by the thread that sends it (the log's loop) when no write
    /// is in progress, and otherwise by the write in progress when it ends, in order: one gRPC write at a time, as the stream
    /// requires, without a thread-pool hop per message (a dedicated write loop woken by a queue used to cost one hop, 10–50 µs
    /// on a loaded machine, on the path of every append and every ack).
    /// </summary>
    private sealed class Session : IDisposable
    {
        private readonly ConcurrentQueue<ReplicationMessage> _out = new();
        private readonly CancellationTokenSource _cts;
        private readonly IAsyncStreamWriter<Frame> _writer;
        private int _writing;
        private volatile bool _aborted;
        private Task _drain = Task.CompletedTask;

        public Session(IAsyncStreamWriter<Frame> writer, CancellationToken stop)
        {
            _writer = writer;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            Send = message =>
            {
                if (_aborted)
                {
                    return false;
                }

                _out.Enqueue((ReplicationMessage)message);
                if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
                {
                    _drain = DrainAsync();
                }

                return true;
            };
        }

        public Func<object, bool> Send { get; }

        public CancellationToken Token => _cts.Token;

        public void Abort()
        {
            _aborted = true;
            try
            {
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        /// <summary>Waits for a write in progress (after <see cref="Abort"/>: the stream ends only after it).</summary>
        public async Task StoppedAsync()
        {
            try
            {
                await Volatile.Read(ref _drain).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsStreamError(ex))
            {
            }
        }

        private async Task DrainAsync()
        {
            var failed = true;
            try
            {
                while (true)
                {
                    while (!_aborted && _out.TryDequeue(out var message))
                    {
                        var write = _writer.WriteAsync(FrameCodec.Encode(message), _cts.Token);
                        if (!write.IsCompletedSuccessfully)
                        {
                            await write.ConfigureAwait(false);
                        }

                        if (ReplicationTrace.On)
                        {
                            ReplicationTrace.Mark(message is AppendMessage ? 4 : 13, message is AppendMessage a ? a.LastIndex : message is AckMessage k ? k.Received : 0);
                        }
                    }

                    Volatile.Write(ref _writing, 0);
                    if (_aborted || _out.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                    {
                        failed = false;
                        return;
                    }
                }
            }
            catch (Exception ex) when (IsStreamError(ex))
            {
            }
            finally
            {
                if (failed)
                {
                    // A failed write (whatever the error) ends the stream: the reader stops too, and the log hears the peer is
                    // down, instead of a live stream whose writes stopped.
                    Abort();
                }
            }
        }

        private static bool IsStreamError(Exception ex) =>
            ex is RpcException or IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException or HttpRequestException;

        public void Dispose() => _cts.Dispose();
    }
}
