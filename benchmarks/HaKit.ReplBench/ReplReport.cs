using System.Runtime.InteropServices;
using System.Text;
using HaKit.Replication;

namespace HaKit.ReplBench;

/// <summary>Writes the replication block of <c>docs/benchmarks.md</c> (between its markers, replacing the previous run's).</summary>
public static class ReplReport
{
    private const string Begin = "<!-- replication:begin -->";
    private const string End = "<!-- replication:end -->";

    /// <summary>The machine.</summary>
    public static string Machine()
    {
        var cpu = TryRead("/proc/cpuinfo")?.Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim();
        var os = TryRead("/etc/os-release")?.Split('\n').FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"');
        return $"{Environment.ProcessorCount} cores{(cpu is null ? "" : $" ({cpu})")}, {os ?? RuntimeInformation.OSDescription}, " +
               $"{RuntimeInformation.FrameworkDescription}, {RuntimeInformation.ProcessArchitecture}, thread pool spin limit {SpinLimit()}";
    }

    /// <summary>The thread pool's <c>UnfairSemaphoreSpinLimit</c> as the runtime reads it: the environment variable, else the
    /// runtimeconfig knob (0 in this project), else the runtime's default.</summary>
    private static string SpinLimit()
    {
        var env = Environment.GetEnvironmentVariable("DOTNET_ThreadPool_UnfairSemaphoreSpinLimit");
        return env is not null ? $"{env} (environment)"
            : AppContext.GetData("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit") is { } knob ? $"{knob} (runtimeconfig)" : "default";
    }

    /// <summary>The 1-, 5- and 15-minute load averages.</summary>
    public static string Load() => string.Join(" / ", TryRead("/proc/loadavg")?.Split(' ').Take(3) ?? ["?"]);

    /// <summary>The block.</summary>
    public static string Markdown(BenchSettings settings, BenchResults r, string command)
    {
        var ping = r.GrpcPing.P50;
        var fsync = r.Fdatasync.P50;
        var sb = new StringBuilder();
        sb.AppendLine(Begin);
        sb.AppendLine($"### Replication run of {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine();
        sb.AppendLine($"`{command}`");
        sb.AppendLine();
        sb.AppendLine($"Machine: {r.Machine}. Load average (1/5/15 min) before: {r.LoadBefore}, after: {r.LoadAfter}. Entry size {settings.EntryBytes} B. " +
                      "Owner and standby are two `ReplicatedLog` instances in one process, each with its own `ReplicationTransport` " +
                      (settings.Protocol == ReplicationProtocol.Tcp
                          ? "(protocol `Tcp`: one TCP connection, length-prefixed frames) "
                          : "(protocol `Grpc`: the real Kestrel h2c server and Grpc.Net.Client dialer) ") +
                      "on 127.0.0.1, " +
                      (settings.State == BenchState.Null ? "a state machine that keeps nothing (empty snapshots every 100,000 entries compact the log), "
                          : $"a 100,000-key state snapshotted every 100,000 entries {(settings.State == BenchState.Kv ? "in the background (`IBackgroundSnapshots`)" : "on the log's loop")}, ") +
                      "and real segment files under the temp directory (the same file system as the " +
                      "fdatasync baseline); both replicas, the writers and the baselines share the machine's cores.");
        sb.AppendLine();
        sb.AppendLine("| measurement | p50 µs | p99 µs | max µs | writes/s | B allocated / write | CPU µs / write | target | met |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |");
        Row(sb, r.GrpcPing, "", "");
        Row(sb, r.TcpPing, "", "");
        Row(sb, r.Fdatasync, "", "");
        Row(sb, r.FdatasyncInPlace, "", "");
        foreach (var (mode, m) in r.Single)
        {
            var (target, met) = mode switch
            {
                ReplicationMode.Received => ($"p50 ≤ 1.5 × ping-pong = {1.5 * ping:F0}", m.P50 <= 1.5 * ping),
                ReplicationMode.Durable => ($"p50 ≤ ping-pong + fdatasync + 100 = {ping + fsync + 100:F0}", m.P50 <= ping + fsync + 100),
                _ => ("", (bool?)null),
            };
            Row(sb, m, target, met is null ? "" : met.Value ? "yes" : "no");
        }

        foreach (var (mode, _, m) in r.Pipelined)
        {
            var (target, met) = mode switch
            {
                ReplicationMode.Received => ("≥ 200,000 writes/s, p99 ≤ 1,000", m.PerSecond >= 200_000 && m.P99 <= 1000),
                ReplicationMode.Async => ("≥ 500,000 writes/s", m.PerSecond >= 500_000),
                _ => ("(for information)", (bool?)null),
            };
            Row(sb, m, target, met is null ? "" : met.Value ? "yes" : "no");
        }

        sb.AppendLine();
        sb.AppendLine($"Raw TCP vs gRPC ping-pong p50: {r.TcpPing.P50:F0} µs vs {r.GrpcPing.P50:F0} µs (p99 {r.TcpPing.P99:F0} vs {r.GrpcPing.P99:F0} µs).");
        sb.AppendLine(End);
        return sb.ToString();
    }

    private static void Row(StringBuilder sb, Measurement m, string target, string met) =>
        sb.AppendLine($"| {m.Name} | {m.P50:F0} | {m.P99:F0} | {m.Max:F0} | {Num(m.PerSecond, "N0")} | {Num(m.BytesPerWrite, "F0")} | {Num(m.CpuMicrosPerWrite, "F1")} | {target} | {met} |");

    private static string Num(double value, string format) => double.IsNaN(value) ? "" : value.ToString(format, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Replaces the block in <paramref name="path"/> (appends it with a section heading if there is none).</summary>
    public static void Write(string path, string block)
    {
        var text = File.ReadAllText(path);
        var begin = text.IndexOf(Begin, StringComparison.Ordinal);
        var end = text.IndexOf(End, StringComparison.Ordinal);
        text = begin >= 0 && end > begin
            ? string.Concat(text.AsSpan(0, begin), block.TrimEnd('\n'), text.AsSpan(end + End.Length))
            : text.TrimEnd('\n') + "\n\n## Replication (HaKit.Replication)\n\n" + block;
        File.WriteAllText(path, text);
    }

    private static string? TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
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
