// A user's program built against the HaKit packages only (PackageReference, no ProjectReference): .ci/package-smoke packs
// the solution into a temporary feed, builds this and expects "consumer ok epoch=<n>" and exit code 0.
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using HaKit;

var port = FreeUdpPort();
var stateDir = Directory.CreateTempSubdirectory("hakit-consumer-").FullName;
var resource = new EpochResource();
var options = new HaKitOptions
{
    ClusterName = "consumer",
    NodeName = "a",
    Nodes =
    [
        new NodeOptions { Name = "a", Addresses = { ["lan0"] = $"127.0.0.1:{port}" } },
        new NodeOptions { Name = "b", Addresses = { ["lan0"] = $"127.0.0.1:{FreeUdpPort()}" } }, // never started: declared dead
    ],
    Links = [new LinkOptions { Name = "lan0" }],
    Timing = new TimingOptions
    {
        Interval = TimeSpan.FromMilliseconds(100),
        WarnTime = TimeSpan.FromMilliseconds(300),
        DeadTime = TimeSpan.FromMilliseconds(600),
        InitialDeadTime = TimeSpan.FromSeconds(1),
    },
    Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)) }], SendKeyId = 1 },
    Groups = [new GroupOptions { Name = "work", PreferredNode = "a" }],
    StateDirectory = stateDir,
};

try
{
    await using var node = new ClusterNode(options, new Dictionary<string, IReadOnlyList<IResource>> { ["work"] = [resource] });
    await node.StartAsync(CancellationToken.None);
    var started = await Task.WhenAny(resource.Started.Task, Task.Delay(TimeSpan.FromSeconds(20)));
    if (started != resource.Started.Task)
    {
        Console.Error.WriteLine("consumer failed: the resource was not started within 20 s");
        return 1;
    }

    Console.WriteLine($"consumer ok epoch={resource.Started.Task.Result}");
    await node.StopAsync(CancellationToken.None);
    return 0;
}
finally
{
    Directory.Delete(stateDir, recursive: true);
}

static int FreeUdpPort()
{
    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    return ((IPEndPoint)socket.LocalEndPoint!).Port;
}

internal sealed class EpochResource : IResource
{
    public TaskCompletionSource<ulong> Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Name => "epoch";

    public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (context.Epoch >= 1)
        {
            Started.TrySetResult(context.Epoch);
        }

        return ValueTask.FromResult(ResourceResult.Success);
    }

    public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(ResourceResult.Success);

    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(MonitorResult.Running);
}
