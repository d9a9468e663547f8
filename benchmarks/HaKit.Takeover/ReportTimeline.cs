using System.Globalization;
using System.Text;

namespace HaKit.Takeover;

/// <summary>The crash hint's timeline table: where the time from the SIGKILL to b's answer goes.</summary>
public static partial class Report
{
    /// <summary>What each traced point is (b's own marks, HaKit's <c>TakeoverTrace</c> and the sample's <c>SampleTrace</c>).</summary>
    private static readonly (string Point, string What)[] TimelinePoints =
    [
        ("grpc.watcher.end", "b's connection-end watcher wakes: a's kernel ended the grpc0 connection (FIN/reset)"),
        ("grpc.watcher.refused", "… the watcher's own connect to a's grpc0 port refused (or reset by the closing listener)"),
        ("grpc.stream.end", "b's HTTP/2 client reads the stream's end (no goodbye)"),
        ("grpc.reconnect.refused", "… its reconnect refused"),
        ("grpc.hint", "the link reports the hint (first of the watcher and the reconnect)"),
        ("loop.hint.posted", "… posted to b's loop"),
        ("loop.hint.step", "b's loop runs it (the core records the hint)"),
        ("loop.probe.send", "… the probe heartbeat goes out on the UDP link"),
        ("udp.portclosed.posted", "the UDP link's ICMP port unreachable for the probe, posted to the loop"),
        ("loop.portclosed.step", "… the loop runs it"),
        ("event.hint", "the hint qualifies (`PeerCrashHinted` raised)"),
        ("event.hint.published", "… published (stdout line, event handlers)"),
        ("event.acquiring", "decision: role → Acquiring"),
        ("event.acquiring.published", "… published"),
        ("persist.begin", "epoch file write starts"),
        ("persist.end", "… epoch file written (fsync)"),
        ("event.starting", "role → Starting"),
        ("event.starting.published", "… published"),
        ("start.begin", "`StartGroup` runs (resource start handed to a task)"),
        ("guard.opened", "ownership of the new epoch published (`ResourceContext.IsOwned` true from here; right before the start since 2026-12-07)"),
        ("http.start", "the sample's HTTP resource starts"),
        ("http.bound", "… its listener is bound"),
        ("http.logged", "… its `listening` log line written"),
        ("http.reported", "… its `http listening` stdout line written: its start returns"),
        ("loop.takeoverstep.commands-done", "b's loop ran the rest of the takeover step's commands"),
        ("loop.takeoverstep.end", "… and ended the step"),
        ("start.resource.returned", "the runner has the resource's result (through the start timeout's pipeline)"),
        ("start.resource.logged", "… logged it and raised `ResourceActionCompleted`"),
        ("start.resources.done", "the group's resources report started"),
        ("loop.started.step", "… the loop runs the result"),
        ("event.active", "role → Active"),
        ("event.active.published", "… published (stdout line, event handlers)"),
        ("http.accept", "first connection accepted on the new listener"),
        ("http.refused", "… answered `503 not owner` (not owned by the clock: the guard not yet open, or suspended after a stall of b)"),
        ("http.answered", "… answered as the owner"),
    ];

    /// <summary>Appends the table of per-point medians over the kills that carry a timeline (nothing when none do).</summary>
    private static void TimelineTable(StringBuilder md, IReadOnlyList<KillRun> kills)
    {
        var traced = kills.Where(k => k.Timeline is { Count: > 0 }).ToList();
        if (traced.Count == 0)
        {
            return;
        }

        md.Append(CultureInfo.InvariantCulture, $"Timeline of the kills on b (`HAKIT_TAKEOVER_TRACE=1`: b's own timestamps on the benchmark's clock, CLOCK_MONOTONIC; {traced.Count} runs; ");
        md.Append("each point's first time after the signal; the runs with it; a point's median is over its own runs, so a stage's length is read from consecutive medians only roughly):\n\n");
        md.Append("| point on b | runs | min | median | max | median step from the previous row |\n|---|---:|---:|---:|---:|---:|\n");
        double? previous = null;
        foreach (var (point, what) in TimelinePoints.Append(("poller.answer", "the benchmark's poller gets b's answer")))
        {
            var values = point == "poller.answer"
                ? traced.Select(k => k.WallMs).ToList()
                : traced.Where(k => k.Timeline!.ContainsKey(point)).Select(k => k.Timeline![point]).ToList();
            if (Stats.Of(values) is not { } s)
            {
                continue;
            }

            var step = previous is { } p ? (s.Median - p).ToString("+0.0;-0.0", CultureInfo.InvariantCulture) : "";
            md.Append(CultureInfo.InvariantCulture, $"| `{point}`: {what} | {s.Count} | {s.Min:0.0} | {s.Median:0.0} | {s.Max:0.0} | {step} |\n");
            previous = s.Median;
        }

        var others = traced.SelectMany(k => k.Timeline!).Where(p => !TimelinePoints.Any(t => t.Point == p.Key)).GroupBy(p => p.Key, p => p.Value)
            .Select(g => (Point: g.Key, Stats: Stats.Of(g)!)).OrderBy(x => x.Stats.Median).ToList();
        foreach (var (point, s) in others)
        {
            md.Append(CultureInfo.InvariantCulture, $"| `{point}` | {s.Count} | {s.Min:0.0} | {s.Median:0.0} | {s.Max:0.0} |  |\n");
        }

        md.Append('\n');
    }
}
