// HaKit quick start: two nodes of one cluster, in one process, heartbeating over UDP on 127.0.0.1
// (two links each). Watch an election, a failover after a crash, a rejoin, a switchover and a
// graceful shutdown, each explained by the node that acted.
using System.Diagnostics;
using HaKit;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;
using HaKit.Runtime;
using Microsoft.Extensions.Logging;

if (args is ["--help"] or ["-h"])
{
    Console.WriteLine("""
        usage: QuickStart        (no options)
        Runs two HaKit nodes of one cluster in this process over UDP on 127.0.0.1 (7401/7402, 7411/7412) and scripts an
        election, a failover after a crash, a rejoin, a switchover and a graceful shutdown. Exit code 0 when every step
        happened within its bound, 1 otherwise.
        """);
    return 0;
}

var stateDir = Directory.CreateTempSubdirectory("hakit-quickstart-").FullName;
using var loggerFactory = LoggerFactory.Create(b => b
    .SetMinimumLevel(LogLevel.Information)
    .AddFilter("HaKit.Resources", LogLevel.Warning)
    .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; }));
var bound = TimeSpan.FromSeconds(15);
var nodes = new Dictionary<string, ClusterNode>();

try
{
    Console.WriteLine("== starting nodes a and b (group 'web' prefers a)");
    nodes["a"] = await StartNode("a");
    nodes["b"] = await StartNode("b");
    await WaitFor(() => Role("a") == GroupRole.Active, "a owns web");

    Console.WriteLine("\n== crashing a (no handover: like kill -9)");
    var crash = Stopwatch.StartNew();
    await nodes["a"].AbortAsync();
    await nodes["a"].DisposeAsync();
    nodes.Remove("a");
    await WaitFor(() => Role("b") == GroupRole.Active, "b takes over");
    Console.WriteLine($"   b serves web {crash.ElapsedMilliseconds} ms after the crash (dead time 600 ms)");

    Console.WriteLine("\n== restarting a: it rejoins as standby (AutoFailback is off)");
    nodes["a"] = await StartNode("a");
    await Task.Delay(TimeSpan.FromSeconds(1));
    Console.WriteLine($"   a: {Role("a")}, b: {Role("b")}");

    Console.WriteLine("\n== switchover: move web back to a (stop on b, then start on a; never both)");
    var result = await nodes["b"].ExecuteAsync(new SwitchoverCommand("web", "a"), CancellationToken.None);
    Console.WriteLine($"   {result.Message}");
    await WaitFor(() => Role("a") == GroupRole.Active, "a owns web again");

    Console.WriteLine("\n== graceful shutdown of a: it hands web to b before exiting");
    using (var cts = new CancellationTokenSource(bound))
    {
        await nodes["a"].StopAsync(cts.Token);
    }

    await WaitFor(() => Role("b") == GroupRole.Active, "b owns web");
    Console.WriteLine("\nDone: every step happened as expected.");
    return 0;
}
catch (TimeoutException ex)
{
    Console.Error.WriteLine($"quick start failed: {ex.Message}");
    return 1;
}
finally
{
    foreach (var n in nodes.Values)
    {
        await n.DisposeAsync();
    }

    Directory.Delete(stateDir, recursive: true);
}

GroupRole Role(string node) => nodes[node].GetStatus().Groups.Single(g => g.Group == "web").Role;

async Task WaitFor(Func<bool> condition, string what)
{
    var sw = Stopwatch.StartNew();
    while (!condition())
    {
        if (sw.Elapsed > bound)
        {
            throw new TimeoutException($"timed out waiting for: {what}");
        }

        await Task.Delay(10);
    }
}

async Task<ClusterNode> StartNode(string name)
{
    var options = new HaKitOptions
    {
        ClusterName = "quickstart",
        NodeName = name,
        Nodes =
        [
            new NodeOptions { Name = "a", Addresses = { ["lan0"] = "127.0.0.1:7401", ["lan1"] = "127.0.0.1:7411" } },
            new NodeOptions { Name = "b", Addresses = { ["lan0"] = "127.0.0.1:7402", ["lan1"] = "127.0.0.1:7412" } },
        ],
        Links = [new LinkOptions { Name = "lan0" }, new LinkOptions { Name = "lan1" }],
        Timing = new TimingOptions
        {
            Interval = TimeSpan.FromMilliseconds(100),
            WarnTime = TimeSpan.FromMilliseconds(300),
            DeadTime = TimeSpan.FromMilliseconds(600),
            InitialDeadTime = TimeSpan.FromSeconds(2),
        },
        // Demo key only: generate your own with `openssl rand -base64 32`.
        Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = "cXVpY2tzdGFydCBkZW1vIGtleSwgbm90IGEgc2VjcmV0IQ==" }], SendKeyId = 1 },
        Groups = [new GroupOptions { Name = "web", PreferredNode = "a", MonitorInterval = TimeSpan.FromSeconds(1) }],
        StateDirectory = stateDir,
    };
    var resources = new Dictionary<string, IReadOnlyList<IResource>> { ["web"] = [new GreeterResource(name)] };
    var node = new ClusterNode(options, resources, new ClusterNodeServices { LoggerFactory = loggerFactory });
    await node.StartAsync(CancellationToken.None);
    return node;
}

/// <summary>A host application's own resource: "serves" while this node owns the group.</summary>
internal sealed class GreeterResource(string node) : IResource
{
    private bool _running;

    public string Name => "greeter";

    public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        _running = true;
        Console.WriteLine($"   [{node}] greeter started: serving group {context.Group} with epoch {context.Epoch}");
        // Leader-only work is tied to the ownership token: it stops the instant this node stops owning the group.
        context.OwnershipToken.Register(() => Console.WriteLine($"   [{node}] ownership of {context.Group} epoch {context.Epoch} revoked"));
        return ValueTask.FromResult(ResourceResult.Success);
    }

    public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        _running = false;
        Console.WriteLine($"   [{node}] greeter stopped");
        return ValueTask.FromResult(ResourceResult.Success);
    }

    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_running ? MonitorResult.Running : MonitorResult.NotRunning());
}
