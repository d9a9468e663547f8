using System.Diagnostics;
using System.Net;
using HaKit.Integration.Harness;

namespace HaKit.Takeover;

/// <summary>One SIGKILL run.</summary>
/// <param name="Run">1-based run number.</param>
/// <param name="DelayMs">The random delay before the signal.</param>
/// <param name="WallMs">Signal → the service answers from the other node (harness stopwatch).</param>
/// <param name="TakeoverMs">The new owner's own <c>takeover_ms</c> (decision → resources started).</param>
/// <param name="DetectMs">Signal → the new owner prints <c>peer node=a health=Dead</c> (UTC timestamps, ms resolution).</param>
/// <param name="Epoch">The epoch of the first answer from the new owner.</param>
/// <param name="HintMs">Signal → the new owner prints <c>hint node=a</c> (a crash hint qualified; Grpc link only), or null.</param>
/// <param name="Timeline">With <c>HAKIT_TAKEOVER_TRACE=1</c>: the first time b reached each traced point after the signal (ms after it,
/// one clock for both processes: CLOCK_MONOTONIC), or null when the trace is off.</param>
public sealed record KillRun(int Run, int DelayMs, double WallMs, double? TakeoverMs, double? DetectMs, ulong Epoch, double? HintMs = null,
    IReadOnlyDictionary<string, double>? Timeline = null);

/// <summary>One SIGSTOP run (the owner freezes with its sockets open: no reset, no refusal).</summary>
/// <param name="Run">1-based run number.</param>
/// <param name="DelayMs">The random delay before the signal.</param>
/// <param name="WallMs">Signal → b's <c>role ... to=Acquiring</c> (its takeover decision; stdout, 1 ms resolution).</param>
/// <param name="Hinted">Whether b printed a crash hint (it must not: nothing was reset).</param>
public sealed record StopRun(int Run, int DelayMs, double WallMs, bool Hinted);

/// <summary>One SIGTERM run.</summary>
/// <param name="Run">1-based run number.</param>
/// <param name="DelayMs">The random delay before the signal.</param>
/// <param name="WallMs">Signal → the service answers from the other node.</param>
/// <param name="GapMs">Last answer from the old owner → first answer from the new one (harness stopwatch).</param>
/// <param name="StopMs">Old owner: <c>role ... to=Stopping</c> → <c>http stopped</c>.</param>
/// <param name="StartMs">New owner: <c>role ... to=Starting</c> → <c>http listening</c>.</param>
/// <param name="StoppedToListeningMs">Old owner's <c>http stopped</c> → new owner's <c>http listening</c>.</param>
/// <param name="ExitCode">The old owner's exit code.</param>
public sealed record GracefulRun(int Run, int DelayMs, double WallMs, double GapMs, double StopMs, double StartMs, double StoppedToListeningMs, int ExitCode)
{
    /// <summary>The service gap beyond the resources' own stop and start.</summary>
    public double OverheadMs => GapMs - StopMs - StartMs;
}

/// <summary>The result of a soak.</summary>
/// <param name="Minutes">The soak length.</param>
/// <param name="RoleChanges">Role lines on either node after the initial election.</param>
/// <param name="FalseFailovers">Takeovers by b (<c>to=Active</c>) while a was running.</param>
/// <param name="SuspectOrDead">Peer lines reporting Suspect or Dead.</param>
/// <param name="LocalStalls">Stall warnings in the nodes' logs (pauses the detector discounted).</param>
/// <param name="Probes">HTTP probes sent.</param>
/// <param name="ProbeFailures">Probes without an answer from a.</param>
/// <param name="RoleLines">The role lines after the initial election, prefixed with the node.</param>
/// <param name="LongestStallMs">The longest stall a node reported of itself (0 when none).</param>
/// <param name="TranscriptPath">Where both nodes' full output was saved (for a soak with role changes or stalls), else null.</param>
/// <summary>A junk flood against an idle Lan pair (issue 13): what changed, what it cost.</summary>
public sealed record FloodResult(double Seconds, int RatePerNode, long Sent, long ForgedSent, long SendFailures, int PeerChanges, int RoleChanges, double CpuSecondsA, double CpuSecondsB,
    double IdleCpuSecondsA, double IdleCpuSecondsB, double IdleSeconds, long DroppedLoggedA, long DroppedLoggedB, IReadOnlyList<string> ChangeLines)
{
    /// <summary>CPU seconds per 100,000 junk datagrams received by one node, net of what the same node spent idle for as long.</summary>
    public double CpuPer100k => (((CpuSecondsA - (IdleCpuSecondsA * Seconds / Math.Max(IdleSeconds, 1e-9))) + (CpuSecondsB - (IdleCpuSecondsB * Seconds / Math.Max(IdleSeconds, 1e-9)))) / 2)
                                / Math.Max(Sent / 2.0 / 100_000.0, 1e-9);
}

/// <summary>The CPU time an idle pair costs (issue 13), after <see cref="SettleSeconds"/> of start-up (which cost <see cref="StartCpuSecondsA"/>, <see cref="StartCpuSecondsB"/>).</summary>
public sealed record IdleResult(double Seconds, double CpuSecondsA, double CpuSecondsB, double SettleSeconds = 0, double StartCpuSecondsA = 0, double StartCpuSecondsB = 0,
    IReadOnlyList<ThreadStats.Row>? ThreadsA = null, IReadOnlyList<ThreadStats.Row>? ThreadsB = null, int ThreadsStartedA = 0, int ThreadsEndedA = 0, int ThreadsStartedB = 0, int ThreadsEndedB = 0,
    double LoadAtEnd = 0)
{
    /// <summary>Percent of one core, the mean of the two nodes.</summary>
    public double PercentOfCore => (CpuSecondsA + CpuSecondsB) / 2 / Seconds * 100;
}

public sealed record SoakResult(double Minutes, int RoleChanges, int FalseFailovers, int SuspectOrDead, int LocalStalls, int Probes, int ProbeFailures, IReadOnlyList<string> RoleLines, int LongestStallMs = 0, string? TranscriptPath = null,
    double? WorstGapAtoBMs = null, double? WorstGapBtoAMs = null);

/// <summary>Runs the sample pair and measures takeovers.</summary>
public sealed class Measurements(string preset, Random random, TextWriter log, params string[] nodeArgs)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>The largest random delay before the signal (spans several heartbeat cycles of every preset but Wan).</summary>
    public static readonly int MaxDelayMs = 1000;

    /// <summary>Runs that failed (set-up or no takeover within 30 s), with the reason.</summary>
    public List<string> Errors { get; } = [];

    private PresetTiming Timing { get; } = PresetTiming.Of(preset);

    /// <summary>Extra node arguments made fresh for every pair (the Grpc link's TCP ports). <value>Default: none.</value></summary>
    public Func<IEnumerable<string>>? PerPairArgs { get; init; }

    /// <summary>How long both nodes run after b is past its initial dead time before a run's random delay starts: the age of the
    /// standby at the crash (a production standby has run for hours; a fresh process is still compiling). <value>Default: none.</value></summary>
    public TimeSpan ExtraSettle { get; init; }

    private SamplePair NewPair() => new(Timing.Name, [.. nodeArgs, .. PerPairArgs?.Invoke() ?? []]);

    /// <summary>Starts a (owner) and b, waits a random delay, SIGSTOPs a and times b's takeover decision (the dead time must pass).</summary>
    public async Task<StopRun?> StopAsync(int run, CancellationToken cancellationToken)
    {
        await using var pair = NewPair();
        try
        {
            var (a, b) = await StartAsync(pair, cancellationToken);
            var delay = random.Next(MaxDelayMs);
            await Task.Delay(delay, cancellationToken);

            var stoppedAt = DateTimeOffset.UtcNow;
            a.Pause();

            // A frozen a still holds the service's listener on loopback, so b cannot answer on it: what is timed is b's decision.
            var acquiring = await b.TryWaitForLineAsync(l => l.IsRoleTo("Acquiring"), AnswerTimeout, cancellationToken)
                ?? throw new TimeoutException($"b did not start a takeover within {AnswerTimeout.TotalSeconds} s of the SIGSTOP");
            var ms = (acquiring.Timestamp - stoppedAt).TotalMilliseconds;
            var hinted = b.Lines.Any(l => l.Kind == "hint");
            log.WriteLine($"stop {run}: delay {delay} ms, b decided to take over after {ms:0} ms, crash hint: {(hinted ? "YES" : "no")}");
            return new StopRun(run, delay, ms, hinted);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            Fail("stop", run, ex, pair);
            return null;
        }
    }

    /// <summary>Starts a (owner) and b, waits for a to answer, waits a random delay, SIGKILLs a and times b's first answer.</summary>
    public async Task<KillRun?> KillAsync(int run, CancellationToken cancellationToken)
    {
        await using var pair = NewPair();
        try
        {
            var (a, b) = await StartAsync(pair, cancellationToken);
            var delay = random.Next(MaxDelayMs);
            await Task.Delay(delay, cancellationToken);

            var killedAt = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            var killTicks = Stopwatch.GetTimestamp();
            a.Crash(); // SIGKILL to a alone, at once: a.Kill() (the whole tree) first froze a and walked /proc for 25–33 ms
            var (answer, ms) = await PollAsync(pair.Service, clock, x => x.Node == "b", null, cancellationToken)
                ?? throw new TimeoutException($"b did not answer within {AnswerTimeout.TotalSeconds} s of the SIGKILL");

            var active = await b.TryWaitForLineAsync(l => l.IsRoleTo("Active"), TimeSpan.FromSeconds(5), cancellationToken);
            var dead = b.Lines.FirstOrDefault(l => l.IsPeer && l["node"] == "a" && l["health"] == "Dead");
            var hint = b.Lines.FirstOrDefault(l => l.Kind == "hint" && l["node"] == "a");
            var timeline = TraceOn ? await TimelineAsync(b, killTicks, cancellationToken) : null;
            var result = new KillRun(run, delay, ms, active?.TakeoverMs, dead is null ? null : (dead.Timestamp - killedAt).TotalMilliseconds, answer.Epoch,
                hint is null ? null : (hint.Timestamp - killedAt).TotalMilliseconds, timeline);
            log.WriteLine($"kill {run}: delay {delay} ms, answered by b after {ms:0.0} ms (epoch {answer.Epoch}), takeover_ms={result.TakeoverMs?.ToString() ?? "-"}, " +
                          $"dead after {result.DetectMs?.ToString("0") ?? "-"} ms, hint after {result.HintMs?.ToString("0") ?? "-"} ms");
            if (timeline is not null)
            {
                log.WriteLine("    timeline (ms after SIGKILL): " + string.Join(", ", timeline.OrderBy(p => p.Value).Select(p => $"{p.Key} {p.Value:0.0}")));
            }

            if (hint is null)
            {
                // Why no hint: b's log of its grpc0 stream around the kill.
                foreach (var line in b.Stderr.Split('\n').Where(l => l.Contains("link grpc0", StringComparison.Ordinal)).TakeLast(4))
                {
                    log.WriteLine($"    b: {line}");
                }
            }
            return result;
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            Fail("kill", run, ex, pair);
            return null;
        }
    }

    /// <summary>Whether the nodes trace the takeover's timeline (<c>HAKIT_TAKEOVER_TRACE=1</c> in this process, which they inherit).</summary>
    public static bool TraceOn => Environment.GetEnvironmentVariable("HAKIT_TAKEOVER_TRACE") == "1";

    /// <summary>
    /// b's trace after the signal: <c>hakit-trace &lt;point&gt; &lt;timestamp&gt;</c> lines on its stderr (written half a second after
    /// they were marked), the first of each point after <paramref name="killTicks"/>, in ms after it. The benchmark's own
    /// <c>poller.answer</c> is not in it (that is the run's answer time).
    /// </summary>
    private static async Task<IReadOnlyDictionary<string, double>> TimelineAsync(SampleNode b, long killTicks, CancellationToken cancellationToken)
    {
        var wait = Stopwatch.StartNew();
        while (!b.Stderr.Contains("hakit-trace http.answered", StringComparison.Ordinal) && wait.Elapsed < TimeSpan.FromSeconds(3))
        {
            await Task.Delay(50, cancellationToken);
        }

        await Task.Delay(100, cancellationToken); // a later flush of the same burst
        var timeline = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in b.Stderr.Split('\n'))
        {
            var parts = line.Trim().Split(' ');
            if (parts is ["hakit-trace", var point, var text] && long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ticks)
                && ticks >= killTicks && !timeline.ContainsKey(point))
            {
                timeline[point] = (ticks - killTicks) * 1000.0 / Stopwatch.Frequency;
            }
        }

        return timeline;
    }

    /// <summary>Starts a (owner) and b, waits, SIGTERMs a and times the handover while polling the service.</summary>
    public async Task<GracefulRun?> GracefulAsync(int run, CancellationToken cancellationToken)
    {
        await using var pair = NewPair();
        try
        {
            var (a, b) = await StartAsync(pair, cancellationToken);
            var delay = random.Next(MaxDelayMs);
            await Task.Delay(delay, cancellationToken);

            var lastA = double.NaN;
            var clock = Stopwatch.StartNew();
            a.Terminate();
            var (answer, ms) = await PollAsync(pair.Service, clock, x => x.Node == "b", (x, at) =>
                {
                    if (x.Node == "a")
                    {
                        lastA = at;
                    }
                }, cancellationToken)
                ?? throw new TimeoutException($"b did not answer within {AnswerTimeout.TotalSeconds} s of the SIGTERM");
            var exitCode = await a.WaitForExitAsync(TimeSpan.FromSeconds(30), cancellationToken)
                ?? throw new TimeoutException("a did not exit within 30 s of the SIGTERM");

            var stopping = a.Lines.First(l => l.IsRoleTo("Stopping"));
            var stopped = a.Lines.First(l => l.IsHttpStopped);
            var starting = b.Lines.First(l => l.IsRoleTo("Starting"));
            var listening = b.Lines.First(l => l.IsHttpListening);
            if (double.IsNaN(lastA))
            {
                lastA = 0; // a stopped answering before the first poll after the signal: the gap starts at the signal
            }

            var result = new GracefulRun(run, delay, ms, ms - lastA,
                (stopped.Timestamp - stopping.Timestamp).TotalMilliseconds,
                (listening.Timestamp - starting.Timestamp).TotalMilliseconds,
                (listening.Timestamp - stopped.Timestamp).TotalMilliseconds,
                exitCode);
            log.WriteLine($"graceful {run}: delay {delay} ms, answered by b after {ms:0.0} ms (epoch {answer.Epoch}), gap {result.GapMs:0.0} ms, " +
                          $"stop {result.StopMs:0} + start {result.StartMs:0} ms, stopped->listening {result.StoppedToListeningMs:0} ms, exit {exitCode}");
            if (stopped.Timestamp > listening.Timestamp)
            {
                throw new InvalidOperationException($"both served: a's http stopped ({stopped.Timestamp:O}) is after b's http listening ({listening.Timestamp:O})");
            }

            return result;
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            Fail("graceful", run, ex, pair);
            return null;
        }
    }

    /// <summary>The no-HA baseline: start a fresh process that only binds the sample's listener; time until it answers.</summary>
    public async Task<double?> BaselineAsync(int run, CancellationToken cancellationToken)
    {
        var service = new IPEndPoint(IPAddress.Loopback, FreePorts.Tcp());
        var clock = Stopwatch.StartNew();
        await using var server = SampleNode.StartDll("serve", typeof(Measurements).Assembly.Location, ["--serve", service.ToString()]);
        var answered = await PollAsync(service, clock, _ => true, null, cancellationToken);
        if (answered is not { } x)
        {
            Errors.Add($"baseline {run}: the bare listener did not answer within {AnswerTimeout.TotalSeconds} s\n{server.Transcript()}");
            return null;
        }

        log.WriteLine($"baseline {run}: fresh process answered after {x.Ms:0.0} ms");
        return x.Ms;
    }

    /// <summary>Both nodes for <paramref name="minutes"/>; counts role changes after the initial election.</summary>
    public async Task<SoakResult> SoakAsync(double minutes, CancellationToken cancellationToken)
    {
        await using var pair = NewPair();
        var (a, b) = await StartAsync(pair, cancellationToken);
        var roleLinesA = a.Lines.Count(l => l.IsRole);
        var roleLinesB = b.Lines.Count(l => l.IsRole);
        using var gaps = new GapMeter(pair.HeartbeatPortA, pair.HeartbeatPortB);
        var end = Stopwatch.StartNew();
        int probes = 0, failures = 0;
        var nextReport = TimeSpan.FromMinutes(1);
        while (end.Elapsed < TimeSpan.FromMinutes(minutes) && !cancellationToken.IsCancellationRequested)
        {
            probes++;
            if (await HttpProbe.AskAsync(pair.Service, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), cancellationToken) is not { Node: "a" })
            {
                failures++;
            }

            if (end.Elapsed >= nextReport)
            {
                log.WriteLine($"soak: {end.Elapsed.TotalMinutes:0} min, role changes so far {a.Lines.Count(l => l.IsRole) - roleLinesA + b.Lines.Count(l => l.IsRole) - roleLinesB}, worst heartbeat gap a->b {gaps.WorstAtoBMs:0.0} ms, b->a {gaps.WorstBtoAMs:0.0} ms (kernel arrival times; {gaps.UnstampedReads} datagrams timed when read)");
                nextReport += TimeSpan.FromMinutes(1);
            }

            try
            {
                await Task.Delay(250, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        var roleChanges = a.Lines.Count(l => l.IsRole) - roleLinesA + b.Lines.Count(l => l.IsRole) - roleLinesB;
        // a never stops: any group that b takes (or starts taking) is a false failover.
        var falseFailovers = b.Lines.Count(l => l.IsRoleTo("Acquiring"));
        var suspect = a.Lines.Concat(b.Lines).Count(l => l.IsPeer && l["health"] is "Suspect" or "Dead");
        var stalls = CountOccurrences(a.Stderr, "was stalled for") + CountOccurrences(b.Stderr, "was stalled for");
        if (a.HasExited || b.HasExited)
        {
            throw new InvalidOperationException("a node exited during the soak\n" + pair.Transcripts());
        }

        var roleLines = a.Lines.Where(l => l.IsRole).Skip(roleLinesA).Select(l => $"a: {l.Raw}")
            .Concat(b.Lines.Where(l => l.IsRole).Skip(roleLinesB).Select(l => $"b: {l.Raw}"))
            .ToList();
        var longest = System.Text.RegularExpressions.Regex.Matches(a.Stderr + b.Stderr, @"was stalled for (\d+) ms")
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            .DefaultIfEmpty(0)
            .Max();
        string? transcript = null;
        if (roleChanges > 0 || stalls > 0)
        {
            transcript = Path.Combine(Path.GetTempPath(), $"hakit-soak-{DateTime.UtcNow:yyyyMMdd-HHmmss}.log");
            File.WriteAllText(transcript, pair.Transcripts());
        }

        return new SoakResult(end.Elapsed.TotalMinutes, roleChanges, falseFailovers, suspect, stalls, probes, failures, roleLines, longest, transcript,
            gaps.WorstAtoBMs, gaps.WorstBtoAMs);
    }

    /// <summary>Forged datagrams a second from each node's own address and port to the other (with a raw socket, when allowed).</summary>
    public const int ForgedPerSecond = 1_000;

    /// <summary>
    /// Starts the pair (a owns), measures both nodes' idle CPU for <paramref name="idleSeconds"/>, then floods both heartbeat ports with
    /// <paramref name="ratePerNode"/> junk datagrams a second for <paramref name="seconds"/> and counts peer-state and role changes.
    /// </summary>
    public async Task<FloodResult> FloodAsync(double seconds, int ratePerNode, double idleSeconds, CancellationToken cancellationToken)
    {
        await using var pair = NewPair();
        var (a, b) = await StartAsync(pair, cancellationToken);
        var idle = Stopwatch.StartNew();
        var idleA0 = ProcessCpu.Read(a.Pid) ?? TimeSpan.Zero;
        var idleB0 = ProcessCpu.Read(b.Pid) ?? TimeSpan.Zero;
        await Task.Delay(TimeSpan.FromSeconds(idleSeconds), cancellationToken);
        var idleA = (ProcessCpu.Read(a.Pid) ?? TimeSpan.Zero) - idleA0;
        var idleB = (ProcessCpu.Read(b.Pid) ?? TimeSpan.Zero) - idleB0;
        var idleElapsed = idle.Elapsed.TotalSeconds;

        var peerA = a.Lines.Count(l => l.IsPeer);
        var peerB = b.Lines.Count(l => l.IsPeer);
        var roleA = a.Lines.Count(l => l.IsRole);
        var roleB = b.Lines.Count(l => l.IsRole);
        await using var flood = new Flooder(
            [(new IPEndPoint(IPAddress.Loopback, pair.HeartbeatPortA), "b"), (new IPEndPoint(IPAddress.Loopback, pair.HeartbeatPortB), "a")],
            "twonode", ratePerNode, TimeSpan.FromSeconds(seconds),
            forged: Flooder.CanForge() ? ([new IPEndPoint(IPAddress.Loopback, pair.HeartbeatPortB), new IPEndPoint(IPAddress.Loopback, pair.HeartbeatPortA)], ForgedPerSecond) : null);
        var cpuA0 = ProcessCpu.Read(a.Pid) ?? TimeSpan.Zero;
        var cpuB0 = ProcessCpu.Read(b.Pid) ?? TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        flood.Start();
        var nextReport = TimeSpan.FromSeconds(5);
        while (!flood.Completion.IsCompleted)
        {
            await Task.WhenAny(flood.Completion, Task.Delay(500, cancellationToken));
            if (clock.Elapsed >= nextReport)
            {
                log.WriteLine($"flood: {clock.Elapsed.TotalSeconds:0} s, sent {flood.Sent}, peer changes {a.Lines.Count(l => l.IsPeer) - peerA + b.Lines.Count(l => l.IsPeer) - peerB}");
                nextReport += TimeSpan.FromSeconds(5);
            }
        }

        var elapsed = clock.Elapsed.TotalSeconds;
        var cpuA = (ProcessCpu.Read(a.Pid) ?? TimeSpan.Zero) - cpuA0;
        var cpuB = (ProcessCpu.Read(b.Pid) ?? TimeSpan.Zero) - cpuB0;
        await Task.Delay(TimeSpan.FromSeconds(11), cancellationToken); // one drop summary interval: the last counts reach the log
        var peerLines = a.Lines.Where(l => l.IsPeer).Skip(peerA).Select(l => $"a: {l.Raw}")
            .Concat(b.Lines.Where(l => l.IsPeer).Skip(peerB).Select(l => $"b: {l.Raw}"))
            .Concat(a.Lines.Where(l => l.IsRole).Skip(roleA).Select(l => $"a: {l.Raw}"))
            .Concat(b.Lines.Where(l => l.IsRole).Skip(roleB).Select(l => $"b: {l.Raw}")).ToList();
        if (a.HasExited || b.HasExited)
        {
            throw new InvalidOperationException("a node exited during the flood\n" + pair.Transcripts());
        }

        return new FloodResult(elapsed, ratePerNode, flood.Sent, flood.ForgedSent, flood.Failed,
            a.Lines.Count(l => l.IsPeer) - peerA + b.Lines.Count(l => l.IsPeer) - peerB,
            a.Lines.Count(l => l.IsRole) - roleA + b.Lines.Count(l => l.IsRole) - roleB,
            cpuA.TotalSeconds, cpuB.TotalSeconds, idleA.TotalSeconds, idleB.TotalSeconds, idleElapsed,
            DroppedLogged(a.Stderr), DroppedLogged(b.Stderr), peerLines);
    }

    /// <summary>Starts the pair (a owns), lets it settle, then reads both nodes' CPU time over <paramref name="seconds"/>.</summary>
    public async Task<IdleResult> IdleAsync(double seconds, CancellationToken cancellationToken, double settleSeconds = 30)
    {
        await using var pair = NewPair();
        var (a, b) = await StartAsync(pair, cancellationToken);
        var s0a = ProcessCpu.Read(a.Pid) ?? TimeSpan.Zero;
        var s0b = ProcessCpu.Read(b.Pid) ?? TimeSpan.Zero;
        // Start-up work (tiered re-compilation of what the start ran, the warm-up) goes on for tens of seconds: idle is what follows.
        await Task.Delay(TimeSpan.FromSeconds(settleSeconds), cancellationToken);
        var a0 = ProcessCpu.Read(a.Pid) ?? throw new InvalidOperationException("cannot read /proc/<pid>/stat");
        var b0 = ProcessCpu.Read(b.Pid) ?? throw new InvalidOperationException("cannot read /proc/<pid>/stat");
        var ta0 = ThreadStats.Read(a.Pid);
        var tb0 = ThreadStats.Read(b.Pid);
        var clock = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken);
        var elapsed = clock.Elapsed.TotalSeconds;
        var ta1 = ThreadStats.Read(a.Pid);
        var tb1 = ThreadStats.Read(b.Pid);
        var a1 = ProcessCpu.Read(a.Pid) ?? throw new InvalidOperationException("node a is gone");
        var b1 = ProcessCpu.Read(b.Pid) ?? throw new InvalidOperationException("node b is gone");
        var (rowsA, startedA, endedA) = ThreadStats.Compare(ta0, ta1, elapsed);
        var (rowsB, startedB, endedB) = ThreadStats.Compare(tb0, tb1, elapsed);
        return new IdleResult(elapsed, (a1 - a0).TotalSeconds, (b1 - b0).TotalSeconds, settleSeconds, (a0 - s0a).TotalSeconds, (b0 - s0b).TotalSeconds,
            rowsA, rowsB, startedA, endedA, startedB, endedB, Report.LoadAverage());
    }

    /// <summary>The datagrams a node's drop summaries report (<c>Link lan0: datagrams dropped (Reason) repeated N times ...</c>; the first of each run is not in them).</summary>
    private static long DroppedLogged(string stderr) =>
        System.Text.RegularExpressions.Regex.Matches(stderr, @"datagrams dropped \((\w+)\) repeated (\d+) times")
            .Sum(m => long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));

    private static int CountOccurrences(string text, string what)
    {
        var count = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private async Task<(SampleNode A, SampleNode B)> StartAsync(SamplePair pair, CancellationToken cancellationToken)
    {
        // b must be past its own initial dead time and hearing a, so that the kill measures detection by dead time.
        var (a, b) = await pair.StartWithOwnerAAsync(StartTimeout, Timing.InitialDeadTime + TimeSpan.FromMilliseconds(300) + ExtraSettle);
        cancellationToken.ThrowIfCancellationRequested();
        var first = await HttpProbe.AskAsync(pair.Service, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2), cancellationToken);
        if (first is not { Node: "a", Epoch: 1 } || b.Lines.Any(l => l.IsHttpListening || l.IsRole))
        {
            var exited = string.Join(", ", new[] { a, b }.Where(n => n.HasExited).Select(n => $"{n.Name} had exited with code {n.ExitCode} before any signal from the harness"));
            throw new InvalidOperationException($"expected exactly a to serve with epoch 1 before the signal, got '{first?.ToString() ?? "no answer"}'" +
                                                (exited.Length > 0 ? $" ({exited})" : ""));
        }

        return (a, b);
    }

    private static async Task<(ServiceAnswer Answer, double Ms)?> PollAsync(IPEndPoint service, Stopwatch clock, Func<ServiceAnswer, bool> accept,
        Action<ServiceAnswer, double>? seen, CancellationToken cancellationToken)
    {
        while (clock.Elapsed < AnswerTimeout)
        {
            if (await HttpProbe.AskAsync(service, ConnectTimeout, ReadTimeout, cancellationToken) is { } answer)
            {
                var at = clock.Elapsed.TotalMilliseconds;
                seen?.Invoke(answer, at);
                if (accept(answer))
                {
                    return (answer, at);
                }
            }

            await Task.Delay(1, cancellationToken);
        }

        return null;
    }

    private void Fail(string mode, int run, Exception ex, SamplePair pair)
    {
        var message = $"{mode} {run}: {ex.Message.Split('\n')[0]}";
        log.WriteLine($"FAILED {message}");
        Errors.Add(message + "\n" + pair.Transcripts());
    }
}
