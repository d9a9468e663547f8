// HaKit.ReplBench: latency and throughput of HaKit.Replication against baselines measured in the same run.
// dotnet run -c Release --project benchmarks/HaKit.ReplBench -- [--entry 100] [--single 5000] [--seconds 3] [--writers 64,256] [--out docs/benchmarks.md]
//
// What runs: two ReplicatedLog instances in this one process (owner "a", standby "b"), each with its own ReplicationTransport
// (TCP connections, or with --protocol grpc the real Kestrel h2c server and Grpc.Net.Client dialer) on 127.0.0.1 ports, and real segment files in a temp directory on
// the file system of /tmp (or --dir). Both replicas, the writers and the baselines share the machine's cores.
using System.Globalization;
using HaKit.ReplBench;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

const string Usage = """
    usage: HaKit.ReplBench [--entry BYTES (100)] [--single N writes per mode (5000)] [--seconds S per pipelined run (3)]
                           [--writers W[,W...] concurrent awaiting writers (64,256)] [--modes Async,Received,Durable]
                           [--append pooled|task (pooled: AppendPooledAsync; task: AppendAsync) for the pipelined writers]
                           [--prealloc on|off (on: the replicas' PreallocateSegments)]
                           [--state null|kv|kv-loop (null: no state, empty snapshots; kv: 100,000 keys, a snapshot every
                            100,000 entries written in the background; kv-loop: the same written on the log's loop)]
                           [--protocol tcp|grpc (tcp: the replication stream's protocol, ReplicationTransportOptions.Protocol)]
                           [--dir DIR (temp)] [--out docs/benchmarks.md]
    """;

var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i < args.Length; i++)
{
    if (args[i] is "--help" or "-h" || !args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine(Usage);
        return args[i] is "--help" or "-h" ? 0 : 2;
    }

    options[args[i][2..]] = args[++i];
}

string[] known = ["entry", "single", "seconds", "writers", "modes", "dir", "out", "append", "prealloc", "protocol", "state"];
if (options.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown)
{
    Console.Error.WriteLine($"unknown option --{unknown}\n{Usage}");
    return 2;
}

string Get(string key, string fallback) => options.TryGetValue(key, out var v) ? v : fallback;
var settings = new BenchSettings(
    EntryBytes: int.Parse(Get("entry", "100"), CultureInfo.InvariantCulture),
    SingleWrites: int.Parse(Get("single", "5000"), CultureInfo.InvariantCulture),
    Seconds: double.Parse(Get("seconds", "3"), CultureInfo.InvariantCulture),
    Writers: [.. Get("writers", "64,256").Split(',').Select(w => int.Parse(w, CultureInfo.InvariantCulture))],
    Modes: [.. Get("modes", "Async,Received,Durable").Split(',').Select(Enum.Parse<HaKit.Replication.ReplicationMode>)],
    Directory: Get("dir", Path.GetTempPath()),
    Pooled: Get("append", "pooled") switch
    {
        "pooled" => true,
        "task" => false,
        var other => throw new ArgumentException($"--append {other}: expects pooled or task"),
    },
    Preallocate: Get("prealloc", "on") switch
    {
        "on" => true,
        "off" => false,
        var other => throw new ArgumentException($"--prealloc {other}: expects on or off"),
    },
    Protocol: Get("protocol", "tcp") switch
    {
        "tcp" => HaKit.Replication.ReplicationProtocol.Tcp,
        "grpc" => HaKit.Replication.ReplicationProtocol.Grpc,
        var other => throw new ArgumentException($"--protocol {other}: expects tcp or grpc"),
    },
    State: Get("state", "null") switch
    {
        "null" => BenchState.Null,
        "kv" => BenchState.Kv,
        "kv-loop" => BenchState.KvOnLoop,
        var other => throw new ArgumentException($"--state {other}: expects null, kv or kv-loop"),
    });

var command = "dotnet run -c Release --project benchmarks/HaKit.ReplBench --" + string.Concat(args.Select(a => " " + a));
var results = await Bench.RunAsync(settings);
var markdown = ReplReport.Markdown(settings, results, command);
Console.WriteLine(markdown);
if (options.TryGetValue("out", out var path))
{
    ReplReport.Write(path, markdown);
    Console.WriteLine($"written to {path}");
}

return 0;
