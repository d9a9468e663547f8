// ReplicatedKv: the TwoNode pair (nodes a and b, heartbeats on 127.0.0.1:7501/7502) with a replicated key-value store
// (HaKit.Replication, replication on 127.0.0.1:7511/7512). The owner of group kv binds 127.0.0.1:8090:
//   PUT /kv/{key} (body = value) -> 200 "epoch=<e> index=<i>" once acknowledged in the mode; GET /kv/{key} -> the value or 404.
// Stdout carries only machine-readable lines (ready, role, http ...); logs go to stderr.
using System.Net;
using HaKit;
using HaKit.Hosting;
using HaKit.Replication;
using HaKit.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using ReplicatedKv;
using TwoNode;

const int ConfigError = 2;
const string Usage = "usage: ReplicatedKv --node <a|b> [--mode Durable|Received|Async] [--HaKit:Key=value ...] [--Sample:Key=value ...]";

if (args is ["--help"] or ["-h"])
{
    Console.WriteLine(Usage);
    return 0;
}

// --node X and --mode M are shorthands for --HaKit:NodeName=X and --HaKit:Replication:Groups:kv:Mode=M.
var hostArgs = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    var (name, value) = args[i] switch
    {
        "--node" or "--mode" when i + 1 < args.Length => (args[i], args[++i]),
        var a when a.StartsWith("--node=", StringComparison.Ordinal) => ("--node", a[7..]),
        var a when a.StartsWith("--mode=", StringComparison.Ordinal) => ("--mode", a[7..]),
        "--node" or "--mode" => (args[i], ""),
        // Earlier spellings of the group's settings, kept as aliases.
        var a when a.StartsWith("--Sample:DegradeAfter=", StringComparison.OrdinalIgnoreCase) => ("--HaKit:Replication:Groups:kv:DegradeAfter=" + a[22..], (string?)null),
        var a when a.StartsWith("--Sample:MaxLagOnFailover=", StringComparison.OrdinalIgnoreCase) => ("--HaKit:Replication:Groups:kv:MaxLagOnFailover=" + a[26..], (string?)null),
        var a => (a, (string?)null),
    };
    if (value is null)
    {
        hostArgs.Add(name);
    }
    else if (value.Length == 0)
    {
        Console.Error.WriteLine($"{name} needs a value");
        Console.Error.WriteLine(Usage);
        return ConfigError;
    }
    else
    {
        hostArgs.Add(name == "--node" ? $"--HaKit:NodeName={value}" : $"--HaKit:Replication:Groups:kv:Mode={value}");
    }
}

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [.. hostArgs], ContentRootPath = AppContext.BaseDirectory });
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.UseUtcTimestamp = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});
builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

var config = builder.Configuration;
var nodeName = config["HaKit:NodeName"] ?? "";
var stateDirectory = config["HaKit:StateDirectory"] is { Length: > 0 } s ? s : "hakit-state";
if (!Path.IsPathRooted(stateDirectory))
{
    stateDirectory = Path.Combine(AppContext.BaseDirectory, stateDirectory);
}

if (!IPEndPoint.TryParse(config["Sample:ServiceAddress"] ?? "", out var serviceAddress))
{
    Console.Error.WriteLine("invalid configuration:");
    Console.Error.WriteLine($"  - Sample:ServiceAddress = '{config["Sample:ServiceAddress"]}': not ip:port; e.g. 127.0.0.1:8090");
    return ConfigError;
}

// The replication (group kv's log, the stream to the peer) comes from HaKit:Replication (appsettings.json): UseReplication()
// opens the log before the node starts, adds the "replication" resource to group kv and closes the log after the handover.
var reporter = new StdoutReporter();
builder.Services.AddSingleton(reporter);
builder.Services.AddHaKit()
    .UseReplication(r => r.AddKvStore("kv", o => o.OnDiverged = d =>
        Console.Error.WriteLine($"diverged: {d.Entries.Count} entries cut ({d.Kind}, owner epoch {d.OwnerEpoch}): {string.Join(", ", d.Entries.Select(e => e.Position))}")))
    .AddResource("kv", sp => new KvHttpResource(sp.GetRequiredKeyedService<ReplicatedKvStore>("kv"), serviceAddress, reporter, sp.GetRequiredService<ILoggerFactory>()))
    .Configure(o => o.StateDirectory = stateDirectory);
using var host = builder.Build();
ClusterNode node;
ReplicationHostOptions replication;
try
{
    _ = host.Services.GetRequiredService<IOptions<HaKitOptions>>().Value;
    replication = host.Services.GetRequiredService<IOptions<ReplicationHostOptions>>().Value;
    node = host.Services.GetRequiredService<ClusterNode>();
    node.EventRaised += reporter.OnEvent;
    await host.StartAsync();
}
catch (OptionsValidationException ex)
{
    Console.Error.WriteLine("invalid configuration:");
    foreach (var failure in ex.Failures)
    {
        Console.Error.WriteLine($"  - {failure}");
    }

    return ConfigError;
}
catch (Exception ex) when (ex is HaKitConfigurationException or ReplicationLogCorruptException or IOException)
{
    Console.Error.WriteLine(ex.Message);
    return ConfigError;
}

var mode = replication.Groups.TryGetValue("kv", out var kv) ? kv.Mode : ReplicationMode.Durable;
var peerName = replication.Addresses.Keys.First(k => k != nodeName);
Console.Error.WriteLine($"replication mode {mode}: group kv, {replication.Addresses[nodeName]} <-> {peerName} at {replication.Addresses[peerName]}, service {serviceAddress}");
reporter.Ready(node.NodeName, host.Services.GetRequiredService<IOptions<HaKitOptions>>().Value.Arbiter.Mode.ToString(),
    host.Services.GetRequiredService<IHaKitAdminEndpoint>().Endpoint);
using var stopLag = new CancellationTokenSource();
var lagReport = ReportLagAsync(host.Services.GetRequiredKeyedService<ReplicatedKvStore>("kv").Log, stopLag.Token);
await host.WaitForShutdownAsync();
await stopLag.CancelAsync();
await lagReport;
reporter.Exit();
return 0;

// While this node owns the group, every 20 ms (when it changed) one stdout line with the owner's replication progress:
//   replication group=kv epoch=E last=L acknowledged=A peer-received=R peer-durable=D lag=N
// lag = L - D, the entries an Async failover to the peer could lose now. A write acknowledged at an index <= D (same epoch) is on
// the peer's disk; one at an index <= R is in the peer's memory: it survives a SIGKILL of this node while the peer runs on. The
// real-process Async test checks the writes it lost against the killed owner's last line.
static async Task ReportLagAsync(ReplicatedLog log, CancellationToken cancellationToken)
{
    using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
    string? last = null;
    try
    {
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            var s = log.Status;
            if (s.Role != ReplicaRole.Owner)
            {
                last = null;
                continue;
            }

            var line = $"replication group={s.Group} epoch={s.Epoch} last={s.Last.Index} acknowledged={s.Acknowledged} peer-received={s.PeerReceived} peer-durable={s.PeerDurable} lag={s.LagEntries}";
            if (line != last)
            {
                Console.Out.WriteLine(line);
                last = line;
            }
        }
    }
    catch (OperationCanceledException)
    {
    }
}
