// HaKit.Takeover: measures how long the TwoNode sample's service is unavailable after SIGKILL / SIGTERM of its owner.
// dotnet run -c Release --project benchmarks/HaKit.Takeover -- --preset Fast --runs 30 --mode both --out docs/benchmarks.md
// With the Grpc link next to the UDP one (crash hint): --link grpc --mode kill --stop-runs 5
using HaKit;
using System.Globalization;
using HaKit.Resources;
using HaKit.Integration.Harness;
using HaKit.Takeover;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TwoNode;

const string Usage = """
    usage: HaKit.Takeover [--preset Lan|Fast|Wan] [--realtime <SCHED_RR priority, 0 = off>] [--runs N] [--graceful-runs N] [--baseline-runs N] [--mode kill|graceful|both]
                          [--link udp|grpc] [--stop-runs N] [--seed N] [--warmup on|off] [--settle <seconds>] [--trace on|off] [--out docs/benchmarks.md]
           (--link grpc: the pair also runs a Grpc link, h2c on loopback, appsettings.grpc.json; --stop-runs: SIGSTOP runs, no reset;
            --settle: both nodes run that much longer before each run's random delay, so the standby is not a process seconds old;
            --trace: the nodes record a timeline of each kill, HAKIT_TAKEOVER_TRACE=1, default on with --link grpc)
           HaKit.Takeover --soak <minutes> [--load "<what loads the machine>"] [--out docs/benchmarks.md]
           HaKit.Takeover --flood <seconds> [--rate <junk datagrams/s per node, default 50000>] [--preset Lan] [--out docs/benchmarks.md]
           HaKit.Takeover --idle <seconds> [--preset Lan] [--out docs/benchmarks.md]
           HaKit.Takeover --serve <ip:port>     (the no-HA baseline: bind the sample's listener and answer until killed)
    """;

// Reports and logs use invariant formatting (the report's concatenated messages rely on it).
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args is ["--help"] or ["-h"])
{
    Console.WriteLine(Usage);
    return 0;
}

if (args is ["--serve", var address])
{
    return await ServeAsync(address);
}

var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (var i = 0; i < args.Length; i++)
{
    if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"unexpected argument '{args[i]}'\n{Usage}");
        return 2;
    }

    options[args[i][2..]] = args[++i];
}

var known = new[] { "realtime", "preset", "runs", "graceful-runs", "baseline-runs", "mode", "seed", "out", "soak", "load", "warmup", "link", "stop-runs", "flood", "rate", "idle", "settle", "trace" };
if (options.Keys.FirstOrDefault(k => !known.Contains(k)) is { } unknown)
{
    Console.Error.WriteLine($"unknown option --{unknown}\n{Usage}");
    return 2;
}

string Get(string key, string fallback) => options.TryGetValue(key, out var v) ? v : fallback;
int Int(string key, int fallback) =>
    int.TryParse(Get(key, fallback.ToString(CultureInfo.InvariantCulture)), NumberStyles.None, CultureInfo.InvariantCulture, out var n)
        ? n
        : throw new ArgumentException($"--{key} {Get(key, "")}: expected a non-negative whole number");

// Nodes run under SCHED_RR with this priority (HaKit:RealtimePriority) when given: what the Fast preset needs on a busy machine.
var nodeArgList = new List<string>();
if (Int("realtime", 0) is > 0 and var rt)
{
    nodeArgList.Add($"--HaKit:RealtimePriority={rt}");
}

// HaKit:WarmUp (default on): off measures what a cold standby process costs.
if (Get("warmup", "on") is not ("on" or "off"))
{
    Console.Error.WriteLine($"--warmup {Get("warmup", "")}: expected on or off\n{Usage}");
    return 2;
}

if (Get("warmup", "on") == "off")
{
    nodeArgList.Add("--HaKit:WarmUp=false");
}

var nodeArgs = nodeArgList.ToArray();

// The kill's timeline (HaKit's TakeoverTrace and the sample's): the nodes inherit the variable. On by default with the Grpc link.
if (Get("trace", Get("link", "udp") == "grpc" ? "on" : "off") is var trace && trace is not ("on" or "off"))
{
    Console.Error.WriteLine($"--trace {trace}: expected on or off\n{Usage}");
    return 2;
}
else
{
    Environment.SetEnvironmentVariable("HAKIT_TAKEOVER_TRACE", trace == "on" ? "1" : null);
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true; // stop after the current run; every process is killed on the way out
    cancel.Cancel();
};

var command = "dotnet run -c Release --project benchmarks/HaKit.Takeover -- " + string.Join(' ', args.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a));
var machine = Report.Machine();
var output = Get("out", "");
Console.WriteLine($"machine: {machine}");

try
{
    if (options.TryGetValue("soak", out var soakText))
    {
        if (!double.TryParse(soakText, NumberStyles.Float, CultureInfo.InvariantCulture, out var minutes) || minutes <= 0)
        {
            Console.Error.WriteLine($"--soak {soakText}: expected a positive number of minutes");
            return 2;
        }

        var soaker = new Measurements(Get("preset", "Fast"), new Random(0), Console.Out, nodeArgs);
        var soak = await soaker.SoakAsync(minutes, cancel.Token);
        Console.WriteLine($"role_changes={soak.RoleChanges} false_failovers={soak.FalseFailovers}");
        soak.RoleLines.ToList().ForEach(l => Console.WriteLine($"  {l}"));
        if (soak.TranscriptPath is not null)
        {
            Console.WriteLine($"both nodes' output: {soak.TranscriptPath}");
        }

        Console.WriteLine($"worst_gap_a_to_b_ms={soak.WorstGapAtoBMs:0.0} worst_gap_b_to_a_ms={soak.WorstGapBtoAMs:0.0}");
        Console.WriteLine($"suspect_or_dead={soak.SuspectOrDead} local_stalls={soak.LocalStalls} longest_stall_ms={soak.LongestStallMs} probes={soak.Probes} probe_failures={soak.ProbeFailures}");
        if (output.Length > 0)
        {
            Report.Write(output, Report.SoakBlock(command, machine, soak, Get("load", "the machine was loaded by the caller"), DateTimeOffset.UtcNow));
            Console.WriteLine($"wrote the soak block of {output}");
        }

        return soak.RoleChanges == 0 ? 0 : 1;
    }

    if (options.TryGetValue("flood", out var floodText))
    {
        if (!double.TryParse(floodText, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
        {
            Console.Error.WriteLine($"--flood {floodText}: expected a positive number of seconds");
            return 2;
        }

        var flooding = new Measurements(Get("preset", "Lan"), new Random(0), Console.Out, nodeArgs);
        var flood = await flooding.FloodAsync(seconds, Int("rate", 50_000), 20, cancel.Token);
        Console.WriteLine($"achieved_per_node={flood.Sent / flood.Seconds / 2:0}/s sent={flood.Sent} forged={flood.ForgedSent} send_failures={flood.SendFailures} seconds={flood.Seconds:0.0} peer_changes={flood.PeerChanges} role_changes={flood.RoleChanges}");
        Console.WriteLine($"cpu_a={flood.CpuSecondsA:0.00}s cpu_b={flood.CpuSecondsB:0.00}s idle_a={flood.IdleCpuSecondsA:0.00}s idle_b={flood.IdleCpuSecondsB:0.00}s over {flood.IdleSeconds:0.0}s; cpu per 100k junk datagrams per node={flood.CpuPer100k:0.000}s");
        Console.WriteLine($"drops logged: a={flood.DroppedLoggedA} b={flood.DroppedLoggedB}");
        flood.ChangeLines.ToList().ForEach(l => Console.WriteLine($"  {l}"));
        if (output.Length > 0)
        {
            Report.Write(output, Report.FloodBlock(Get("preset", "Lan"), command, machine, flood, DateTimeOffset.UtcNow));
            Console.WriteLine($"wrote the flood block of {output}");
        }

        return flood.PeerChanges == 0 && flood.RoleChanges == 0 ? 0 : 1;
    }

    if (options.TryGetValue("idle", out var idleText))
    {
        if (!double.TryParse(idleText, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0)
        {
            Console.Error.WriteLine($"--idle {idleText}: expected a positive number of seconds");
            return 2;
        }

        var idling = new Measurements(Get("preset", "Lan"), new Random(0), Console.Out, nodeArgs);
        var idle = await idling.IdleAsync(seconds, cancel.Token);
        Console.WriteLine($"idle over {idle.Seconds:0.0}s (after {idle.SettleSeconds:0}s: a {idle.StartCpuSecondsA:0.00}s, b {idle.StartCpuSecondsB:0.00}s): cpu_a={idle.CpuSecondsA:0.000}s cpu_b={idle.CpuSecondsB:0.000}s = {idle.PercentOfCore:0.00} % of a core per node; load at end {idle.LoadAtEnd:0.00}");
        foreach (var (node, rows) in new[] { ("a", idle.ThreadsA), ("b", idle.ThreadsB) })
        {
            foreach (var row in rows ?? [])
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {node} {row.Name,-24} cpu={row.CpuMs,7:0.0} ms wakeups/s={row.WakeupsPerSecond,5:0.0} runs/s={row.RunsPerSecond,5:0.0}"));
            }
        }
        if (output.Length > 0)
        {
            Report.Write(output, Report.IdleBlock(Get("preset", "Lan"), command, machine, idle, DateTimeOffset.UtcNow));
            Console.WriteLine($"wrote the idle block of {output}");
        }

        return 0;
    }

    var preset = Get("preset", "Lan");
    var mode = Get("mode", "both");
    if (mode is not ("kill" or "graceful" or "both"))
    {
        Console.Error.WriteLine($"--mode {mode}: expected kill, graceful or both");
        return 2;
    }

    var runs = Int("runs", 30);
    var gracefulRuns = Int("graceful-runs", runs);
    var baselineRuns = Int("baseline-runs", 10);
    var seed = Int("seed", Environment.TickCount & int.MaxValue);
    Console.WriteLine($"preset {preset}, mode {mode}, runs {runs} (graceful {gracefulRuns}, baseline {baselineRuns}), seed {seed}");

    var link = Get("link", "udp");
    if (link is not ("udp" or "grpc"))
    {
        Console.Error.WriteLine($"--link {link}: expected udp or grpc");
        return 2;
    }

    var stopRuns = Int("stop-runs", 0);
    var random = new Random(seed);
    var measure = new Measurements(preset, random, Console.Out, nodeArgs)
    {
        ExtraSettle = TimeSpan.FromSeconds(Int("settle", 0)),
        // The Grpc link next to lan0 (appsettings.grpc.json, h2c on loopback) on two fresh TCP ports for every pair.
        PerPairArgs = link == "grpc"
            ? () =>
            [
                "--config", "appsettings.grpc.json",
                $"--HaKit:Nodes:0:Addresses:grpc0=127.0.0.1:{FreePorts.Tcp().ToString(CultureInfo.InvariantCulture)}",
                $"--HaKit:Nodes:1:Addresses:grpc0=127.0.0.1:{FreePorts.Tcp().ToString(CultureInfo.InvariantCulture)}",
            ]
            : null,
    };
    var stops = new List<StopRun>();
    var kills = new List<KillRun>();
    var graceful = new List<GracefulRun>();
    var baseline = new List<double>();
    for (var i = 1; i <= baselineRuns && !cancel.IsCancellationRequested; i++)
    {
        if (await measure.BaselineAsync(i, cancel.Token) is { } ms)
        {
            baseline.Add(ms);
        }
    }

    for (var i = 1; mode is "kill" or "both" && i <= runs && !cancel.IsCancellationRequested; i++)
    {
        if (await measure.KillAsync(i, cancel.Token) is { } k)
        {
            kills.Add(k);
        }
    }

    for (var i = 1; mode is "graceful" or "both" && i <= gracefulRuns && !cancel.IsCancellationRequested; i++)
    {
        if (await measure.GracefulAsync(i, cancel.Token) is { } g)
        {
            graceful.Add(g);
        }
    }

    for (var i = 1; i <= stopRuns && !cancel.IsCancellationRequested; i++)
    {
        if (await measure.StopAsync(i, cancel.Token) is { } st)
        {
            stops.Add(st);
        }
    }

    var block = link == "grpc"
        ? Report.CrashHintBlock(preset, command, seed, machine, kills, stops, baseline, measure.Errors, DateTimeOffset.UtcNow)
        : Report.PresetBlock(preset, command, seed, machine, kills, graceful, baseline, measure.Errors, DateTimeOffset.UtcNow);
    Console.WriteLine();
    Console.WriteLine(block.Markdown);
    foreach (var error in measure.Errors)
    {
        Console.Error.WriteLine(error);
    }

    if (output.Length > 0 && !cancel.IsCancellationRequested)
    {
        Report.Write(output, block);
        Console.WriteLine($"wrote the {block.Key} block of {output}");
    }

    return measure.Errors.Count == 0 ? 0 : 1;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("cancelled; every started process was killed");
    return 130;
}
catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
{
    Console.Error.WriteLine($"failed: {ex.Message}");
    return 1;
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

// The baseline: the sample's listener in a process with no HA at all. Exits when stdin closes (the harness went away).
static async Task<int> ServeAsync(string address)
{
    using var reporter = new StdoutReporter();
    reporter.Ready("serve");
    var resource = new HttpServiceResource(Options.Create(new SampleOptions { HttpAddress = address }), reporter, NullLogger<HttpServiceResource>.Instance);
    var result = await resource.StartAsync(new ResourceContext("web", "serve", 1, CancellationToken.None), CancellationToken.None);
    if (!result.Succeeded)
    {
        await Console.Error.WriteLineAsync($"cannot serve {address}: {result}");
        return 1;
    }

    await Console.In.ReadToEndAsync();
    await resource.StopAsync(new ResourceContext("web", "serve", 1, CancellationToken.None), CancellationToken.None);
    return 0;
}
