// VipPair: a HaKit pair that moves a virtual IP (HaKit.Linux VirtualIp, declared in appsettings.json) and an HTTP service bound
// to it. Run as root, one process per node, each in its own network namespace (samples/VipPair/demo.sh builds them):
//   VipPair --HaKit:NodeName=a|b [--HaKit:StateDirectory=DIR]      a node
//   VipPair --client http://10.78.0.100:8080/ --seconds 20          a client that polls every 10 ms and reports who answers
using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit;
using HaKit.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using VipPair;

if (args is ["--client", var url, "--seconds", var seconds])
{
    return await Client.RunAsync(new Uri(url), TimeSpan.FromSeconds(double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture)));
}

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Services.AddHaKit()
    .UseLinuxResources()
    // Read from the configuration, not from IOptions<HaKitOptions>: resources are created while those options are validated.
    .AddResource("web", _ => new HttpOnVip(builder.Configuration["HaKit:Resources:0:Address"]!, builder.Configuration["HaKit:NodeName"]!));
using var host = builder.Build();
var node = host.Services.GetRequiredService<ClusterNode>();
node.EventRaised += (_, e) =>
{
    if (e is RoleChanged { To: GroupRole.Active } r)
    {
        Console.WriteLine($"active group={r.Group} node={node.NodeName} epoch={r.Epoch} unix_ms={DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}");
    }
};
await host.StartAsync();
Console.WriteLine($"ready node={node.NodeName}");
await host.WaitForShutdownAsync();
return 0;

namespace VipPair
{
    /// <summary>A tiny HTTP service on the virtual IP (port 8080): answers every request with the node's name. Started after the VIP.</summary>
    internal sealed class HttpOnVip(string vip, string nodeName) : IResource
    {
        private readonly string _address = vip.Split('/')[0];
        private TcpListener? _listener;
        private CancellationTokenSource? _serving;

        public string Name => "http";

        public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            if (_listener is not null)
            {
                return ValueTask.FromResult(ResourceResult.Success);
            }

            var listener = new TcpListener(IPAddress.Parse(_address), 8080);
            listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Start();
            _listener = listener;
            _serving = new CancellationTokenSource();
            _ = ServeAsync(listener, nodeName, _serving.Token);
            return ValueTask.FromResult(ResourceResult.Success);
        }

        public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            _serving?.Cancel();
            _listener?.Stop();
            _listener = null;
            return ValueTask.FromResult(ResourceResult.Success);
        }

        public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(_listener is null ? MonitorResult.NotRunning() : MonitorResult.Running);

        public bool DiesWithProcess => true;

        private static async Task ServeAsync(TcpListener listener, string node, CancellationToken cancellationToken)
        {
            var body = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {node.Length}\r\nConnection: close\r\n\r\n{node}");
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    using var client = await listener.AcceptTcpClientAsync(cancellationToken);
                    var stream = client.GetStream();
                    var buffer = new byte[1024];
                    _ = await stream.ReadAsync(buffer, cancellationToken);
                    await stream.WriteAsync(body, cancellationToken);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
                {
                    if (cancellationToken.IsCancellationRequested)
                    {
                        return;
                    }
                }
            }
        }
    }

    /// <summary>Polls the URL every 10 ms from one process; prints who answers when it changes, then the longest gap.</summary>
    internal static class Client
    {
        public static async Task<int> RunAsync(Uri url, TimeSpan duration)
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromMilliseconds(200) };
            var start = DateTimeOffset.UtcNow;
            string? last = null;
            var lastOk = start;
            var gap = TimeSpan.Zero;
            while (DateTimeOffset.UtcNow - start < duration)
            {
                var now = DateTimeOffset.UtcNow;
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, url);
                    request.Headers.ConnectionClose = true;
                    using var response = await http.SendAsync(request);
                    var who = await response.Content.ReadAsStringAsync();
                    var answered = DateTimeOffset.UtcNow;
                    if (last is not null && answered - lastOk > gap)
                    {
                        gap = answered - lastOk;
                    }

                    lastOk = answered;
                    if (who != last)
                    {
                        Console.WriteLine($"answer node={who} unix_ms={answered.ToUnixTimeMilliseconds()}");
                        last = who;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    // No answer: counted in the gap.
                }

                var wait = TimeSpan.FromMilliseconds(10) - (DateTimeOffset.UtcNow - now);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait);
                }
            }

            Console.WriteLine($"client gap_ms={(long)gap.TotalMilliseconds} last={last}");
            return last is null ? 1 : 0;
        }
    }
}
