using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Text;
using Microsoft.Extensions.Logging;

namespace HaKit.Replication;

/// <summary>
/// A small replicated key-value store on a <see cref="ReplicatedLog"/>: the owner's <see cref="PutAsync"/> and
/// <see cref="DeleteAsync"/> complete once acknowledged in the group's mode; <see cref="TryGet"/> reads the applied state
/// (on the owner: every acknowledged write; on the standby: what it has applied so far).
/// </summary>
public sealed class ReplicatedKvStore : IAsyncDisposable
{
    private const byte PutOp = 1;
    private const byte DeleteOp = 2;

    private readonly State _state;
    private readonly bool _hosted;
    private ReplicatedLog? _log;

    private ReplicatedKvStore(State state, ReplicatedLog? log, bool hosted)
    {
        _state = state;
        _log = log;
        _hosted = hosted;
    }

    /// <summary>The log underneath (roles, status, transport).</summary>
    /// <exception cref="InvalidOperationException">A store registered with <c>UseReplication(r =&gt; r.AddKvStore(group))</c>
    /// before the host started (the host opens its log at start-up).</exception>
    public ReplicatedLog Log => Volatile.Read(ref _log) ?? throw new InvalidOperationException("the store's log is not open yet: the host opens it at start-up");

    /// <summary>The state machine (for the host that opens the log).</summary>
    internal IReplicatedStateMachine StateMachine => _state;

    /// <summary>The number of keys applied.</summary>
    public int Count => _state.Values.Count;

    /// <summary>Opens the store's log (see <see cref="ReplicatedLog.OpenAsync"/>).</summary>
    /// <param name="options">The group's settings.</param>
    /// <param name="loggerFactory">Logging; none if <see langword="null"/>.</param>
    /// <param name="meterFactory">Metrics; a plain meter if <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the open.</param>
    /// <returns>The store.</returns>
    public static async Task<ReplicatedKvStore> OpenAsync(ReplicationOptions options, ILoggerFactory? loggerFactory = null,
        IMeterFactory? meterFactory = null, CancellationToken cancellationToken = default)
    {
        var state = new State();
        var log = await ReplicatedLog.OpenAsync(options, state, loggerFactory, meterFactory, cancellationToken).ConfigureAwait(false);
        return new ReplicatedKvStore(state, log, hosted: false);
    }

    /// <summary>A store whose log the host opens later (<see cref="AttachHosted"/>) and closes (its <see cref="DisposeAsync"/> does nothing).</summary>
    internal static ReplicatedKvStore CreateHosted() => new(new State(), null, hosted: true);

    /// <summary>Gives a hosted store its open log.</summary>
    internal void AttachHosted(ReplicatedLog log) => Volatile.Write(ref _log, log);

    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/> (owner only).</summary>
    /// <param name="key">The key (UTF-8, at most 65535 bytes).</param>
    /// <param name="value">The value.</param>
    /// <param name="cancellationToken">Stops waiting (the write may still happen).</param>
    /// <returns>The write's position once acknowledged.</returns>
    public Task<LogPosition> PutAsync(string key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken) =>
        Log.AppendAsync(Encode(PutOp, key, value.Span), cancellationToken);

    /// <summary>Removes <paramref name="key"/> (owner only).</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Stops waiting (the delete may still happen).</param>
    /// <returns>The delete's position once acknowledged.</returns>
    public Task<LogPosition> DeleteAsync(string key, CancellationToken cancellationToken) =>
        Log.AppendAsync(Encode(DeleteOp, key, []), cancellationToken);

    /// <summary>Reads the applied value of <paramref name="key"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value, if the key is set.</param>
    /// <returns>Whether the key is set.</returns>
    public bool TryGet(string key, out byte[] value) => _state.Values.TryGetValue(key, out value!);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _hosted || _log is null ? ValueTask.CompletedTask : _log.DisposeAsync();

    private static byte[] Encode(byte op, string key, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(key);
        var keyLength = Encoding.UTF8.GetByteCount(key);
        if (keyLength > ushort.MaxValue)
        {
            throw new ArgumentException($"the key is {keyLength} bytes long in UTF-8; at most {ushort.MaxValue}", nameof(key));
        }

        var bytes = new byte[3 + keyLength + value.Length];
        bytes[0] = op;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(1), (ushort)keyLength);
        Encoding.UTF8.GetBytes(key, bytes.AsSpan(3));
        value.CopyTo(bytes.AsSpan(3 + keyLength));
        return bytes;
    }

    private sealed class State : IBackgroundSnapshots
    {
        public ConcurrentDictionary<string, byte[]> Values { get; } = new(StringComparer.Ordinal);

        public void Apply(in LogEntry entry)
        {
            var data = entry.Data.Span;
            if (data.Length < 3)
            {
                return;
            }

            var keyLength = BinaryPrimitives.ReadUInt16LittleEndian(data[1..]);
            var key = Encoding.UTF8.GetString(data.Slice(3, keyLength));
            if (data[0] == PutOp)
            {
                Values[key] = data[(3 + keyLength)..].ToArray();
            }
            else if (data[0] == DeleteOp)
            {
                Values.TryRemove(key, out _);
            }
        }

        // Written in the background (IBackgroundSnapshots): the capture copies the references to the entries (values are never
        // changed in place: Apply stores a new array), the writer streams them to the snapshot file while Apply goes on.
        public Func<Stream, CancellationToken, ValueTask> CaptureSnapshot()
        {
            var items = Values.ToArray();
            return (destination, cancellationToken) => Write(items, destination, cancellationToken);
        }

        public ValueTask WriteSnapshotAsync(Stream destination, CancellationToken cancellationToken) => Write(Values.ToArray(), destination, cancellationToken);

        private static ValueTask Write(KeyValuePair<string, byte[]>[] items, Stream destination, CancellationToken cancellationToken)
        {
            using var writer = new BinaryWriter(new BufferedStream(destination, 64 << 10), Encoding.UTF8, leaveOpen: false);
            writer.Write(items.Length);
            foreach (var (key, value) in items)
            {
                cancellationToken.ThrowIfCancellationRequested();
                writer.Write(key);
                writer.Write(value.Length);
                writer.Write(value);
            }

            writer.Flush();
            return ValueTask.CompletedTask;
        }

        public ValueTask RestoreSnapshotAsync(Stream source, CancellationToken cancellationToken)
        {
            Values.Clear();
            using var reader = new BinaryReader(new BufferedStream(source, 64 << 10), Encoding.UTF8, leaveOpen: false);
            var head = new byte[4];
            if (reader.BaseStream.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 0)
            {
                return ValueTask.CompletedTask; // the empty initial state
            }

            var count = BinaryPrimitives.ReadInt32LittleEndian(head);
            for (var i = 0; i < count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var key = reader.ReadString();
                var value = reader.ReadBytes(reader.ReadInt32());
                Values[key] = value;
            }

            return ValueTask.CompletedTask;
        }
    }
}
