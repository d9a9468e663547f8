using System.Diagnostics;
using System.Net;
using HaKit.Replication;
using HaKit.Replication.Transport;

namespace HaKit.ReplBench;

/// <summary>The replicas' state machine in a run (<c>--state</c>).</summary>
public enum BenchState
{
    /// <summary>Keeps nothing (its snapshots are empty, but still compact the log every 100,000 entries): the replication alone.</summary>
    Null,

    /// <summary>A 100,000-key state snapshotted every 100,000 entries, in the background.</summary>
    Kv,

    /// <summary>The same, each snapshot written on the log's loop.</summary>
    KvOnLoop,
}

/// <summary>An owner and a standby of one group in this process, over the real transport (TCP or gRPC) on loopback, with real files.</summary>
internal sealed class Pair : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _open = [];

    private Pair()
    {
    }

    public ReplicatedLog Owner { get; private set; } = null!;

    public ReplicatedLog Standby { get; private set; } = null!;

    public static async Task<Pair> OpenAsync(string root, ReplicationMode mode, bool preallocate, ReplicationProtocol protocol, BenchState state = BenchState.Null)
    {
        var pair = new Pair();
        int portA = Bench.FreePort(), portB = Bench.FreePort();
        var dir = Path.Combine(root, mode.ToString());
        var a = await pair.StartAsync("a", "b", portA, portB, mode, dir, preallocate, protocol, state);
        var b = await pair.StartAsync("b", "a", portB, portA, mode, dir, preallocate, protocol, state);
        if (preallocate)
        {
            // A new log starts in an append-grown file and moves onto the first prepared one (64 MiB of zeros written on a
            // background thread) as soon as it is ready: wait for it, so that the measured writes are the steady state's.
            foreach (var log in new[] { a, b })
            {
                if (!log.Storage.WaitForPreparedSegment(TimeSpan.FromSeconds(60)))
                {
                    throw new TimeoutException("the first preallocated segment was not ready within 60 s");
                }
            }
        }

        var deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
        while (!(a.Status.PeerConnected && b.Status.PeerConnected))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException("the replication stream did not come up within 10 s");
            }

            await Task.Delay(10);
        }

        await a.BecomeOwnerAsync(1, CancellationToken.None);
        pair.Owner = a;
        pair.Standby = b;
        return pair;
    }

    /// <summary>The segment files' state: whether each replica writes in place, and the preallocation counters.</summary>
    public string Segments()
    {
        static string Of(ReplicatedLog log) =>
            $"{log.Storage.SegmentCount} segments, tail {(log.Storage.TailPreallocated ? "preallocated" : "grown")}, " +
            $"{log.Storage.PreparedSegments} prepared, {log.Storage.PreallocationMisses} misses, {log.Storage.PreparationFailures} failures";
        return $"  segments: owner {Of(Owner)}; standby {Of(Standby)}";
    }

    /// <summary>REPLBENCH_RECEIVED_FLUSH_MS=N: the replicas' <see cref="ReplicationOptions.ReceivedFlushInterval"/> in ms (0: an
    /// fdatasync after each batch, as before the option), for A/B runs of one build; unset: the option's default.</summary>
    private static readonly TimeSpan? ReceivedFlushInterval =
        double.TryParse(Environment.GetEnvironmentVariable("REPLBENCH_RECEIVED_FLUSH_MS"), System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out var ms) ? TimeSpan.FromMilliseconds(ms) : null;

    private async Task<ReplicatedLog> StartAsync(string node, string peer, int port, int peerPort, ReplicationMode mode, string dir, bool preallocate, ReplicationProtocol protocol, BenchState state)
    {
        var log = await ReplicatedLog.OpenAsync(
            new ReplicationOptions
            {
                Group = "bench", Directory = Path.Combine(dir, node), Mode = mode, PreallocateSegments = preallocate,
                ReceivedFlushInterval = ReceivedFlushInterval ?? new ReplicationOptions().ReceivedFlushInterval,
                // The default SnapshotEveryEntries (100,000, = KeyedState.Keys): snapshots compact the log in every state, so
                // the in-memory log stays bounded during a long pipelined run.
            }, state switch
            {
                BenchState.Kv => new BackgroundKeyedState(),
                BenchState.KvOnLoop => new KeyedState(),
                _ => new NullStateMachine(),
            });
        _open.Add(log);
        var transport = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = node,
            PeerId = peer,
            Listen = new IPEndPoint(IPAddress.Loopback, port),
            Peer = new IPEndPoint(IPAddress.Loopback, peerPort),
            ReconnectDelay = TimeSpan.FromMilliseconds(50),
            Protocol = protocol,
        });
        transport.Attach(log);
        await transport.StartAsync(CancellationToken.None);
        _open.Add(transport);
        return log;
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _open.Count - 1; i >= 0; i--)
        {
            await _open[i].DisposeAsync();
        }
    }

    /// <summary>
    /// A key-value state of <see cref="Keys"/> keys (entry i sets key i mod Keys to its bytes: about 10 MB of state with 100 B
    /// entries), snapshotted every <see cref="Keys"/> entries (the log's default <c>SnapshotEveryEntries</c>) by serializing every key, as a host's key-value store would be: on
    /// the log's loop (this class), or captured on the loop and written in the background (<see cref="BackgroundKeyedState"/>).
    /// </summary>
    private class KeyedState : IReplicatedStateMachine
    {
        public const int Keys = 100_000;

        private readonly byte[]?[] _values = new byte[Keys][];

        public void Apply(in LogEntry entry) => _values[entry.Position.Index % Keys] = entry.Data.ToArray();

        public ValueTask WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken) => Write((byte[]?[])_values.Clone(), destination);

        protected Func<Stream, CancellationToken, ValueTask> Capture()
        {
            var copy = (byte[]?[])_values.Clone();
            return (destination, _) => Write(copy, destination);
        }

        private static ValueTask Write(byte[]?[] values, Stream destination)
        {
            using var writer = new BinaryWriter(new BufferedStream(destination, 64 << 10), System.Text.Encoding.UTF8, leaveOpen: false);
            foreach (var value in values)
            {
                writer.Write(value?.Length ?? -1);
                if (value is not null)
                {
                    writer.Write(value);
                }
            }

            writer.Flush();
            return ValueTask.CompletedTask;
        }

        public ValueTask RestoreSnapshotAsync(Stream source, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    /// <summary>The same state, its snapshots written in the background (<see cref="IBackgroundSnapshots"/>).</summary>
    private sealed class BackgroundKeyedState : KeyedState, IBackgroundSnapshots
    {
        public Func<Stream, CancellationToken, ValueTask> CaptureSnapshot() => Capture();
    }

    /// <summary>A state machine that keeps nothing (the benchmark measures replication, not the host's state).</summary>
    private sealed class NullStateMachine : IReplicatedStateMachine
    {
        public void Apply(in LogEntry entry)
        {
        }

        public ValueTask WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask RestoreSnapshotAsync(Stream source, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
