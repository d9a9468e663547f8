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

/// <summary>The dialing side of the link: one <see cref="PeerDialer"/> per peer (connect, pump, notice the end, probe for the crash hint, back off).</summary>
internal sealed partial class GrpcLinkTransport
{
    /// <summary>The stream to one peer: connect, pump queued packets, notice the end, probe, back off.</summary>
    private sealed class PeerDialer : IDisposable
    {
        private readonly GrpcLinkTransport _link;
        private readonly GrpcPeer _peer;
        private readonly Channel<LinkFrame> _queue = Channel.CreateBounded<LinkFrame>(new BoundedChannelOptions(QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });

        private readonly GrpcChannel _channel;
        private readonly HeartbeatLink.HeartbeatLinkClient _client;
        private Task _run = Task.CompletedTask;
        private ConnectionEndWatcher? _watcher;
        private int _hints;
        private int _hintedSinceUp; // 1 once this stream's end was hinted (by the watcher or the reconnect), until a stream is up again
        private volatile bool _goodbyeHeard; // the current stream's peer said goodbye (a clean stop): its end is no crash

        public PeerDialer(GrpcLinkTransport link, GrpcPeer peer)
        {
            _link = link;
            _peer = peer;
            var handler = new SocketsHttpHandler
            {
                ConnectTimeout = ConnectTimeout,
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = TimeSpan.FromSeconds(10),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                EnableMultipleHttp2Connections = false,
                ConnectCallback = ConnectAsync,
            };
            if (link._security.UseTls)
            {
                handler.SslOptions = link._security.ClientOptions(peer.EndPoint.Address);
            }

            var scheme = link._security.UseTls ? "https" : "http";
            _channel = GrpcChannel.ForAddress($"{scheme}://{peer.EndPoint}", new GrpcChannelOptions
            {
                HttpHandler = handler,
                DisposeHttpClient = true,
                MaxSendMessageSize = link._maxPacketSize + 64,
                MaxRetryAttempts = 0,
            });
            _client = new HeartbeatLink.HeartbeatLinkClient(_channel);
        }

        public int Hints => Volatile.Read(ref _hints);

        public void Start(CancellationToken stop)
        {
            if (ConnectionEndWatcher.IsSupported)
            {
                _watcher = new ConnectionEndWatcher($"HaKit {_link.LinkName}", OnConnectionEnded);
                _ = Task.Run(ConnectionEndWatcher.WarmUp, CancellationToken.None); // the probe's first exception, off the crash's path
            }

            _run = Task.Run(() => RunAsync(stop), CancellationToken.None);
        }

        public void Enqueue(LinkFrame frame) => _queue.Writer.TryWrite(frame);

        public async Task StopAsync()
        {
            _queue.Writer.TryComplete();
            try
            {
                await _run.WaitAsync(StopWait).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The call is torn down by disposing the channel.
            }

            Dispose();
        }

        public void Dispose()
        {
            _watcher?.Dispose();
            _channel.Dispose();
        }

        private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
        {
            var socket = await ConnectSocketAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
            if (_watcher is not { } watcher)
            {
                return new NetworkStream(socket, ownsSocket: true);
            }

            watcher.Watch(socket);
            return new WatchedStream(socket, watcher);
        }

        private async Task RunAsync(CancellationToken stop)
        {
            var delay = FirstBackoff;
            var wasUp = false;
            var probes = 0;
            string? brokenHow = null; // set when the last stream ended without goodbye: the next connect is the probe
            while (!stop.IsCancellationRequested)
            {
                AsyncDuplexStreamingCall<LinkFrame, LinkFrame>? call = null;
                try
                {
                    call = _client.Connect(cancellationToken: CancellationToken.None);
                    await call.ResponseHeadersAsync.WaitAsync(ConnectTimeout, stop).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    call?.Dispose();
                    if (stop.IsCancellationRequested)
                    {
                        break;
                    }

                    if (brokenHow is not null && IsRefused(ex))
                    {
                        TakeoverTrace.Mark("grpc.reconnect.refused");
                        TryHint($"{brokenHow} on link {_link.LinkName}, reconnect refused");
                    }
                    else if (brokenHow is not null && ex is not TimeoutException && ++probes < ProbeAttempts)
                    {
                        // Inconclusive (the call went out on the dying HTTP/2 connection, say): probe again at once. A timeout
                        // is not inconclusive: nothing answers, which is what a host without power looks like; no hint then.
                        continue;
                    }

                    else if (brokenHow is not null)
                    {
                        GrpcLinkLog.NoHint(_link._logger, _link.LinkName, _peer.Name, brokenHow, FindSocketError(ex)?.ToString() ?? ex.GetType().Name);
                    }

                    brokenHow = null;
                    probes = 0;
                    GrpcLinkLog.ConnectFailed(_link._logger, _link.LinkName, _peer.Name, FindSocketError(ex)?.ToString() ?? ex.GetType().Name, delay.TotalMilliseconds);
                    if (!await WaitAsync(delay, stop).ConfigureAwait(false))
                    {
                        break;
                    }

                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _link._reconnectDelayMax.Ticks));
                    continue;
                }

                GrpcLinkLog.Connected(_link._logger, _link.LinkName, _peer.Name, _peer.EndPoint);
                _goodbyeHeard = false;
                Volatile.Write(ref _hintedSinceUp, 0);
                delay = FirstBackoff;
                if (wasUp)
                {
                    // Heartbeats queued while the stream was down say nothing about the present: keep only the newest.
                    while (_queue.Reader.Count > KeptOnReconnect && _queue.Reader.TryRead(out _))
                    {
                    }
                }

                wasUp = true;

                var (clean, how) = await PumpAsync(call, stop).ConfigureAwait(false);
                TakeoverTrace.Mark(clean ? "grpc.stream.end.clean" : "grpc.stream.end");
                call.Dispose();
                if (stop.IsCancellationRequested)
                {
                    break;
                }

                GrpcLinkLog.Ended(_link._logger, _link.LinkName, _peer.Name, how);
                if (clean)
                {
                    // The peer stops cleanly (a restart, an upgrade): reconnect after the back-off, no hint.
                    if (!await WaitAsync(delay, stop).ConfigureAwait(false))
                    {
                        break;
                    }
                }
                else if (Volatile.Read(ref _hintedSinceUp) != 0)
                {
                    // The connection-end watcher gave the hint already: a refusal now would be no news, and a reconnect at once
                    // only competes for the CPU with the takeover it started (the HTTP/2 client's connection-failure path, on
                    // the 2-core benchmark machine in the same milliseconds as the new owner's start). Reconnect a little later.
                    if (!await WaitAsync(AfterHint, stop).ConfigureAwait(false))
                    {
                        break;
                    }
                }
                else
                {
                    brokenHow = how; // reconnect at once: a refusal now is the evidence
                    probes = 0;
                }
            }
        }

        /// <summary>Sends queued packets until the stream ends; returns whether the peer said goodbye, and how it ended.</summary>
        private async Task<(bool Clean, string How)> PumpAsync(AsyncDuplexStreamingCall<LinkFrame, LinkFrame> call, CancellationToken stop)
        {
            var reader = ReadAsync(call, () => _goodbyeHeard = true);
            using var pump = CancellationTokenSource.CreateLinkedTokenSource(stop);
            var writer = WriteAsync(call, pump.Token);
            var first = await Task.WhenAny(reader, writer).ConfigureAwait(false);
            if (first == writer && !stop.IsCancellationRequested)
            {
                // The write side broke first: the read side tells how (reset or goodbye), shortly.
                var failure = writer.Exception?.GetBaseException();
                try
                {
                    return await reader.WaitAsync(GoodbyeWait, CancellationToken.None).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    return (false, DescribeEnd(failure));
                }
            }

            if (stop.IsCancellationRequested)
            {
                await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                return (true, "this node stops");
            }

            await pump.CancelAsync().ConfigureAwait(false);
            await writer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return await reader.ConfigureAwait(false);
        }

        internal static async Task<(bool Clean, string How)> ReadAsync(AsyncDuplexStreamingCall<LinkFrame, LinkFrame> call, Action? goodbye = null)
        {
            try
            {
                while (await call.ResponseStream.MoveNext(CancellationToken.None).ConfigureAwait(false))
                {
                    if (call.ResponseStream.Current.KindCase == LinkFrame.KindOneofCase.Goodbye)
                    {
                        goodbye?.Invoke();
                        return (true, $"goodbye ({call.ResponseStream.Current.Goodbye.Reason})");
                    }
                }

                return (false, "stream ended without goodbye");
            }
            catch (Exception ex)
            {
                return (false, DescribeEnd(ex));
            }
        }

        private async Task WriteAsync(AsyncDuplexStreamingCall<LinkFrame, LinkFrame> call, CancellationToken stop)
        {
            try
            {
                while (await _queue.Reader.WaitToReadAsync(stop).ConfigureAwait(false))
                {
                    while (_queue.Reader.TryRead(out var frame))
                    {
                        await call.RequestStream.WriteAsync(frame, stop).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (ChannelClosedException)
            {
            }

            if ((_link._stop.IsCancellationRequested || _queue.Reader.Completion.IsCompleted) && !_link._crashed)
            {
                // This node stops: say goodbye, so that the peer does not take the end of the stream for a crash.
                try
                {
                    await call.RequestStream.WriteAsync(new LinkFrame { Goodbye = new Goodbye { Reason = "node stopping" } }).WaitAsync(GoodbyeWait).ConfigureAwait(false);
                    await call.RequestStream.CompleteAsync().WaitAsync(GoodbyeWait).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or InvalidOperationException or TimeoutException or RpcException or OperationCanceledException)
                {
                    // The stream is gone already.
                }
            }
        }

        /// <summary>Reports the crash hint once per broken stream (the watcher and the reconnect may both find it).</summary>
        private void TryHint(string evidence)
        {
            if (Interlocked.Exchange(ref _hintedSinceUp, 1) == 0)
            {
                Interlocked.Increment(ref _hints);
                _link.Hint(_peer.Name, evidence);
            }
        }

        /// <summary>
        /// The watcher's report (on its thread): the peer's kernel ended the connection the stream runs on. Unless the peer said
        /// goodbye or data is still unread (the HTTP/2 client has not reached the end: a goodbye may be in it, so the stream's own
        /// end decides), a plain connect to the peer's port tells at once whether anything still listens there.
        /// </summary>
        private void OnConnectionEnded(Socket socket)
        {
            int unread;
            try
            {
                unread = socket.Available;
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
                unread = -1; // this node closed it meanwhile: the stream's end tells how
            }

            var hinted = Volatile.Read(ref _hintedSinceUp) != 0;
            GrpcLinkLog.WatcherSawEnd(_link._logger, _link.LinkName, _peer.Name, unread, _goodbyeHeard, hinted);
            if (unread != 0 || _goodbyeHeard || hinted || _link._stop.IsCancellationRequested)
            {
                return;
            }

            var (refused, seen) = ConnectionEndWatcher.ProbeRefused(_peer.EndPoint, ConnectTimeout, ClosingListenerWindow);
            TakeoverTrace.Mark(refused ? "grpc.watcher.refused" : "grpc.watcher.not-refused");
            if (refused && !_goodbyeHeard && !_link._stop.IsCancellationRequested)
            {
                var how = seen == nameof(SocketError.ConnectionRefused) ? "seen by the kernel" : $"seen by the kernel; the reconnect was {seen}";
                TryHint($"connection closed without goodbye ({how}) on link {_link.LinkName}, reconnect refused");
            }
            else if (!refused)
            {
                GrpcLinkLog.WatcherNoHint(_link._logger, _link.LinkName, _peer.Name, seen);
            }
        }

        private async Task<bool> WaitAsync(TimeSpan delay, CancellationToken stop)
        {
            try
            {
                await Task.Delay(delay, _link._time, stop).ConfigureAwait(false);
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        /// <summary>The connection's stream as the HTTP/2 client sees it; its disposal takes the socket off the watcher first.</summary>
        private sealed class WatchedStream(Socket socket, ConnectionEndWatcher watcher) : NetworkStream(socket, ownsSocket: true)
        {
            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    watcher.Forget(Socket);
                }

                base.Dispose(disposing);
            }
        }
    }
}
