using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using HaKit.Replication.Transport;
using HaKit.Replication.V1;

namespace HaKit.Replication;

/// <summary>
/// The TCP protocol (<see cref="ReplicationProtocol.Tcp"/>): a listening socket that serves one connection per group and stream,
/// and a dialer that opens them; frames as <see cref="TcpFrameStream"/> writes them, inside TLS when a certificate is configured.
/// </summary>
public sealed partial class ReplicationTransport
{
    /// <summary>How long a new connection may take to finish TLS and exchange hellos.</summary>
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long the dialer's connect may take (as the gRPC dialer's).</summary>
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The largest frame before the hello is accepted.</summary>
    private const int HelloBytes = 4 << 10;

    private readonly ConcurrentDictionary<Task, byte> _serving = new();

    private void StartTcpServer()
    {
        var listen = _options.Listen!;
        var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // As Kestrel does: a restarted node binds its port again while the old connections are in TIME_WAIT.
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(listen);
            listener.Listen(64);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        _accepting = AcceptTcpAsync(listener, _stop.Token);
    }

    private async Task StopTcpServerAsync()
    {
        if (_listener is null)
        {
            return;
        }

        _listener.Dispose();
        await _accepting.ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_serving.Keys).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    private async Task AcceptTcpAsync(Socket listener, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                // Out of descriptors or memory, or a connection reset while queued: refuse it and go on after a pause.
                Refuse("?", ex.Message);
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(50), _timeProvider, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }

            var serving = ServeTcpAsync(socket, stop);
            _serving.TryAdd(serving, 0);
            _ = serving.ContinueWith(static (t, s) => ((ConcurrentDictionary<Task, byte>)s!).TryRemove(t, out _), _serving,
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task ServeTcpAsync(Socket socket, CancellationToken stop)
    {
        var remote = socket.RemoteEndPoint?.ToString() ?? "?";
        Stream stream = new NetworkStream(socket, ownsSocket: true);
        var established = false;
        string? untrustedSubject = null;
        try
        {
            Configure(socket);
            TcpFrameStream frames;
            ReplicatedLog log;
            using (var timeout = new CancellationTokenSource(HandshakeTimeout, _timeProvider))
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token))
            {
                if (_security.UseTls)
                {
                    var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = tls;
                    await tls.AuthenticateAsServerAsync(_security.ServerOptions(subject => untrustedSubject = subject), handshake.Token).ConfigureAwait(false);
                }

                frames = new TcpFrameStream(stream, HelloBytes);
                if (!await frames.MoveNext(handshake.Token).ConfigureAwait(false) || frames.Current.KindCase != Frame.KindOneofCase.Hello)
                {
                    Refuse(remote, "its first frame is not a hello");
                    return;
                }

                var hello = frames.Current.Hello;
                if (Accept(hello, out var refusal) is not { } found)
                {
                    Refuse(remote, refusal);
                    return;
                }

                log = found;
                frames.MaxFrameBytes = MaxMessageBytes;
                await frames.WriteAsync(new Frame { Hello = new Hello { Group = hello.Group, Node = _options.NodeId } }, handshake.Token).ConfigureAwait(false);
                established = true;
            }

            await RunSessionAsync(log, frames, frames, stop, keepAlive: frames).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or OperationCanceledException
            or ObjectDisposedException or InvalidOperationException)
        {
            // Once established, the stream is over (the peer closed or reset it, the transport stops, the session was aborted) and
            // the log heard that its peer is down: not an error of this node. Before that, the connection is refused.
            if (!established && !stop.IsCancellationRequested)
            {
                Refuse(remote, untrustedSubject is { } subject
                    ? $"client certificate '{subject}' is trusted by neither TrustedCaFile nor TrustedThumbprints"
                    : ex is OperationCanceledException ? $"no hello within {HandshakeTimeout.TotalSeconds:0} s" : ex.Message);
            }
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private Task DialTcpAsync(ReplicatedLog log, CancellationToken stop) => DialLoopAsync(log, async (log, stop) =>
    {
        var peer = _options.Peer!;
        var socket = new Socket(peer.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        Stream? stream = null;
        try
        {
            Configure(socket);
            TcpFrameStream frames;
            using (var timeout = new CancellationTokenSource(ConnectTimeout + HandshakeTimeout, _timeProvider))
            using (var handshake = CancellationTokenSource.CreateLinkedTokenSource(stop, timeout.Token))
            {
                await socket.ConnectAsync(peer, handshake.Token).ConfigureAwait(false);
                stream = new NetworkStream(socket, ownsSocket: true);
                try
                {
                    if (_security.UseTls)
                    {
                        var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                        stream = tls;
                        await tls.AuthenticateAsClientAsync(_security.ClientOptions(_options.Peer!.Address), handshake.Token).ConfigureAwait(false);
                    }

                    frames = new TcpFrameStream(stream, HelloBytes);
                    await frames.WriteAsync(new Frame { Hello = new Hello { Group = log.Group, Node = _options.NodeId } }, handshake.Token).ConfigureAwait(false);
                    if (!await frames.MoveNext(handshake.Token).ConfigureAwait(false) || frames.Current.KindCase != Frame.KindOneofCase.Hello)
                    {
                        throw new IOException("the peer closed the connection instead of answering the hello");
                    }
                }
                catch (Exception ex) when (!stop.IsCancellationRequested && ex is IOException or SocketException or AuthenticationException or OperationCanceledException)
                {
                    // The peer's port accepted the connection but the stream did not come up: a peer on the other protocol (a
                    // Kestrel HTTP/2 server closes on the preamble), other TLS settings, another group list, or a frozen peer
                    // whose kernel accepted the connection. Said once, then summed up every 10 s while it repeats.
                    var reason = ex is OperationCanceledException ? $"no hello within {HandshakeTimeout.TotalSeconds:0} s" : ex.Message;
                    if (_repeated.Occurred($"group {log.Group}: replication handshake with {peer} failed", reason))
                    {
                        ReplicationLog.HandshakeFailed(_logger, log.Group, peer.ToString(), reason);
                    }

                    throw;
                }

                frames.MaxFrameBytes = MaxMessageBytes;
            }

            await RunSessionAsync(log, frames, frames, stop, keepAlive: frames).ConfigureAwait(false);
        }
        finally
        {
            if (stream is null)
            {
                socket.Dispose();
            }
            else
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }, stop);

    /// <summary>
    /// No Nagle delay (every frame is a whole message someone waits for), and a dead peer noticed within about 10 s as the gRPC
    /// stream's HTTP/2 pings (5 s, then 5 s for the answer) notice it: keepalive probes after 5 s idle, one a second, and unsent
    /// or unacknowledged data given up after 10 s (<c>TCP_USER_TIMEOUT</c>). The log's own resend covers a stream that is alive
    /// but silent.
    /// </summary>
    private static void Configure(Socket socket)
    {
        socket.NoDelay = true;
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, 5);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, 1);
        socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 5);
        if (OperatingSystem.IsLinux())
        {
            const int IpProtoTcp = 6, TcpUserTimeout = 18;
            socket.SetRawSocketOption(IpProtoTcp, TcpUserTimeout, BitConverter.GetBytes(10_000));
        }
    }

    private void Refuse(string remote, string reason)
    {
        Interlocked.Increment(ref _refusedConnections);
        var listen = _options.Listen!.ToString();
        if (_repeated.Occurred($"replication server {listen}: connection refused", $"{remote}: {reason}"))
        {
            ReplicationLog.ConnectionRefused(_logger, listen, remote, reason);
        }
    }

    /// <summary>
    /// Keeps a Tcp stream honest about its peer: every <see cref="Interval"/> it sends a ping if nothing was sent since the last
    /// look, and ends the stream when nothing (not even a ping) was heard for <see cref="SilentLooks"/> looks in a row: a frozen
    /// (SIGSTOP) or cut-off peer whose kernel still acknowledges TCP, which keep-alive probes would never notice. The log then
    /// hears that its peer is down, as the gRPC stream's HTTP/2 pings (5 s, 5 s to answer) make it hear. It reads two counters;
    /// nothing on the path of a frame.
    /// </summary>
    private sealed class IdleWatchdog : IDisposable
    {
        /// <summary>How often the watchdog looks.</summary>
        public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2.5);

        /// <summary>Looks without a frame heard before the stream is ended (10 s).</summary>
        public const int SilentLooks = 4;

        private readonly ReplicationTransport _transport;
        private readonly string _group;
        private readonly Session _session;
        private readonly TcpFrameStream _frames;
        private readonly ITimer _timer;
        private long _lastRead;
        private long _lastSent;
        private int _silent;

        public IdleWatchdog(ReplicationTransport transport, string group, Session session, TcpFrameStream frames)
        {
            _transport = transport;
            _group = group;
            _session = session;
            _frames = frames;
            _lastRead = frames.FramesRead;
            _lastSent = session.FramesSent;
            _timer = transport._timeProvider.CreateTimer(static s => ((IdleWatchdog)s!).Look(), this, Interval, Interval);
        }

        private void Look()
        {
            var read = _frames.FramesRead;
            if (read != _lastRead)
            {
                _lastRead = read;
                _silent = 0;
            }
            else if (++_silent >= SilentLooks)
            {
                var what = $"group {_group}: replication stream silent";
                if (_transport._repeated.Occurred(what, $"peer {_transport._options.PeerId}"))
                {
                    ReplicationLog.StreamSilent(_transport._logger, _group, _transport._options.PeerId, Interval.TotalSeconds * SilentLooks);
                }

                _session.Abort();
                return;
            }

            var sent = _session.FramesSent;
            if (sent == _lastSent)
            {
                _session.SendPing();
                sent++;
            }

            _lastSent = sent;
        }

        public void Dispose() => _timer.Dispose();
    }
}
