using System.Net.Http;
using Grpc.Core;
using Grpc.Net.Client;
using HaKit.Replication.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace HaKit.Replication;

/// <summary>The gRPC protocol (<see cref="ReplicationProtocol.Grpc"/>): a Kestrel HTTP/2 server and a Grpc.Net.Client dialer.</summary>
public sealed partial class ReplicationTransport
{
    private async Task StartGrpcServerAsync(CancellationToken cancellationToken)
    {
        _server = BuildServer();
        await _server.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task StopGrpcServerAsync()
    {
        if (_server is null)
        {
            return;
        }

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

    private void CreateGrpcChannel()
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
        if (_security.Certificate is not null)
        {
            handler.SslOptions = _security.ClientOptions(_options.Peer!.Address);
        }

        _channel = GrpcChannel.ForAddress($"{(_security.UseTls ? "https" : "http")}://{_options.Peer}", new GrpcChannelOptions
        {
            HttpHandler = handler,
            DisposeHttpClient = true,
            MaxSendMessageSize = MaxMessageBytes,
            MaxReceiveMessageSize = MaxMessageBytes,
            MaxRetryAttempts = 0,
        });
    }

    private Task DialGrpcAsync(ReplicatedLog log, CancellationToken stop)
    {
        var client = new V1.Replication.ReplicationClient(_channel!);
        return DialLoopAsync(log, async (log, stop) =>
        {
            using var call = client.Stream(cancellationToken: stop);
            await call.RequestStream.WriteAsync(new Frame { Hello = new Hello { Group = log.Group, Node = _options.NodeId } }, stop).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(stop).ConfigureAwait(false) || call.ResponseStream.Current.KindCase != Frame.KindOneofCase.Hello)
            {
                throw new IOException("the peer did not answer the hello");
            }

            await RunSessionAsync(log, call.ResponseStream, call.RequestStream, stop).ConfigureAwait(false);
        }, stop);
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
            if (transport.Accept(hello, out var refusal) is not { } log)
            {
                throw new RpcException(new Status(StatusCode.NotFound, refusal));
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
}
