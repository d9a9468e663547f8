using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit.Fencing;

namespace HaKit.Tests.Fencing;

/// <summary><see cref="HttpFenceAgent"/> against a real loopback HTTP server (<see cref="HttpListener"/> on 127.0.0.1).</summary>
[TestFixture]
public class HttpFenceAgentTests
{
    private const string Token = "s3cret-t0ken-value";
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    /// <summary>A request the server saw.</summary>
    private sealed record Seen(string Method, string RawUrl, string? Authorization, string Body);

    /// <summary>A loopback HTTP server answering with a function of the request; stopped on dispose.</summary>
    private sealed class Server : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        public Server(Func<Seen, (int Status, string Body)> answer)
        {
            var port = FreeTcpPort();
            BaseUrl = $"http://127.0.0.1:{port}/";
            _listener.Prefixes.Add(BaseUrl);
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext ctx;
                    try
                    {
                        ctx = await _listener.GetContextAsync();
                    }
                    catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                    {
                        return;
                    }

                    using var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
                    var seen = new Seen(ctx.Request.HttpMethod, ctx.Request.RawUrl ?? "", ctx.Request.Headers["Authorization"], await reader.ReadToEndAsync());
                    Requests.Enqueue(seen);
                    var (status, body) = answer(seen);
                    try
                    {
                        ctx.Response.StatusCode = status;
                        var bytes = Encoding.UTF8.GetBytes(body);
                        ctx.Response.ContentType = "application/json";
                        await ctx.Response.OutputStream.WriteAsync(bytes);
                        ctx.Response.Close();
                    }
                    catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or IOException)
                    {
                        // The client gave up (cancellation test) or the server is stopping.
                    }
                }
            });
        }

        public string BaseUrl { get; }

        public ConcurrentQueue<Seen> Requests { get; } = new();

        public void Dispose()
        {
            if (!_listener.IsListening)
            {
                return;
            }

            _listener.Stop();
            _listener.Close();
            _loop.Wait(Bound);
        }

        private static int FreeTcpPort()
        {
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            return ((IPEndPoint)l.LocalEndpoint).Port;
        }
    }

    private static HttpFenceAgent Agent(Server server, string statusPath = "", string token = Token, bool confirm = true) => new(
        new FenceAgentOptions
        {
            Name = "pdu",
            Type = FenceAgentType.Http,
            Url = server.BaseUrl + "clusters/{cluster}/nodes/{node}/off",
            StatusUrl = statusPath.Length == 0 ? "" : server.BaseUrl + statusPath,
            BearerToken = token,
            Confirm = confirm,
        },
        "demo cluster");

    private static async Task<FenceResult> Fence(IFenceAgent agent, string node)
    {
        using var cts = new CancellationTokenSource(Bound);
        return await agent.FenceAsync(node, cts.Token);
    }

    [Test]
    public async Task The_POST_reaches_the_templated_path_with_the_node_escaped_and_the_bearer_token()
    {
        using var server = new Server(_ => (204, ""));
        using var agent = Agent(server);

        var result = await Fence(agent, "node b/1");

        Assert.That(result.Succeeded, Is.True, result.Explanation);
        var seen = server.Requests.Single();
        Assert.That(seen.Method, Is.EqualTo("POST"));
        Assert.That(seen.RawUrl, Is.EqualTo("/clusters/demo%20cluster/nodes/node%20b%2F1/off"));
        Assert.That(seen.Authorization, Is.EqualTo("Bearer " + Token));
        Assert.That(seen.Body, Does.Contain("\"action\":\"off\"").And.Contain("\"node\":\"node b/1\""));
        Assert.That(result.Explanation, Does.Not.Contain(Token));
    }

    [Test]
    public async Task A_500_is_a_failure_naming_the_status_and_never_the_token()
    {
        using var server = new Server(s => (500, $"{{\"error\":\"bmc down\",\"echo\":\"{s.Authorization}\"}}"));
        using var agent = Agent(server);

        var result = await Fence(agent, "b");

        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Explanation, Does.Contain("answered 500"));
        Assert.That(result.Explanation, Does.Contain("bmc down"));
        Assert.That(result.Explanation, Does.Not.Contain(Token), "even when the server echoes the request");
    }

    [Test]
    public async Task Status_state_off_confirms_the_fence()
    {
        using var server = new Server(s => s.Method == "GET" ? (200, "{\"node\":\"b\",\"State\":\"OFF\"}") : (200, "{}"));
        using var agent = Agent(server, "nodes/{node}/status");

        var result = await Fence(agent, "b");

        Assert.That(result.Succeeded, Is.True, result.Explanation);
        Assert.That(result.Explanation, Does.Contain("confirmed off"));
        Assert.That(server.Requests.Select(r => r.Method + " " + r.RawUrl), Is.EqualTo(new[] { "POST /clusters/demo%20cluster/nodes/b/off", "GET /nodes/b/status" }));
        Assert.That(server.Requests.All(r => r.Authorization == "Bearer " + Token), Is.True);
    }

    [Test]
    public async Task Status_state_on_is_a_failure_naming_the_state()
    {
        using var server = new Server(s => s.Method == "GET" ? (200, "{\"state\":\"on\"}") : (200, "{}"));
        using var agent = Agent(server, "nodes/{node}/status");

        var result = await Fence(agent, "b");

        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Explanation, Does.Contain("state 'on'"));
        Assert.That(result.Explanation, Does.Not.Contain(Token));
    }

    [Test]
    public async Task A_status_answer_that_is_not_json_is_a_failure()
    {
        using var server = new Server(s => s.Method == "GET" ? (200, "<html>off</html>") : (200, "{}"));
        using var agent = Agent(server, "nodes/{node}/status");

        var result = await Fence(agent, "b");

        Assert.That(result.Succeeded, Is.False);
        Assert.That(result.Explanation, Does.Contain("\"state\""));
    }

    [Test]
    public async Task With_confirmation_off_the_status_url_is_not_asked()
    {
        using var server = new Server(s => s.Method == "GET" ? (200, "{\"state\":\"on\"}") : (200, "{}"));
        using var agent = Agent(server, "nodes/{node}/status", confirm: false);

        var result = await Fence(agent, "b");

        Assert.That(result.Succeeded, Is.True, result.Explanation);
        Assert.That(server.Requests.Select(r => r.Method), Is.EqualTo(new[] { "POST" }));
    }

    [Test]
    public async Task No_server_is_a_failure_and_a_hanging_server_is_bounded_by_the_token()
    {
        using (var gone = new Server(_ => (200, "")))
        {
            using var refused = Agent(gone);
            gone.Dispose();
            var result = await Fence(refused, "b");
            Assert.That(result.Succeeded, Is.False);
            Assert.That(result.Explanation, Does.Contain("request failed"));
        }

        using var hang = new ManualResetEventSlim();
        using var slow = new Server(_ =>
        {
            hang.Wait(Bound);
            return (200, "");
        });
        using var agent = Agent(slow);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        Assert.That(async () => await agent.FenceAsync("b", cts.Token), Throws.InstanceOf<OperationCanceledException>());
        hang.Set();
    }
}
