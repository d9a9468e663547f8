using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Authentication;
using Grpc.Core;
using Grpc.Net.Client;
using HaKit.Diagnostics;
using HaKit.Grpc;
using HaKit.Replication.Protocol;
using HaKit.Replication.Transport;
using HaKit.Replication.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Replication;

/// <summary>
/// The replication transport of one node: a server on <see cref="ReplicationTransportOptions.Listen"/> and, on the node whose
/// id sorts first, a dialer with one long-lived bidirectional stream per attached group. Both directions of a group's protocol
/// share that stream. <see cref="ReplicationTransportOptions.Protocol"/> chooses what carries it: a TCP connection per group
/// with length-prefixed frames (the default), or a gRPC stream (service <c>hakit.replication.v1.Replication</c>) over HTTP/2.
/// TLS as <see cref="ReplicationTransportOptions.Tls"/> says (a Grpc link's settings: certificate files, the peer checked
/// against a CA or pinned thumbprints, optionally mutual), for either protocol; plaintext only between loopback addresses.
/// </summary>
public sealed partial class ReplicationTransport : IAsyncDisposable
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
    private readonly LogAggregator _repeated;
    private WebApplication? _server;
    private GrpcChannel? _channel;
    private Socket? _listener;
    private Task _accepting = Task.CompletedTask;
    private long _refusedConnections;

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
        _repeated = new LogAggregator(_logger, _timeProvider);
        _security = options.Tls is { } tls ? GrpcLinkSecurity.Load(tls.ToLinkOptions(), options.TlsKey) : GrpcLinkSecurity.Plaintext;
    }

    /// <summary>Connections the server refused (not a HaKit replication peer, TLS refused, an unknown group or node, a malformed
    /// or oversized frame before the hello): for tests and diagnostics.</summary>
    internal long RefusedConnections => Interlocked.Read(ref _refusedConnections);

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
        if (_options.Protocol == ReplicationProtocol.Tcp)
        {
            StartTcpServer();
        }
        else
        {
            await StartGrpcServerAsync(cancellationToken).ConfigureAwait(false);
        }

        if (Dials)
        {
            if (_options.Protocol == ReplicationProtocol.Grpc)
            {
                CreateGrpcChannel();
            }

            foreach (var log in _groups.Values)
            {
                _dialers.Add(_options.Protocol == ReplicationProtocol.Tcp
                    ? Task.Run(() => DialTcpAsync(log, _stop.Token), CancellationToken.None)
                    : Task.Run(() => DialGrpcAsync(log, _stop.Token), CancellationToken.None));
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

        await StopTcpServerAsync().ConfigureAwait(false);
        await StopGrpcServerAsync().ConfigureAwait(false);
        _channel?.Dispose();
        _repeated.Dispose();
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

    /// <summary>The group a peer's hello asks for, or why it is refused.</summary>
    private ReplicatedLog? Accept(Hello hello, out string refusal)
    {
        if (!_groups.TryGetValue(hello.Group, out var log) || hello.Node != _options.PeerId)
        {
            refusal = $"node {_options.NodeId} does not replicate group {hello.Group} with node {hello.Node}";
            return null;
        }

        refusal = "";
        return log;
    }

    /// <summary>Connects <paramref name="log"/>'s stream with <paramref name="connect"/> (which returns when the stream ends) until
    /// the transport stops, waiting <see cref="ReplicationTransportOptions.ReconnectDelay"/> after each end or failure.</summary>
    private async Task DialLoopAsync(ReplicatedLog log, Func<ReplicatedLog, CancellationToken, Task> connect, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await connect(log, stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RpcException or IOException or SocketException or AuthenticationException or OperationCanceledException
                or HttpRequestException or InvalidOperationException or ObjectDisposedException)
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

    /// <summary>Runs one established stream of <paramref name="log"/>'s group until it ends. <paramref name="keepAlive"/>: a Tcp
    /// stream, watched by an <see cref="IdleWatchdog"/> (a gRPC stream has HTTP/2 pings).</summary>
    private async Task RunSessionAsync(ReplicatedLog log, IAsyncStreamReader<Frame> reader, IAsyncStreamWriter<Frame> writer, CancellationToken stop,
        TcpFrameStream? keepAlive = null)
    {
        if (log.IsFaulted)
        {
            // A replica stopped on an error answers nothing: no stream, so its peer sees it down.
            throw new IOException($"the replicated log of group {log.Group} is stopped");
        }

        using var session = new Session(writer, stop);
        using var onFault = log.FaultedToken.Register(static s => ((Session)s!).Abort(), session);
        using var watchdog = keepAlive is null ? null : new IdleWatchdog(this, log.Group, session, keepAlive);
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
}
