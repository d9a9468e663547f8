using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using HaKit.Integration.Harness;

namespace HaKit.Takeover;

/// <summary>Writes the takeover section of <c>docs/benchmarks.md</c>: one block per preset (kept across runs of other presets) and one for the soak.</summary>
public static partial class Report
{
    private const string Begin = "<!-- takeover:begin -->";
    private const string End = "<!-- takeover:end -->";
    private static readonly string[] BlockOrder = ["preset=Lan", "preset=Fast", "preset=Wan", "grpc=Lan", "grpc=Fast", "soak"];

    [GeneratedRegex(@"<!-- takeover:(?<key>[\w=]+):begin -->.*?<!-- takeover:\k<key>:end -->", RegexOptions.Singleline)]
    private static partial Regex Block();

    /// <summary>The machine, for the report and the console.</summary>
    public static string Machine()
    {
        var cpu = TryRead("/proc/cpuinfo")?.Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        var os = TryRead("/etc/os-release")?.Split('\n').FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"');
        var load = TryRead("/proc/loadavg")?.Split(' ')[0];
        return $"{Environment.ProcessorCount} cores{(cpu is null ? "" : $" ({cpu})")}, {os ?? RuntimeInformation.OSDescription} " +
               $"(kernel {Environment.OSVersion.Version}), {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.ProcessArchitecture}" +
               (load is null ? "" : $"; 1-minute load average at the start: {load}");
    }

    /// <summary>The 1-minute load average now (0 when unknown).</summary>
    public static double LoadAverage() =>
        double.TryParse(TryRead("/proc/loadavg")?.Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var load) ? load : 0;

    /// <summary>The block for one preset's kill/graceful runs and the baseline.</summary>
    public static (string Key, string Markdown) PresetBlock(string preset, string command, int seed, string machine, IReadOnlyList<KillRun> kills, IReadOnlyList<GracefulRun> graceful,
        IReadOnlyList<double> baseline, IReadOnlyList<string> errors, DateTimeOffset when)
    {
        var timing = PresetTiming.Of(preset);
        var (medianTarget, p99Target) = timing.Name switch
        {
            "Lan" => (1000.0, 1500.0),
            "Fast" => (100.0, 150.0),
            _ => (double.NaN, double.NaN),
        };
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"### `{timing.Name}` preset (interval {timing.Interval.TotalMilliseconds:0} ms, dead time {timing.DeadTime.TotalMilliseconds:0} ms)\n\n");
        md.Append(CultureInfo.InvariantCulture, $"Measured {when:yyyy-MM-dd HH:mm} UTC, random seed {seed}, from the repository root:\n\n```\n{command}\n```\n\n");
        md.Append("Machine: ").Append(machine).Append(".\n\n");
        md.Append("| measurement (ms) | runs | min | median | p99 | max | target | met |\n");
        md.Append("|---|---:|---:|---:|---:|---:|---|---|\n");
        Row(md, "SIGKILL → the service answers from the other node", kills.Select(k => k.WallMs), medianTarget, p99Target);
        Row(md, "… the new owner's own `takeover_ms` (its decision → group reported Active)", kills.Where(k => k.TakeoverMs is not null).Select(k => k.TakeoverMs!.Value));
        Row(md, "… SIGKILL → `peer node=a health=Dead` (stdout, 1 ms resolution)", kills.Where(k => k.DetectMs is not null).Select(k => k.DetectMs!.Value));
        Row(md, "SIGTERM → the service answers from the other node", graceful.Select(g => g.WallMs));
        Row(md, "… service gap: last answer from the old owner → first from the new", graceful.Select(g => g.GapMs));
        Row(md, "… resources' own stop + start (stdout: `to=Stopping` → `http stopped`, `to=Starting` → `http listening`)", graceful.Select(g => g.StopMs + g.StartMs));
        Row(md, "… service gap beyond the resources' stop + start", graceful.Select(g => g.OverheadMs), 50, 50);
        Row(md, "… old owner's `http stopped` → new owner's `http listening` (stdout)", graceful.Select(g => g.StoppedToListeningMs));
        Row(md, "baseline, no HA: start a fresh process that binds the same listener → it answers", baseline);
        md.Append('\n');

        var kill = Stats.Of(kills.Select(k => k.WallMs));
        var gracefulWall = Stats.Of(graceful.Select(g => g.WallMs));
        var baseStats = Stats.Of(baseline);
        if (kill is not null)
        {
            md.Append(
                $"Reading it: after a crash the service is back from the other node in {Stats.Ms(kill.Median)} ms at the median ({Stats.Ms(kill.P99)} ms p99), " +
                $"about {3600 / kill.Median:0}× sooner than keepalived with its default timing (≈ 3.6 s) and {30000 / kill.Median:0}× sooner than a Heartbeat " +
                "cluster with the common `deadtime 30` (≥ 30 s)");
            if (Stats.Of(kills.Where(k => k.DetectMs is not null).Select(k => k.DetectMs!.Value)) is { } detect)
            {
                md.Append(
                    $". Detection is most of it: b declares a dead {Stats.Ms(detect.Median)} ms after the SIGKILL at the median (dead time " +
                    $"{timing.DeadTime.TotalMilliseconds:0} ms after the last heartbeat, which left a up to one interval of {timing.Interval.TotalMilliseconds:0} ms " +
                    $"earlier); the remaining ≈ {Stats.Ms(Math.Max(0, kill.Median - detect.Median))} ms are the takeover (epoch persisted, listener bound) and the first request");
            }

            md.Append('.');
            if (baseStats is not null)
            {
                md.Append(
                    $" For comparison, restarting the service instead (a fresh process binding the same listener, no HA) takes {Stats.Ms(baseStats.Median)} ms at the median " +
                    "before anything answers, and something must first notice the crash and start it.");
            }

            md.Append("\n\n");
        }

        if (gracefulWall is not null)
        {
            var over = Stats.Of(graceful.Select(g => g.OverheadMs))!;
            md.Append(
                $"A graceful handover (SIGTERM) leaves the service unanswered for {Stats.Ms(Stats.Of(graceful.Select(g => g.GapMs))!.Median)} ms at the median, of which " +
                $"{Stats.Ms(over.Median)} ms (p99 {Stats.Ms(over.P99)} ms) is beyond the listener's own stop and start: the release message, the new owner's epoch write and " +
                "the harness's 1 ms polling. Stdout shows the old owner's `http stopped` before the new owner's `http listening` in every run " +
                "(a run where it does not counts as failed).\n");
        }

        md.Append('\n');
        md.Append(errors.Count == 0
            ? "Every run completed.\n"
            : $"{errors.Count} run(s) failed and are not in the table: {string.Join("; ", errors.Select(e => e.Split('\n')[0]))}.\n");
        md.Append("\n<details><summary>Per-run values</summary>\n\n");
        if (kills.Count > 0)
        {
            md.Append("SIGKILL runs (delay before the signal ms / answer ms / takeover_ms / dead after ms / epoch):\n\n");
            md.Append(string.Join(", ", kills.Select(k => $"{k.DelayMs}/{k.WallMs:0.0}/{k.TakeoverMs?.ToString(CultureInfo.InvariantCulture) ?? "-"}/{k.DetectMs?.ToString("0", CultureInfo.InvariantCulture) ?? "-"}/{k.Epoch}"))).Append("\n\n");
        }

        if (graceful.Count > 0)
        {
            md.Append("SIGTERM runs (delay / answer ms / gap ms / stop ms / start ms / stopped→listening ms / exit code):\n\n");
            md.Append(string.Join(", ", graceful.Select(g => $"{g.DelayMs}/{g.WallMs:0.0}/{g.GapMs:0.0}/{g.StopMs:0}/{g.StartMs:0}/{g.StoppedToListeningMs:0}/{g.ExitCode}"))).Append("\n\n");
        }

        if (baseline.Count > 0)
        {
            md.Append("Baseline runs (ms): ").Append(string.Join(", ", baseline.Select(b => b.ToString("0.0", CultureInfo.InvariantCulture)))).Append("\n\n");
        }

        md.Append("</details>\n");
        return ($"preset={timing.Name}", md.ToString());
    }

    /// <summary>The block for the Grpc link scenario: SIGKILL (crash hint) and SIGSTOP (no reset) runs, and the baseline.</summary>
    public static (string Key, string Markdown) CrashHintBlock(string preset, string command, int seed, string machine, IReadOnlyList<KillRun> kills, IReadOnlyList<StopRun> stops,
        IReadOnlyList<double> baseline, IReadOnlyList<string> errors, DateTimeOffset when)
    {
        var timing = PresetTiming.Of(preset);
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"### `{timing.Name}` preset with a Grpc link next to the UDP link: the crash hint (interval {timing.Interval.TotalMilliseconds:0} ms, dead time {timing.DeadTime.TotalMilliseconds:0} ms)\n\n");
        md.Append(CultureInfo.InvariantCulture, $"Measured {when:yyyy-MM-dd HH:mm} UTC, random seed {seed}, from the repository root:\n\n```\n{command}\n```\n\n");
        md.Append("Machine: ").Append(machine).Append(".\n\n");
        md.Append("| measurement (ms) | runs | min | median | p99 | max | target | met |\n");
        md.Append("|---|---:|---:|---:|---:|---:|---|---|\n");
        Row(md, "SIGKILL → the service answers from the other node", kills.Select(k => k.WallMs), 30, 60);
        Row(md, "… the new owner's own `takeover_ms` (its decision → group reported Active)", kills.Where(k => k.TakeoverMs is not null).Select(k => k.TakeoverMs!.Value));
        Row(md, "… SIGKILL → `hint node=a` on b's stdout (the crash hint qualified)", kills.Where(k => k.HintMs is not null).Select(k => k.HintMs!.Value));
        Row(md, "… SIGKILL → `peer node=a health=Dead` on b's stdout (dead time)", kills.Where(k => k.DetectMs is not null).Select(k => k.DetectMs!.Value));
        Row(md, "SIGSTOP (no reset: a host that lost power) → b decides to take over (`role … to=Acquiring`; the frozen a keeps the loopback listener, so b cannot answer on it)", stops.Select(s => s.WallMs));
        Row(md, "baseline, no HA: start a fresh process that binds the same listener → it answers", baseline);
        md.Append('\n');
        if (kills.Count > 0)
        {
            md.Append(CultureInfo.InvariantCulture, $"SIGKILL runs where the crash hint qualified on b: {kills.Count(k => k.HintMs is not null)} of {kills.Count}. ");
            var window = Math.Clamp(timing.Interval.TotalMilliseconds / 20, 2, 250);
            md.Append("With the hint b sends a probe on the UDP link, which a live peer answers at once; the hint counts when nothing answered within the probe window ");
            md.Append(CultureInfo.InvariantCulture, $"(`Timing:CrashHintWindow`, unset: Interval / 20 = {window:0} ms here), so `hint after` is the time until b saw a's stream end and its reconnect refused, plus that window.\n\n");
        }

        if (stops.Count > 0)
        {
            var floor = (timing.DeadTime - timing.Interval).TotalMilliseconds;
            md.Append(CultureInfo.InvariantCulture, $"SIGSTOP runs with a crash hint on b: {stops.Count(s => s.Hinted)} of {stops.Count} (a frozen process resets nothing: it must be 0). ");
            md.Append(CultureInfo.InvariantCulture, $"Shortest SIGSTOP → decision: {stops.Min(s => s.WallMs):0} ms; a takeover that waited for the dead time cannot come sooner than dead time − one interval = {floor:0} ms after the signal: {(stops.All(s => s.WallMs >= floor) ? "it never did" : "SOME RUN WAS SOONER")}.\n\n");
        }

        TimelineTable(md, kills);
        md.Append(errors.Count == 0
            ? "Every run completed.\n"
            : $"{errors.Count} run(s) failed and are not in the table: {string.Join("; ", errors.Select(e => e.Split('\n')[0]))}.\n");
        md.Append("\n<details><summary>Per-run values</summary>\n\n");
        if (kills.Count > 0)
        {
            md.Append("SIGKILL runs (delay before the signal ms / answer ms / takeover_ms / hint after ms / dead after ms / epoch):\n\n");
            md.Append(string.Join(", ", kills.Select(k => $"{k.DelayMs}/{k.WallMs:0.0}/{k.TakeoverMs?.ToString(CultureInfo.InvariantCulture) ?? "-"}/{k.HintMs?.ToString("0", CultureInfo.InvariantCulture) ?? "-"}/{k.DetectMs?.ToString("0", CultureInfo.InvariantCulture) ?? "-"}/{k.Epoch}"))).Append("\n\n");
        }

        if (stops.Count > 0)
        {
            md.Append("SIGSTOP runs (delay / decision ms / hinted): ").Append(string.Join(", ", stops.Select(s => $"{s.DelayMs}/{s.WallMs:0.0}/{(s.Hinted ? "yes" : "no")}"))).Append("\n\n");
        }

        if (baseline.Count > 0)
        {
            md.Append("Baseline runs (ms): ").Append(string.Join(", ", baseline.Select(b => b.ToString("0.0", CultureInfo.InvariantCulture)))).Append("\n\n");
        }

        md.Append("</details>\n");
        return ($"grpc={timing.Name}", md.ToString());
    }

    /// <summary>The block for a soak.</summary>
    public static (string Key, string Markdown) SoakBlock(string command, string machine, SoakResult soak, string load, DateTimeOffset when) =>
        ("soak", new StringBuilder()
            .Append("### Soak: false failovers with the `Fast` preset on a busy machine\n\n")
            .Append(CultureInfo.InvariantCulture, $"Measured {when:yyyy-MM-dd HH:mm} UTC while {load}:\n\n```\n{command}\n```\n\n")
            .Append("Machine: ").Append(machine).Append(".\n\n")
            .Append(
                $"Over {soak.Minutes:0.0} minutes: `role_changes={soak.RoleChanges} false_failovers={soak.FalseFailovers}`; peer lines reporting Suspect or Dead: {soak.SuspectOrDead}; " +
                $"stalls of the node itself that the detector discounted (log warnings): {soak.LocalStalls} (longest {soak.LongestStallMs} ms); HTTP probes {soak.Probes}, without an answer from a: {soak.ProbeFailures}. " +
                (soak.WorstGapAtoBMs is { } ab ? $"Worst heartbeat gap on the link (a raw socket watching loopback, timed by the kernel's arrival stamps): a → b {ab:0.0} ms, b → a {soak.WorstGapBtoAMs:0.0} ms.\n" : "Heartbeat gaps not measured (no raw socket).\n"))
            .Append(soak.RoleLines.Count == 0 ? "" : "\nRole lines after the initial election:\n\n```\n" + string.Join('\n', soak.RoleLines) + "\n```\n")
            .ToString());

    /// <summary>The flood block: peer-state and role changes during a junk flood, and its CPU cost.</summary>
    public static (string Key, string Markdown) FloodBlock(string preset, string command, string machine, FloodResult flood, DateTimeOffset when) =>
        ("flood", new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"### Junk flood: {flood.RatePerNode:N0} datagrams/s to each node's heartbeat port (`{preset}` preset)\n\n")
            .Append(CultureInfo.InvariantCulture, $"Measured {when:yyyy-MM-dd HH:mm} UTC, flood sender in the benchmark process on the same machine (half random bytes, half envelope-shaped junk with the right cluster, a known sender and a random mac), from another local port:\n\n```\n{command}\n```\n\n")
            .Append("Machine: ").Append(machine).Append(".\n\n")
            .Append(CultureInfo.InvariantCulture,
                $"Over {flood.Seconds:0.0} s, {flood.Sent:N0} junk datagrams sent from other local ports (**{flood.Sent / flood.Seconds / 2:N0} per second per node achieved**) and {flood.ForgedSent:N0} forged from each node's own address and port to the other (raw socket, {Measurements.ForgedPerSecond:N0}/s per node; 0 when not root) ({flood.SendFailures} sends failed): `peer_changes={flood.PeerChanges} role_changes={flood.RoleChanges}`. ")
            .Append(CultureInfo.InvariantCulture,
                $"Process CPU time during the flood: a {flood.CpuSecondsA:0.00} s, b {flood.CpuSecondsB:0.00} s (idle before: a {flood.IdleCpuSecondsA:0.00} s, b {flood.IdleCpuSecondsB:0.00} s in {flood.IdleSeconds:0} s); ")
            .Append(CultureInfo.InvariantCulture, $"**{flood.CpuPer100k * 1000:0.0} ms of CPU per 100,000 junk datagrams per node** (net of idle). Drops the nodes logged (first line and summaries): a {flood.DroppedLoggedA:N0}, b {flood.DroppedLoggedB:N0}.\n")
            .Append(flood.ChangeLines.Count == 0 ? "" : "\nChanges during the flood:\n\n```\n" + string.Join('\n', flood.ChangeLines) + "\n```\n")
            .ToString());

    /// <summary>The idle block: what an idle pair costs in CPU time, and per thread of each node.</summary>
    public static (string Key, string Markdown) IdleBlock(string preset, string command, string machine, IdleResult idle, DateTimeOffset when)
    {
        var text = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"### Idle cost (`{preset}` preset)\n\n")
            .Append(CultureInfo.InvariantCulture, $"Measured {when:yyyy-MM-dd HH:mm} UTC (utime + stime of each node from `/proc/<pid>/stat`, after {idle.SettleSeconds:0} s of settling after start-up):\n\n```\n{command}\n```\n\n")
            .Append("Machine: ").Append(machine).Append(CultureInfo.InvariantCulture, $"; at the end: {idle.LoadAtEnd:0.00}.\n\n")
            .Append(CultureInfo.InvariantCulture,
                $"Over {idle.Seconds:0.0} s: a {idle.CpuSecondsA:0.00} s, b {idle.CpuSecondsB:0.00} s of CPU: **{idle.PercentOfCore:0.00} % of a core per node**. ")
            .Append(CultureInfo.InvariantCulture,
                $"Start-up before that (the first {idle.SettleSeconds:0} s: JIT tiering, warm-up): a {idle.StartCpuSecondsA:0.00} s, b {idle.StartCpuSecondsB:0.00} s.\n");
        if (idle.ThreadsA is { } rowsA && idle.ThreadsB is { } rowsB)
        {
            text.Append("\nPer thread over the same window (`/proc/<pid>/task/*`: CPU from `schedstat`, wake-ups = voluntary context switches from `status`; ")
                .Append("on a very busy machine a late thread finds several datagrams waiting and wakes fewer times; threads alive at both ends):\n\n")
                .Append("| thread | a: CPU / wake-ups a second | b: CPU / wake-ups a second |\n|---|---|---|\n");
            foreach (var name in rowsA.Select(r => r.Name).Concat(rowsB.Select(r => r.Name)).Distinct())
            {
                var ra = rowsA.FirstOrDefault(r => r.Name == name);
                var rb = rowsB.FirstOrDefault(r => r.Name == name);
                text.Append("| `").Append(name).Append("` | ").Append(Cell(ra)).Append(" | ").Append(Cell(rb)).Append(" |\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"| **all** | {Cell(Sum(rowsA))} | {Cell(Sum(rowsB))} |\n")
                .Append(CultureInfo.InvariantCulture, $"\nThreads started / ended in the window: a {idle.ThreadsStartedA} / {idle.ThreadsEndedA}, b {idle.ThreadsStartedB} / {idle.ThreadsEndedB}.\n");
        }

        return ("idle", text.ToString());

        static ThreadStats.Row Sum(IReadOnlyList<ThreadStats.Row> rows) =>
            new("all", rows.Sum(r => r.Threads), rows.Sum(r => r.CpuMs), rows.Sum(r => r.RunsPerSecond), rows.Sum(r => r.WakeupsPerSecond));

        static string Cell(ThreadStats.Row? row) =>
            row is null ? "-" : string.Create(CultureInfo.InvariantCulture, $"{row.CpuMs:0} ms / {row.WakeupsPerSecond:0.0}");
    }

    /// <summary>Replaces (or adds) <paramref name="block"/> in the takeover section of <paramref name="path"/>, keeping the other blocks and everything outside the section.</summary>
    public static void Write(string path, (string Key, string Markdown) block)
    {
        var text = File.Exists(path) ? File.ReadAllText(path) : "# Benchmarks\n";
        var blocks = new Dictionary<string, string>(StringComparer.Ordinal);
        var notes = new Dictionary<string, string>(StringComparer.Ordinal); // hand-written prose after a block is kept with it
        var begin = text.IndexOf(Begin, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        string before, after;
        if (begin >= 0 && end > begin)
        {
            var section = text[begin..end];
            var matches = Block().Matches(section);
            for (var i = 0; i < matches.Count; i++)
            {
                var m = matches[i];
                var key = m.Groups["key"].Value;
                blocks[key] = m.Value;
                var noteEnd = i + 1 < matches.Count ? matches[i + 1].Index : section.Length;
                var note = section[(m.Index + m.Length)..noteEnd].Trim('\n');
                if (note.Length > 0)
                {
                    notes[key] = note;
                }
            }

            before = text[..begin];
            after = text[(end + End.Length)..];
        }
        else
        {
            before = text.TrimEnd('\n') + "\n\n";
            after = "\n";
        }

        blocks[block.Key] = $"<!-- takeover:{block.Key}:begin -->\n{block.Markdown.TrimEnd('\n')}\n<!-- takeover:{block.Key}:end -->";
        var output = new StringBuilder(Begin).Append('\n').Append(Intro);
        foreach (var key in BlockOrder.Concat(blocks.Keys.Except(BlockOrder)).Where(blocks.ContainsKey))
        {
            output.Append('\n').Append(blocks[key]).Append('\n');
            if (notes.TryGetValue(key, out var note))
            {
                output.Append('\n').Append(note).Append('\n');
            }
        }

        output.Append(End);
        File.WriteAllText(path, before + output + after);
    }

    private const string Intro = """
        ## Takeover: the TwoNode sample killed and stopped

        `benchmarks/HaKit.Takeover` runs the real sample (`samples/TwoNode.Console`) as two processes on loopback, many times.
        Each run uses fresh ports and a fresh state directory: node a starts alone and takes group `web` after its initial dead
        time (epoch 1), node b joins as standby and gets the initial dead time + 300 ms to hear a; the harness checks that exactly
        a answers, waits a random delay (0–1000 ms from a seeded `Random`, so the signal lands anywhere in the heartbeat cycle)
        and sends SIGKILL (crash) or SIGTERM (graceful handover) to a. A `Stopwatch` starts right at the signal; the harness asks
        the service address every 1 ms (raw `GET /`, 20 ms connect timeout) and stops at the first answer from b. The node's own
        `takeover_ms` and the stdout timestamps (UTC, 1 ms resolution) split the time into detection, takeover and the resource's
        own stop and start. p99 is the nearest-rank value: with fewer than 100 runs it is the maximum.

        The baseline, measured in the same run, is what the same listener costs without any HA: start a fresh process
        (`HaKit.Takeover --serve`, which binds the sample's `HttpServiceResource` and nothing else) and time until it answers.

        For comparison: keepalived's default VRRP timing (`advert_int 1`) declares the master down after 3 × 1 s plus a skew of
        (256 − priority)/256 s, about 3.6 s, before the backup even starts its scripts. Heartbeat set-ups in common guides use
        `keepalive 2`, `warntime 10`, `deadtime 30`, `initdead 120`: a crash is acted on after 30 s. Both figures are detection
        only; the numbers below are end to end, up to the first answer from the new owner.

        """;

    private static void Row(StringBuilder md, string name, IEnumerable<double> values, double medianTarget = double.NaN, double p99Target = double.NaN)
    {
        if (Stats.Of(values) is not { } s)
        {
            return;
        }

        var target = double.IsNaN(medianTarget) ? "" : medianTarget == p99Target ? $"≤ {medianTarget:0}" : $"median ≤ {medianTarget:0}, p99 ≤ {p99Target:0}";
        var met = double.IsNaN(medianTarget) ? "" :
            (s.Median <= medianTarget, s.P99 <= p99Target) switch
            {
                (true, true) => "yes",
                (true, false) => "median yes, p99 no",
                (false, true) => "median no, p99 yes",
                _ => "no",
            };
        md.Append(
            $"| {name} | {s.Count} | {Stats.Ms(s.Min)} | {Stats.Ms(s.Median)} | {Stats.Ms(s.P99)} | {Stats.Ms(s.Max)} | {target} | {met} |\n");
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
