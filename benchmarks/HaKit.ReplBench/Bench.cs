using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using HaKit.Replication;
using HaKit.ReplBench.Echo;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Win32.SafeHandles;

namespace HaKit.ReplBench;

/// <summary>The run's settings.</summary>
/// <param name="Pooled">The pipelined writers call <see cref="ReplicatedLog.AppendPooledAsync"/> (a reused completion) rather than
/// <see cref="ReplicatedLog.AppendAsync"/> (a new task per append).</param>
/// <param name="Preallocate">The replicas' <see cref="ReplicationOptions.PreallocateSegments"/>.</param>
/// <param name="State">The replicas' state machine: none, or a key-value state snapshotted in the background or on the loop.</param>
/// <param name="Protocol">What carries the replication stream (<see cref="ReplicationTransportOptions.Protocol"/>).</param>
public sealed record BenchSettings(int EntryBytes, int SingleWrites, double Seconds, int[] Writers, ReplicationMode[] Modes, string Directory, bool Pooled = true,
    bool Preallocate = true, ReplicationProtocol Protocol = ReplicationProtocol.Tcp, BenchState State = BenchState.Null);

/// <summary>Latencies of one measurement (microseconds) and, for a pipelined run, its rate.</summary>
public sealed record Measurement(string Name, double P50, double P99, double Max, int Count, double PerSecond = double.NaN, double BytesPerWrite = double.NaN,
    double CpuMicrosPerWrite = double.NaN);

/// <summary>Everything one run measured.</summary>
/// <param name="Fdatasync">The baseline: an append (the file grows) and an fdatasync.</param>
/// <param name="FdatasyncInPlace">For information: an overwrite of a zero-filled, already synced region and an fdatasync (what
/// the segment log does in a preallocated segment).</param>
public sealed record BenchResults(string Machine, string LoadBefore, string LoadAfter, Measurement GrpcPing, Measurement TcpPing, Measurement Fdatasync,
    Measurement FdatasyncInPlace, IReadOnlyList<(ReplicationMode Mode, Measurement Single)> Single, IReadOnlyList<(ReplicationMode Mode, int Writers, Measurement Pipelined)> Pipelined);

/// <summary>The measurements.</summary>
public static partial class Bench
{
    private const int PingBytes = 128;

    private static readonly StrongBox<int> FirstPipelined = new(1);

    /// <summary>Runs every measurement in order: baselines, one awaiting client per mode, pipelined writers per mode.</summary>
    public static async Task<BenchResults> RunAsync(BenchSettings settings)
    {
        var machine = ReplReport.Machine();
        var loadBefore = ReplReport.Load();
        var root = System.IO.Directory.CreateDirectory(Path.Combine(settings.Directory, $"hakit-replbench-{Environment.ProcessId}")).FullName;
        try
        {
            var pingCount = Math.Max(settings.SingleWrites, 2000);
            var grpc = await GrpcPingPongAsync(pingCount);
            Console.WriteLine(Format(grpc));
            var tcp = await TcpPingPongAsync(pingCount);
            Console.WriteLine(Format(tcp));
            var fsync = Fdatasync(root, Math.Min(pingCount, 3000), settings.EntryBytes + 24, inPlace: false);
            Console.WriteLine(Format(fsync));
            var fsyncInPlace = Fdatasync(root, Math.Min(pingCount, 3000), settings.EntryBytes + 24, inPlace: true);
            Console.WriteLine(Format(fsyncInPlace));
            var single = new List<(ReplicationMode, Measurement)>();
            var pipelined = new List<(ReplicationMode, int, Measurement)>();
            foreach (var mode in settings.Modes)
            {
                await using var pair = await Pair.OpenAsync(root, mode, settings.Preallocate, settings.Protocol, settings.State);
                var payload = new byte[settings.EntryBytes];
                var s = await SingleAsync(pair.Owner, payload, settings.SingleWrites, $"{mode}, one awaiting client");
                Console.WriteLine(Format(s));
                single.Add((mode, s));
                Console.WriteLine(pair.Segments());
                foreach (var writers in settings.Writers)
                {
                    var p = await PipelinedAsync(pair.Owner, payload, writers, settings.Seconds, $"{mode}, {writers} awaiting writers", settings.Pooled);
                    Console.WriteLine(Format(p));
                    Console.WriteLine(pair.Segments());
                    pipelined.Add((mode, writers, p));
                    if (p.Count == 0)
                    {
                        break; // stalled: this pair's appends wait forever; disposing it fails them
                    }
                }
            }

            return new BenchResults(machine, loadBefore, ReplReport.Load(), grpc, tcp, fsync, fsyncInPlace, single, pipelined);
        }
        finally
        {
            System.IO.Directory.Delete(root, recursive: true);
        }
    }

    private static string Format(Measurement m) =>
        $"{m.Name}: p50 {m.P50:F1} µs, p99 {m.P99:F1} µs, max {m.Max:F0} µs, n={m.Count}" +
        (double.IsNaN(m.PerSecond) ? "" : $", {m.PerSecond:F0} writes/s, {m.BytesPerWrite:F0} B allocated/write, {m.CpuMicrosPerWrite:F2} µs CPU/write");

    private static Measurement Summarize(string name, long[] ticks, int count, double perSecond = double.NaN, double bytesPerWrite = double.NaN, double cpu = double.NaN)
    {
        Array.Sort(ticks, 0, count);
        double Us(long t) => t * 1_000_000.0 / Stopwatch.Frequency;
        double At(double q) => count == 0 ? double.NaN : Us(ticks[Math.Min(count - 1, (int)Math.Ceiling(q * count) - 1)]);
        return new Measurement(name, At(0.50), At(0.99), count == 0 ? double.NaN : Us(ticks[count - 1]), count, perSecond, bytesPerWrite, cpu);
    }

    /// <summary>
    /// One writer awaiting each append, after a warm-up of a tenth as many and at least two seconds: the JIT's tiering of the
    /// awaited path (promoted after its call counts and a delay) would otherwise fall into the measured appends of whichever mode
    /// a process measures first.
    /// </summary>
    private static async Task<Measurement> SingleAsync(ReplicatedLog owner, byte[] payload, int count, string name)
    {
        var warmUntil = Stopwatch.GetTimestamp() + (2 * Stopwatch.Frequency);
        for (var i = 0; i < Math.Max(200, count / 10) || Stopwatch.GetTimestamp() < warmUntil; i++)
        {
            await owner.AppendAsync(payload, CancellationToken.None);
        }

        var ticks = new long[count];
        var starts = ReplicationTrace.On ? new long[count] : [];
        var indexes = ReplicationTrace.On ? new long[count] : [];
        ReplicationTrace.Clear();
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            var position = await owner.AppendAsync(payload, CancellationToken.None);
            ticks[i] = Stopwatch.GetTimestamp() - start;
            if (ReplicationTrace.On)
            {
                starts[i] = start;
                indexes[i] = position.Index;
            }
        }

        if (ReplicationTrace.On)
        {
            PrintTimeline(starts, indexes, ticks);
        }

        return Summarize(name, ticks, count);
    }

    /// <summary>REPLBENCH_TIMELINE=1: the median time from the append's call to each traced point of a single client's writes
    /// (first and last occurrence of the point for the write's index), in µs.</summary>
    private static void PrintTimeline(long[] starts, long[] indexes, long[] ticks)
    {
        string[] names = ["", "owner: append handled", "owner: written (pwrite)", "owner: append queued to stream", "owner: append frame written",
            "standby: append received", "standby: append handled", "standby: written (pwrite)", "standby: fdatasync start", "standby: fdatasync done",
            "standby: flush handled", "standby: ack queued (durable)", "standby: ack queued (received only)", "standby: ack frame written",
            "owner: ack received", "owner: ack handled", "owner: fdatasync start", "owner: fdatasync done", "owner: flush handled",
            "owner: acknowledged", "owner: completion runs"];
        var at = new Dictionary<long, int>();
        for (var i = 0; i < indexes.Length; i++)
        {
            at[indexes[i]] = i;
        }

        var first = new List<double>[names.Length];
        var last = new List<double>[names.Length];
        for (var p = 0; p < names.Length; p++)
        {
            first[p] = [];
            last[p] = [];
        }

        var seen = new Dictionary<(int, long), (double First, double Last)>();
        foreach (var (t, point, index) in ReplicationTrace.Read())
        {
            if (point <= 0 || point >= names.Length || !at.TryGetValue(index, out var i))
            {
                continue;
            }

            var us = (t - starts[i]) * 1_000_000.0 / Stopwatch.Frequency;
            seen[(point, index)] = seen.TryGetValue((point, index), out var v) ? (v.First, us) : (us, us);
        }

        foreach (var ((point, _), (f, l)) in seen)
        {
            first[point].Add(f);
            last[point].Add(l);
        }

        static double Median(List<double> values)
        {
            values.Sort();
            return values.Count == 0 ? double.NaN : values[values.Count / 2];
        }

        var order = Enumerable.Range(1, names.Length - 1).OrderBy(p => Median([.. first[p]])).ToList();
        foreach (var p in order)
        {
            Console.WriteLine($"  {Median(first[p]),8:F1} {Median(last[p]),8:F1} µs  n={first[p].Count,5}  {names[p]}");
        }

        var sorted = ticks.Select(t => t * 1_000_000.0 / Stopwatch.Frequency).Order().ToList();
        Console.WriteLine($"  {sorted[sorted.Count / 2],8:F1} µs  completed (awaiting client resumed)");
    }

    /// <summary>
    /// <paramref name="writers"/> concurrent writers, each awaiting its append before the next, for one second of warm-up (four for the
    /// process's first pipelined run) and then
    /// <paramref name="seconds"/> measured: writes/s counts the appends started in the measured window over the time from its
    /// start to the last one's completion.
    /// </summary>
    private static async Task<Measurement> PipelinedAsync(ReplicatedLog owner, byte[] payload, int writers, double seconds, string name, bool pooled)
    {
        var frequency = Stopwatch.Frequency;
        var begin = Stopwatch.GetTimestamp();
        // The process's first pipelined run warms up longer: the JIT's tiering (on a background thread that a loaded machine
        // starves) would otherwise still compile the hot path during the first measured window and count in its CPU per write.
        var warmUp = Interlocked.Exchange(ref FirstPipelined.Value, 0) == 1 ? 4 : 1;
        var measureFrom = begin + warmUp * frequency;
        var measureTo = measureFrom + (long)(seconds * frequency);
        // One histogram per thread that runs writers' continuations (see LatencyHistogram).
        using var histograms = new ThreadLocal<LatencyHistogram>(() => new LatencyHistogram(), trackAllValues: true);
        long allocatedAtStart = 0;
        TimeSpan cpuAtStart = default;
        var started = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task Writer(int w)
        {
            await gate.Task.ConfigureAwait(false);
            while (true)
            {
                var start = Stopwatch.GetTimestamp();
                if (start >= measureTo)
                {
                    return;
                }

                if (pooled)
                {
                    await owner.AppendPooledAsync(payload, CancellationToken.None).ConfigureAwait(false);
                }
                else
                {
                    await owner.AppendAsync(payload, CancellationToken.None).ConfigureAwait(false);
                }
                if (start >= measureFrom)
                {
                    histograms.Value!.Record(Stopwatch.GetTimestamp() - start);
                }
            }
        }

        var tasks = new Task[writers];
        for (var w = 0; w < writers; w++)
        {
            tasks[w] = Writer(w);
        }

        using var trace = new CancellationTokenSource();
        var tracing = Environment.GetEnvironmentVariable("REPLBENCH_TRACE") == "1" ? TraceAsync(owner, trace.Token) : Task.CompletedTask;
        gate.SetResult();
        while (Stopwatch.GetTimestamp() < measureFrom)
        {
            await Task.Delay(1);
        }

        var gcPauseAtStart = GC.GetTotalPauseDuration();
        int[] gcAtStart = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        allocatedAtStart = GC.GetTotalAllocatedBytes(precise: true);
        cpuAtStart = Process.GetCurrentProcess().TotalProcessorTime;
        Interlocked.Exchange(ref started, 1);
        // Bounded: a pipeline that completes nothing for 30 s after the window is reported as stalled (with the owner's status),
        // not waited for forever.
        var writersDone = Task.WhenAll(tasks);
        if (await Task.WhenAny(writersDone, Task.Delay(TimeSpan.FromSeconds(seconds + 30))) != writersDone)
        {
            await trace.CancelAsync();
            await tracing;
            var status = owner.Status;
            return new Measurement($"{name}: STALLED (no completion 30 s after the window; owner last={status.Last.Index} durable={status.Durable} " +
                $"acknowledged={status.Acknowledged} peer-received={status.PeerReceived} peer-durable={status.PeerDurable} connected={status.PeerConnected})",
                double.NaN, double.NaN, double.NaN, 0, 0, double.NaN, double.NaN);
        }

        var end = Stopwatch.GetTimestamp();
        await trace.CancelAsync();
        await tracing;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedAtStart;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuAtStart;
        var all = new LatencyHistogram();
        foreach (var histogram in histograms.Values)
        {
            all.Add(histogram);
        }

        var count = (int)all.Count;
        if (count > 0)
        {
            Console.WriteLine($"  (GC pauses {(GC.GetTotalPauseDuration() - gcPauseAtStart).TotalMicroseconds / count:F2} µs per write; collections gen0/1/2: " +
                $"{GC.CollectionCount(0) - gcAtStart[0]}/{GC.CollectionCount(1) - gcAtStart[1]}/{GC.CollectionCount(2) - gcAtStart[2]})");
        }
        var elapsed = (double)(end - measureFrom) / frequency;
        double Us(long t) => t * 1_000_000.0 / frequency;
        return count == 0
            ? new Measurement(name, double.NaN, double.NaN, double.NaN, 0, 0, double.NaN, double.NaN)
            : new Measurement(name, Us(all.At(0.50)), Us(all.At(0.99)), Us(all.Max), count, count / elapsed, (double)allocated / count, cpu.TotalMicroseconds / count);
    }

    /// <summary>REPLBENCH_TRACE=1: the owner's status every 250 ms during a pipelined run (to see stalls).</summary>
    private static async Task TraceAsync(ReplicatedLog owner, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            while (true)
            {
                await Task.Delay(250, cancellationToken);
                var s = owner.Status;
                Console.WriteLine($"  {Stopwatch.GetElapsedTime(start).TotalSeconds:F2}s last={s.Last.Index} durable={s.Durable} acknowledged={s.Acknowledged} peer-received={s.PeerReceived} peer-durable={s.PeerDurable} connected={s.PeerConnected}");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The baseline: one message of <see cref="PingBytes"/> bytes echoed back on a bidirectional gRPC stream over loopback
    /// h2c, with the same Kestrel and SocketsHttpHandler settings as <see cref="ReplicationTransport"/>; one message in flight.</summary>
    private static async Task<Measurement> GrpcPingPongAsync(int count)
    {
        var port = FreePort();
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "HaKit.ReplBench" });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.Http2.InitialConnectionWindowSize = 16 << 20;
            kestrel.Limits.Http2.InitialStreamWindowSize = 8 << 20;
            kestrel.Listen(IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2);
        });
        builder.Services.AddRouting();
        builder.Services.AddGrpc();
        await using var app = builder.Build();
        app.UseRouting();
        app.MapGrpcService<EchoService>();
        await app.StartAsync();
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{port}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                KeepAlivePingDelay = TimeSpan.FromSeconds(5),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
                EnableMultipleHttp2Connections = true,
            },
            DisposeHttpClient = true,
        });
        var client = new Echo.Echo.EchoClient(channel);
        using var call = client.Stream();
        var message = new Blob { Data = ByteString.CopyFrom(new byte[PingBytes]) };
        var ticks = new long[count];
        for (var i = -count / 10; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await call.RequestStream.WriteAsync(message);
            if (!await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                throw new IOException("the echo stream ended");
            }

            if (i >= 0)
            {
                ticks[i] = Stopwatch.GetTimestamp() - start;
            }
        }

        await call.RequestStream.CompleteAsync();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
        }

        await app.StopAsync();
        return Summarize($"baseline: gRPC bidi stream ping-pong, {PingBytes} B each way", ticks, count);
    }

    /// <summary>The same ping-pong over a raw TCP socket (TCP_NODELAY), for the transport choice.</summary>
    private static async Task<Measurement> TcpPingPongAsync(int count)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var echo = Task.Run(async () =>
        {
            using var server = await listener.AcceptAsync();
            server.NoDelay = true;
            var buffer = new byte[PingBytes];
            while (await ReadExactlyAsync(server, buffer))
            {
                await server.SendAsync(buffer, SocketFlags.None);
            }
        });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(listener.LocalEndPoint!);
        var message = new byte[PingBytes];
        var reply = new byte[PingBytes];
        var ticks = new long[count];
        for (var i = -count / 10; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await client.SendAsync(message, SocketFlags.None);
            if (!await ReadExactlyAsync(client, reply))
            {
                throw new IOException("the echo socket closed");
            }

            if (i >= 0)
            {
                ticks[i] = Stopwatch.GetTimestamp() - start;
            }
        }

        client.Shutdown(SocketShutdown.Both);
        await echo;
        return Summarize($"raw TCP socket ping-pong, {PingBytes} B each way", ticks, count);
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, byte[] buffer)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None);
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }

    /// <summary>
    /// The baseline: append <paramref name="bytes"/> bytes at the end of a file and fdatasync it (each fdatasync also commits the
    /// new size: the segment log's cost without preallocation, the conservative baseline); with <paramref name="inPlace"/>,
    /// overwrite a region zero-filled and synced beforehand (the segment log's cost in a preallocated segment).
    /// </summary>
    private static Measurement Fdatasync(string root, int count, int bytes, bool inPlace)
    {
        var path = Path.Combine(root, inPlace ? "fdatasync-inplace.bin" : "fdatasync.bin");
        using var handle = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite);
        if (inPlace)
        {
            var zeros = new byte[1 << 20];
            var total = (long)(count + count / 10 + 1) * bytes;
            for (long at = 0; at < total; at += zeros.Length)
            {
                RandomAccess.Write(handle, zeros.AsSpan(0, (int)Math.Min(zeros.Length, total - at)), at);
            }

            if (fdatasync(handle) != 0)
            {
                throw new IOException($"fdatasync failed (errno {Marshal.GetLastPInvokeError()})");
            }
        }

        var data = new byte[bytes];
        data.AsSpan().Fill(0x5A);
        var ticks = new long[count];
        long offset = 0;
        for (var i = -count / 10; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            RandomAccess.Write(handle, data, offset);
            offset += bytes;
            if (fdatasync(handle) != 0)
            {
                throw new IOException($"fdatasync failed (errno {Marshal.GetLastPInvokeError()})");
            }

            if (i >= 0)
            {
                ticks[i] = Stopwatch.GetTimestamp() - start;
            }
        }

        return Summarize(inPlace
            ? $"for information: overwrite {bytes} B of a zero-filled, synced file + fdatasync"
            : $"baseline: write {bytes} B at the end of a file + fdatasync", ticks, count);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(SafeFileHandle fd);

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class EchoService : Echo.Echo.EchoBase
    {
        public override async Task Stream(IAsyncStreamReader<Blob> requestStream, IServerStreamWriter<Blob> responseStream, ServerCallContext context)
        {
            while (await requestStream.MoveNext(context.CancellationToken))
            {
                await responseStream.WriteAsync(requestStream.Current, context.CancellationToken);
            }
        }
    }
}
