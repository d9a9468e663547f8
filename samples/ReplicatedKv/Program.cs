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

// --node X and --mode M are shorthands for --HaKit:NodeName=X and --Sample:Mode=M.
var hostArgs = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    var (name, value) = args[i] switch
    {
        "--node" or "--mode" when i + 1 < args.Length => (args[i], args[++i]),
        var a when a.StartsWith("--node=", StringComparison.Ordinal) => ("--node", a[7..]),
        var a when a.StartsWith("--mode=", StringComparison.Ordinal) => ("--mode", a[7..]),
        "--node" or "--mode" => (args[i], ""),
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
        hostArgs.Add(name == "--node" ? $"--HaKit:NodeName={value}" : $"--Sample:Mode={value}");
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

var errors = new List<string>();
if (!Enum.TryParse<ReplicationMode>(config["Sample:Mode"], ignoreCase: true, out var mode) || !Enum.IsDefined(mode))
{
    errors.Add($"Sample:Mode = '{config["Sample:Mode"]}': unknown; use Durable, Received or Async (--mode)");
}

// Optional: --Sample:DegradeAfter=00:00:05 (a Durable/Received owner goes on alone after marking its peer outdated) and
// --Sample:MaxLagOnFailover=N (a standby further behind refuses to take over); see docs/replication.md.
var degradeAfter = Optional<TimeSpan>(
    "Sample:DegradeAfter",
    t => TimeSpan.TryParse(t, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : null,
    "not a duration; use for example 00:00:05, or leave it out to never degrade");
var maxLagOnFailover = Optional<long>(
    "Sample:MaxLagOnFailover",
    t => long.TryParse(t, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : null,
    "not a number of entries; use for example 100, or leave it out for no limit");

// An optional sample setting: null when absent; a value that does not parse is an error naming the key, the value and the fix.
T? Optional<T>(string key, Func<string, T?> parse, string fix)
    where T : struct
{
    if (config[key] is not { Length: > 0 } text)
    {
        return null;
    }

    if (parse(text) is { } value)
    {
        return value;
    }

    errors.Add($"{key} = '{text}': {fix}");
    return null;
}

var peers = config.GetSection("Sample:Replication").GetChildren().ToDictionary(c => c.Key, c => c.Value ?? "", StringComparer.Ordinal);
var peerName = peers.Keys.FirstOrDefault(k => k != nodeName);
if (!peers.TryGetValue(nodeName, out var ownAddress) || !IPEndPoint.TryParse(ownAddress, out var listen))
{
    errors.Add($"Sample:Replication:{nodeName} = '{ownAddress}': missing or not ip:port; give --node a or --node b (or set the address)");
    listen = null;
}

IPEndPoint? peerAddress = null;
if (peerName is null || !IPEndPoint.TryParse(peers[peerName], out peerAddress))
{
    errors.Add($"Sample:Replication = '{string.Join(",", peers.Keys)}': needs the peer's ip:port next to this node's");
}

if (!IPEndPoint.TryParse(config["Sample:ServiceAddress"] ?? "", out var serviceAddress))
{
    errors.Add($"Sample:ServiceAddress = '{config["Sample:ServiceAddress"]}': not ip:port; e.g. 127.0.0.1:8090");
}

if (errors.Count > 0)
{
    Console.Error.WriteLine("invalid configuration:");
    errors.ForEach(e => Console.Error.WriteLine($"  - {e}"));
    return ConfigError;
}

var reporter = new StdoutReporter();
using var loggerFactory = LoggerFactory.Create(l => l.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.UseUtcTimestamp = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
}).AddFilter(level => level >= LogLevel.Information).AddFilter("Grpc", LogLevel.Warning).AddFilter("Microsoft.AspNetCore", LogLevel.Warning).Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace));

ReplicatedKvStore store;
ReplicationTransport transport;
try
{
    store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
    {
        Group = "kv",
        Directory = Path.Combine(stateDirectory, $"{nodeName}-replication", "kv"),
        Mode = mode,
        DegradeAfter = degradeAfter,
        MaxLagOnFailover = maxLagOnFailover,
        OnDiverged = d => Console.Error.WriteLine($"diverged: {d.Entries.Count} entries cut ({d.Kind}, owner epoch {d.OwnerEpoch}): {string.Join(", ", d.Entries.Select(e => e.Position))}"),
    }, loggerFactory);
    transport = new ReplicationTransport(new ReplicationTransportOptions { NodeId = nodeName, PeerId = peerName!, Listen = listen, Peer = peerAddress }, loggerFactory);
    transport.Attach(store.Log);
    await transport.StartAsync(CancellationToken.None);
}
catch (Exception ex) when (ex is HaKitConfigurationException or ReplicationLogCorruptException or IOException)
{
    Console.Error.WriteLine(ex.Message);
    return ConfigError;
}

await using (store)
await using (transport)
{
    builder.Services.AddSingleton(reporter);
    builder.Services.AddHaKit()
        .AddResource("kv", _ => new ReplicationResource(store.Log))
        .AddResource("kv", sp => new KvHttpResource(store, serviceAddress!, reporter, sp.GetRequiredService<ILoggerFactory>()))
        .Configure(o => o.StateDirectory = stateDirectory);
    using var host = builder.Build();
    ClusterNode node;
    try
    {
        _ = host.Services.GetRequiredService<IOptions<HaKitOptions>>().Value;
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
    catch (HaKitConfigurationException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return ConfigError;
    }

    Console.Error.WriteLine($"replication mode {mode}: group kv, {listen} <-> {peerName} at {peerAddress}, service {serviceAddress}");
    reporter.Ready(node.NodeName, host.Services.GetRequiredService<IOptions<HaKitOptions>>().Value.Arbiter.Mode.ToString(),
        host.Services.GetRequiredService<IHaKitAdminEndpoint>().Endpoint);
    using var stopLag = new CancellationTokenSource();
    var lagReport = ReportLagAsync(store.Log, stopLag.Token);
    await host.WaitForShutdownAsync();
    await stopLag.CancelAsync();
    await lagReport;
    reporter.Exit();
    return 0;
}

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
