using System.Diagnostics;
using System.Globalization;
using HaKit.Testing;

// Seed sweep: dotnet run --project tests/HaKit.Simulation -- --from <seed> --count <n> [--parallel <p>] [--fail-fast]
//             (every core by default; progress on stderr every few seconds; --fail-fast stops at the first violating seed)
// Replay:     dotnet run --project tests/HaKit.Simulation -- --seed <s> [--trace] [--setup <ArbiterSetup>] [--mix <mix>]
// Lease modes: add --arbiter etcd (seeds cycle through Etcd/EtcdThreeNodes and the mixes) or --arbiter witness (Witness set-up, mixes by seed).
// ipfail: --arbiter ipfail (TwoNodeIpfail set-up: ping targets, ipfail on, per-node target losses; mixes by seed).
// Replication: --arbiter replication (the real replication core between the two nodes; seeds cycle through the modes, the
//             two-node set-ups and the mixes: SimulationScenarios.ForReplicationSeed); --mode Durable|Received|Async pins the mode.
var from = 0;
var count = 100;
int? single = null;
var trace = false;
var parallel = Environment.ProcessorCount;
ArbiterSetup? setup = null;
string? mix = null;
var family = "twonode";
var failFast = false;
var edges = false;
var wire = WireDelivery.Sampled;
HaKit.Replication.ReplicationMode? mode = null;
long snapshotEvery = 0;
try
{
    for (var i = 0; i < args.Length; i++)
    {
        int Int(string name)
        {
            var text = Value();
            return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= 0
                ? n
                : throw new ArgumentException($"{name} {text}: expected a whole number >= 0");
        }

        string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--from":
                from = Int("--from");
                break;
            case "--count":
                count = Int("--count");
                break;
            case "--seed":
                single = Int("--seed");
                break;
            case "--trace":
                trace = true;
                break;
            case "--setup":
                var setupText = Value();
                setup = Enum.TryParse<ArbiterSetup>(setupText, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed)
                    ? parsed
                    : throw new ArgumentException($"--setup {setupText}: expected one of {string.Join(", ", Enum.GetNames<ArbiterSetup>())}");
                break;
            case "--mix":
                mix = Value();
                if (!SimulationScenarios.Mixes.Contains(mix))
                {
                    throw new ArgumentException($"--mix {mix}: expected one of {string.Join(", ", SimulationScenarios.Mixes)}");
                }

                break;
            case "--arbiter":
                var arbiterText = Value();
                family = arbiterText.ToLowerInvariant() is "twonode" or "etcd" or "witness" or "ipfail" or "replication"
                    ? arbiterText.ToLowerInvariant()
                    : throw new ArgumentException($"--arbiter {arbiterText}: expected twonode, etcd, witness, ipfail or replication");
                break;
            case "--mode":
                var modeText = Value();
                mode = Enum.TryParse<HaKit.Replication.ReplicationMode>(modeText, ignoreCase: true, out var parsedMode) && Enum.IsDefined(parsedMode)
                    ? parsedMode
                    : throw new ArgumentException($"--mode {modeText}: expected Durable, Received or Async");
                break;
            case "--snapshot-every":
                snapshotEvery = Math.Max(0, Int("--snapshot-every"));
                break;
            case "--parallel":
                parallel = Math.Max(1, Int("--parallel"));
                break;
            case "--edges":
                edges = true;
                break;
            case "--fail-fast":
                failFast = true;
                break;
            case "--wire":
                var wireText = Value();
                wire = wireText switch
                {
                    "full" => WireDelivery.Full,
                    "typed" => WireDelivery.Typed,
                    "sampled" => WireDelivery.Sampled,
                    _ => throw new ArgumentException($"--wire {wireText}: expected full, typed or sampled"),
                };
                break;
            case "--help" or "-h":
                Console.WriteLine("usage: --from <seed> --count <n> [--parallel <p>]   run n seeds (--setup/--mix pin every seed's scenario)");
                Console.WriteLine("       [--fail-fast]                                 stop at the first violating seed (default: run them all)");
                Console.WriteLine("       (p defaults to every core; progress goes to stderr every few seconds)");
                Console.WriteLine("       [--arbiter twonode|etcd|witness|ipfail|replication] the seeds' family (default twonode)");
                Console.WriteLine("       [--mode Durable|Received|Async]               replication family: pin the mode (default: by seed)");
                Console.WriteLine("       [--snapshot-every N]                          replication family: snapshots every N applied entries, transfers in chunks");
                Console.WriteLine("       [--wire full|typed|sampled]                   messages as bytes through the wire layer, as objects after it, or");
                Console.WriteLine("                                                     full for one seed in eight and typed otherwise (default; same traces)");
                Console.WriteLine("       --seed <s> [--trace]                         replay one seed (and print its trace)");
                Console.WriteLine("         [--setup <set-up>] [--mix <mix>]           ...in a pinned scenario (set-ups: " + string.Join(", ", Enum.GetNames<ArbiterSetup>()) + "; mixes: " + string.Join(", ", SimulationScenarios.Mixes) + ")");
                Console.WriteLine("         [--edges]                                  ...edge-biased (unpinned seeds are when seed mod 5 = 4)");
                return 0;
            default:
                Console.Error.WriteLine($"unknown argument '{args[i]}'; try --help");
                return 2;
        }
    }
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"{ex.Message}; try --help");
    return 2;
}

if (single is { } seed)
{
    var options = Scenario(seed);
    options.RecordTrace = trace;
    using var sim = new Simulation(options);
    var result = sim.Run();
    if (trace)
    {
        foreach (var line in result.Trace)
        {
            Console.WriteLine(line);
        }
    }

    Console.WriteLine($"seed {seed} ({result.Scenario}): {result.Steps} steps, {result.EndTime.TotalSeconds:0.0} s virtual, convergence bound {sim.Bounds.Convergence.TotalSeconds:0.000} s");
    foreach (var v in result.Violations)
    {
        Console.WriteLine($"VIOLATION {v}");
    }

    Console.WriteLine($"seeds=1 violations={result.Violations.Count}");
    return result.Passed ? 0 : 1;
}

var failures = new System.Collections.Concurrent.ConcurrentDictionary<int, SimulationResult>();
var cpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
var watch = Stopwatch.StartNew();
long steps = 0;
long nodeTicks = 0; // simulated time summed over every node of every seed
var done = 0;
using var progressStop = new CancellationTokenSource();
var progress = Task.Run(async () =>
{
    // At most one line every 5 s, on stderr (stdout stays the failing seeds and the summary).
    using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
    try
    {
        while (await timer.WaitForNextTickAsync(progressStop.Token).ConfigureAwait(false))
        {
            var d = Volatile.Read(ref done);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"progress: {d}/{count} seeds, {d / watch.Elapsed.TotalSeconds:0.0} seeds/s, {failures.Count} violations"));
        }
    }
    catch (OperationCanceledException)
    {
        // the sweep is over
    }
});
var stoppedEarly = false;
Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, (k, loop) =>
{
    var s = from + k;
    var options = Scenario(s);
    using var sim = new Simulation(options);
    var result = sim.Run();
    Interlocked.Add(ref steps, result.Steps);
    Interlocked.Add(ref nodeTicks, result.EndTime.Ticks * options.Cluster.Nodes.Count);
    Interlocked.Increment(ref done);
    if (!result.Passed)
    {
        failures[s] = result;
        if (failFast)
        {
            stoppedEarly = true;
            loop.Stop();
        }
    }
});
watch.Stop();
var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuAtStart;
await progressStop.CancelAsync().ConfigureAwait(false);
await progress.ConfigureAwait(false);
var pinned = (family == "twonode" ? "" : $" --arbiter {family}") + (setup is null ? "" : $" --setup {setup}") + (mix is null ? "" : $" --mix {mix}")
    + (edges && (setup is not null || mix is not null) ? " --edges" : "") + (mode is null ? "" : $" --mode {mode}")
    + (snapshotEvery > 0 ? $" --snapshot-every {snapshotEvery}" : "")
    + (wire switch { WireDelivery.Full => " --wire full", WireDelivery.Typed => " --wire typed", _ => "" });
foreach (var (s, result) in failures.OrderBy(f => f.Key))
{
    Console.WriteLine($"seed {s} ({result.Scenario}): {result.Violations[0]} | replay: dotnet run -c Release --project tests/HaKit.Simulation --{pinned} --seed {s} --trace");
}

var ran = Volatile.Read(ref done);
if (stoppedEarly)
{
    Console.WriteLine($"stopped at the first violation (--fail-fast): {ran} of {count} seeds ran; replay: dotnet run -c Release --project tests/HaKit.Simulation --{pinned} --seed {failures.Keys.Min()} --trace");
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{ran} seeds in {watch.Elapsed.TotalSeconds:0.0} s ({ran / watch.Elapsed.TotalSeconds:0.0} seeds/s, {steps / watch.Elapsed.TotalSeconds:0} steps/s, {parallel} threads)"));
// The sweep's CPU time on every thread (the JIT's and the GC's included, the process's start-up before it not): the simulator's
// own throughput, independent of how loaded the machine is and of how many cores the sweep used.
var nodeHours = TimeSpan.FromTicks(Volatile.Read(ref nodeTicks)).TotalHours;
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{nodeHours:0.0} simulated node-hours in {cpu.TotalSeconds:0.00} CPU-seconds: {nodeHours / cpu.TotalSeconds:0.00} node-hours per CPU-second ({ran / cpu.TotalSeconds:0} seeds per CPU-second)"));
Console.WriteLine($"seeds={ran} violations={failures.Count}");
return failures.IsEmpty ? 0 : 1;

SimulationOptions Scenario(int s)
{
    var options = AutoOrPinned(s);
    options.Wire = wire;
    return options;
}

SimulationOptions AutoOrPinned(int s)
{
    var auto = family switch
    {
        "etcd" => SimulationScenarios.ForLeaseSeed(s),
        "witness" => SimulationScenarios.ForWitnessSeed(s),
        "ipfail" => SimulationScenarios.ForIpfailSeed(s),
        "replication" => SimulationScenarios.ForReplicationSeed(s),
        _ => SimulationScenarios.ForSeed(s),
    };
    var autoMix = auto.Faults.Name.Split('/')[1]; // "<set-up>/<mix>" or "<set-up>/<mix>/edges"
    var autoSetup = family switch
    {
        "etcd" => SimulationScenarios.LeaseSetupOf(s),
        "witness" => ArbiterSetup.Witness,
        "ipfail" => ArbiterSetup.TwoNodeIpfail,
        "replication" => SimulationScenarios.ReplicationSetupOf(s),
        _ => SimulationScenarios.SetupOf(s),
    };
    if (family != "replication")
    {
        return setup is null && mix is null ? auto : SimulationScenarios.Create(s, setup ?? autoSetup, mix ?? autoMix, edges);
    }

    var replicated = setup is null && mix is null && mode is null
        ? auto
        : SimulationScenarios.WithReplication(SimulationScenarios.Create(s, setup ?? autoSetup, mix ?? autoMix, setup is null && mix is null ? SimulationScenarios.IsEdgeBiased(s) : edges),
            mode ?? SimulationScenarios.ReplicationModeOf(s));
    replicated.Replication!.SnapshotEvery = snapshotEvery;
    return replicated;
}
