using System.Collections.Concurrent;
using Grpc.Core;
using HaKit.Admin.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HaKit.Cli.Tests;

/// <summary>What the fake node answers and what it was asked.</summary>
internal sealed class FakeAdmin : ClusterAdmin.ClusterAdminBase
{
    public StatusReply Status { get; set; } = SampleStatus();

    /// <summary>The reply to every command (default: accepted).</summary>
    public CommandReply Reply { get; set; } = new() { Accepted = true, Message = "done by the fake", HandledBy = "a" };

    public ConcurrentQueue<Google.Protobuf.IMessage> Commands { get; } = new();

    public ConcurrentQueue<WatchRequest> WatchRequests { get; } = new();

    /// <summary>Plays a watch call: (request, call number from 1) → events to send; then the call ends (a dropped stream) unless <see cref="HoldAfter"/> says to wait.</summary>
    public Func<WatchRequest, int, IEnumerable<WatchEvent>> Watcher { get; set; } = (_, _) => [Snapshot(1, 0, SampleStatus())];

    /// <summary>After sending its events, call number N waits for the client to go away instead of ending (default: every call).</summary>
    public Func<int, bool> HoldAfter { get; set; } = _ => true;

    public Action? OnStatus { get; set; }

    private int _watchCalls;

    public static StatusReply SampleStatus(string owner = "a", Role role = Role.Active, ulong epoch = 7) => new()
    {
        Node = "a",
        Cluster = "twonode",
        Incarnation = 3,
        Version = "0.1.0",
        Arbiter = new ArbiterStatus { Mode = "TwoNode" },
        Budget = new HaKit.Admin.V1.TimingBudget { WorstCaseDetectionMs = 850, WorstCaseTakeoverMs = 5850, TolerableLostHeartbeats = 3, Summary = "worst-case detection 850 ms" },
        Groups = { new GroupStatus { Name = "web", Role = role, Epoch = epoch, HighestEpoch = epoch, Owner = owner, Eligible = true, PreferredNode = "a" } },
        Peers = { new PeerStatus { Name = "b", Health = Health.Alive, Incarnation = 5, Links = { new LinkStatus { Name = "lan0", Health = Health.Alive, Detail = "last heard 120 ms ago" } } } },
    };

    public static WatchEvent Snapshot(ulong incarnation, ulong sequence, StatusReply status, bool gap = false) =>
        new() { Kind = "Snapshot", Incarnation = incarnation, Sequence = sequence, Snapshot = status, Gap = gap, UnixTimeMs = 1_765_000_000_000 };

    private const string PauseKind = "(fake: pause)";

    private const string FailKind = "(fake: fail)";

    /// <summary>Not sent: the fake ends the call with <paramref name="code"/>.</summary>
    public static WatchEvent Fail(StatusCode code, string detail) => new() { Kind = FailKind, Sequence = (ulong)code, Text = detail };

    /// <summary>Not sent: the fake waits <paramref name="milliseconds"/> before the next event.</summary>
    public static WatchEvent Pause(int milliseconds) => new() { Kind = PauseKind, Sequence = (ulong)milliseconds };

    public static WatchEvent Event(ulong incarnation, ulong sequence, string text) =>
        new() { Kind = "RoleChanged", Incarnation = incarnation, Sequence = sequence, Group = "web", Role = Role.Active, Epoch = sequence, Text = text, UnixTimeMs = 1_765_000_000_000 + (long)sequence };

    public override Task<StatusReply> GetStatus(StatusRequest request, ServerCallContext context)
    {
        OnStatus?.Invoke();
        return Task.FromResult(Status);
    }

    public override Task<CommandReply> SetStandby(SetStandbyRequest request, ServerCallContext context) => Record(request);

    public override Task<CommandReply> Switchover(SwitchoverRequest request, ServerCallContext context) => Record(request);

    public override Task<CommandReply> Takeover(TakeoverRequest request, ServerCallContext context) => Record(request);

    public override Task<CommandReply> SetMaintenance(SetMaintenanceRequest request, ServerCallContext context) => Record(request);

    public override Task<CommandReply> Cleanup(CleanupRequest request, ServerCallContext context) => Record(request);

    public override Task<CommandReply> ConfirmDown(ConfirmDownRequest request, ServerCallContext context) => Record(request);

    public override async Task Watch(WatchRequest request, IServerStreamWriter<WatchEvent> responseStream, ServerCallContext context)
    {
        WatchRequests.Enqueue(request);
        var call = Interlocked.Increment(ref _watchCalls);
        foreach (var e in Watcher(request, call))
        {
            if (e.Kind == FailKind)
            {
                throw new RpcException(new Status((StatusCode)e.Sequence, e.Text));
            }

            if (e.Kind == PauseKind)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(e.Sequence), context.CancellationToken);
                continue;
            }

            await responseStream.WriteAsync(e, context.CancellationToken);
        }

        if (HoldAfter(call))
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private Task<CommandReply> Record(Google.Protobuf.IMessage request)
    {
        Commands.Enqueue(request);
        return Task.FromResult(Reply);
    }
}

/// <summary>Kestrel serving a <see cref="FakeAdmin"/> on a temporary Unix socket.</summary>
internal sealed class FakeAdminServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeAdminServer(WebApplication app, string? socketPath, FakeAdmin admin)
    {
        _app = app;
        SocketPath = socketPath;
        Admin = admin;
    }

    public string? SocketPath { get; }

    public string Endpoint => SocketPath is not null ? "unix:" + SocketPath : _app.Urls.Single();

    public FakeAdmin Admin { get; }

    public static Task<FakeAdminServer> StartAsync(FakeAdmin? admin = null, string? socketPath = null)
    {
        socketPath ??= Path.Combine(Path.GetTempPath(), $"hakit-cli-{Guid.NewGuid():N}"[..20] + ".sock");
        return StartAsync(admin, socketPath, k => k.ListenUnixSocket(socketPath, l => l.Protocols = HttpProtocols.Http2));
    }

    /// <summary>HTTPS on 127.0.0.1 (a free port) with <paramref name="https"/> setting the certificates.</summary>
    public static Task<FakeAdminServer> StartHttpsAsync(Action<Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions> https) =>
        StartAsync(null, null, k => k.Listen(System.Net.IPAddress.Loopback, 0, l =>
        {
            l.Protocols = HttpProtocols.Http2;
            l.UseHttps(https);
        }));

    private static async Task<FakeAdminServer> StartAsync(FakeAdmin? admin, string? socketPath, Action<KestrelServerOptions> listen)
    {
        admin ??= new FakeAdmin();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(listen);
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(admin);
        var app = builder.Build();
        app.MapGrpcService<FakeAdmin>();
        using var start = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await app.StartAsync(start.Token);
        return new FakeAdminServer(app, socketPath, admin);
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
        if (SocketPath is not null)
        {
            File.Delete(SocketPath);
        }
    }
}
