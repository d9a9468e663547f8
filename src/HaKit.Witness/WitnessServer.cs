using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit.Arbitration;
using HaKit.State;
using HaKit.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Witness;

/// <summary>
/// The witness server: the third voter of Witness mode, like corosync-qnetd. It listens on one UDP socket and answers the signed
/// <c>VoteRequest</c>s of the nodes of every configured cluster with a signed <c>VoteReply</c> sent back to the request's source,
/// granting at most one unexpired lease per group (<see cref="LeaseGrantor"/>, one for every cluster) and never at or below the
/// highest epoch it knows, which it keeps on disk (one file per cluster, fsynced before a grant that raised it is answered).
/// </summary>
/// <remarks>
/// <para>One receive loop handles every datagram in turn, so the grantor needs no lock. Datagrams that name no served cluster, fail
/// the envelope checks (bad MAC, unknown key, unknown sender, replay, malformed) or carry anything but a vote request or release are
/// dropped and counted (<see cref="ClusterStats"/>, <see cref="UnroutedStats"/>, the <c>hakit.witness.packets.dropped</c> metric),
/// never answered.</para>
/// <para>After it starts the witness grants nothing for <see cref="WitnessOptions.MaxLeaseTtl"/>: it may have granted a lease
/// before a restart that it no longer remembers, and that lease could still run.</para>
/// </remarks>
public sealed partial class WitnessServer : IAsyncDisposable
{
    /// <summary>Largest datagram accepted or sent, in bytes (fits an Ethernet MTU without fragmentation).</summary>
    public const int MaxPacketSize = 1400;

    private const int ReceiveBufferSize = 64 * 1024;
    private static readonly TimeSpan DropLogInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ReceiveBackoff = TimeSpan.FromMilliseconds(100);

    private readonly IPEndPoint _listen;
    private readonly string _listenText;
    private readonly string _stateDirectory;
    private readonly TimeProvider _time;
    private readonly long _origin;
    private readonly ILogger _logger;
    private readonly WitnessMetrics _metrics;
    private readonly Cluster[] _clusters;
    private readonly Dictionary<string, Cluster> _byName = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    private LeaseGrantor? _grantor;
    private Socket? _socket;
    private Task? _loop;
    private CancellationTokenSource? _stopping;
    private IPEndPoint? _localEndpoint;
    private bool _started;
    private bool _disposed;
    private Exception? _persistFailure;
    private TimeSpan _lastDropLog = TimeSpan.MinValue;
    private long _suppressedDrops;

    /// <summary>Creates a witness from validated options; nothing is bound or read until <see cref="StartAsync"/>.</summary>
    /// <param name="options">The options (copied: later changes have no effect).</param>
    /// <param name="timeProvider">The clock: monotonic time (<see cref="TimeProvider.GetTimestamp"/>) for leases, wall time for incarnations. <value>Default <see cref="TimeProvider.System"/>.</value></param>
    /// <param name="loggerFactory">Where to log (category <c>HaKit.Witness</c>).</param>
    /// <param name="meterFactory">Creates the <c>HaKit</c> meter; when <see langword="null"/> a meter of its own is created and disposed with the server.</param>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem (see <see cref="WitnessOptionsValidator"/>).</exception>
    public WitnessServer(WitnessOptions options, TimeProvider? timeProvider = null, ILoggerFactory? loggerFactory = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = WitnessOptionsValidator.Validate(options);
        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid witness options:" + Environment.NewLine + string.Join(Environment.NewLine, errors), nameof(options));
        }

        WitnessOptionsValidator.TryParseListen(options.Listen, out _listen);
        _listenText = options.Listen;
        _stateDirectory = Path.GetFullPath(options.StateDirectory);
        Name = options.Name;
        MaxLeaseTtl = options.MaxLeaseTtl;
        MaxGroupsPerCluster = options.MaxGroupsPerCluster;
        _time = timeProvider ?? TimeProvider.System;
        _origin = _time.GetTimestamp();
        _logger = loggerFactory?.CreateLogger("HaKit.Witness") ?? NullLogger.Instance;
        _metrics = new WitnessMetrics(meterFactory);

        var clusters = new List<Cluster>(options.Clusters.Count);
        try
        {
            foreach (var c in options.Clusters)
            {
                var cluster = new Cluster(c.Name, [.. c.Nodes], new AuthKeyRing(c.Auth), new FileStateStore(Path.Combine(_stateDirectory, FileName(c.Name))), new WitnessMarksFile(Path.Combine(_stateDirectory, MarksFileName(c.Name))));
                clusters.Add(cluster);
                _byName.Add(cluster.Name, cluster);
            }
        }
        catch
        {
            clusters.ForEach(c => c.Keys.Dispose());
            _metrics.Dispose();
            throw;
        }

        _clusters = [.. clusters];
        ClusterStats = _clusters.ToDictionary(c => c.Name, c => c.Stats, StringComparer.Ordinal).AsReadOnly();
    }

    /// <summary>The witness's name, the sender of its replies.</summary>
    public string Name { get; }

    /// <summary>The longest lease granted, and how long the witness stays quiet after it starts.</summary>
    public TimeSpan MaxLeaseTtl { get; }

    /// <summary>The most groups of one cluster the witness keeps an epoch for (<see cref="WitnessOptions.MaxGroupsPerCluster"/>).</summary>
    public int MaxGroupsPerCluster { get; }

    /// <summary>The bound UDP endpoint once started (with the actual port when <see cref="WitnessOptions.Listen"/> gave port 0).</summary>
    public IPEndPoint? LocalEndpoint => _localEndpoint;

    /// <summary>
    /// Wire counters per served cluster: authentic envelopes accepted, and drops per <see cref="DropReason"/>. A datagram whose
    /// envelope was accepted but whose payload is not a vote request or release is also counted as <see cref="DropReason.Malformed"/>.
    /// </summary>
    public IReadOnlyDictionary<string, WireStats> ClusterStats { get; }

    /// <summary>Datagrams that name no served cluster (<see cref="DropReason.WrongCluster"/>) or do not start with a cluster name at all (<see cref="DropReason.Malformed"/>).</summary>
    public WireStats UnroutedStats { get; } = new();

    /// <summary>
    /// Loads (and bumps) each cluster's state file, binds the UDP socket and starts the receive loop. The quiet period
    /// (<see cref="MaxLeaseTtl"/>) starts now.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A completed task once the socket is bound.</returns>
    /// <exception cref="InvalidOperationException">The server was already started (a server starts once; create a new one to restart).</exception>
    /// <exception cref="InvalidDataException">A state file or marks file is corrupt (the witness must not guess epochs or marks).</exception>
    /// <exception cref="IOException">A state file could not be read or written, or the socket could not be bound.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started)
            {
                throw new InvalidOperationException($"witness {Name} was already started; a WitnessServer starts once, create a new one to restart");
            }

            _started = true;
            var grantor = new LeaseGrantor(Name, Now(), MaxLeaseTtl);
            var wallMs = (ulong)Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds());
            foreach (var c in _clusters)
            {
                var state = c.Store.Load();
                c.Incarnation = Math.Max(state.Incarnation + 1, wallMs);
                c.Epochs.Clear();
                foreach (var (group, epoch) in state.Epochs)
                {
                    c.Epochs[group] = epoch;
                    grantor.Observe(c.Name, group, epoch);
                }

                c.Store.Save(new PersistedState(c.Incarnation, c.Epochs));
                c.Marks.Clear();
                foreach (var (key, mark) in c.MarksFile.Load())
                {
                    c.Marks[key] = mark;
                }

                if (c.Marks.Count > 0)
                {
                    WitnessLog.MarksLoaded(_logger, c.Name, c.Marks.Count, c.MarksFile.Path);
                }

                c.Codec = new EnvelopeCodec(c.Name, Name, c.Nodes, c.Incarnation, c.Keys, MaxPacketSize, c.Stats);
                WitnessLog.ClusterLoaded(_logger, c.Name, string.Join(", ", c.Nodes), c.Incarnation, c.Epochs.Count, c.Store.Path);
            }

            grantor.EpochRaised += OnEpochRaised;
            var socket = Bind();
            _grantor = grantor;
            _socket = socket;
            _localEndpoint = (IPEndPoint?)socket.LocalEndPoint;
            _stopping = new CancellationTokenSource();
            var token = _stopping.Token;
            _loop = Task.Run(() => ReceiveLoopAsync(socket, token), CancellationToken.None);
        }

        WitnessLog.Started(_logger, Name, _localEndpoint?.ToString() ?? _listenText, _clusters.Length, string.Join(", ", _clusters.Select(c => $"{c.Name} ({string.Join(", ", c.Nodes)})")), MaxLeaseTtl.TotalMilliseconds);
        return Task.CompletedTask;
    }

    /// <summary>Stops the receive loop and closes the socket. Leases granted keep running at the nodes until they expire.</summary>
    /// <param name="cancellationToken">Stops waiting for the loop to end.</param>
    /// <returns>A task that completes once the loop ended.</returns>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Task? loop;
        Socket? socket;
        CancellationTokenSource? stopping;
        lock (_gate)
        {
            loop = _loop;
            socket = _socket;
            stopping = _stopping;
            _loop = null;
            _socket = null;
            _stopping = null;
        }

        if (stopping is null)
        {
            return;
        }

        await stopping.CancelAsync().ConfigureAwait(false);
        socket?.Dispose();
        try
        {
            if (loop is not null)
            {
                await loop.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            stopping.Dispose();
        }

        WitnessLog.Stopped(_logger, Name);
    }

    /// <summary>Stops the server (see <see cref="StopAsync"/>) and disposes its keys and meter.</summary>
    /// <returns>A task that completes once everything is released.</returns>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        foreach (var c in _clusters)
        {
            c.Keys.Dispose();
        }

        _metrics.Dispose();
    }

    /// <summary>The state file name of a cluster: the name percent-encoded (dots too), plus <c>.state</c>.</summary>
    internal static string FileName(string cluster) => EscapedFileStem(cluster) + ".state";

    /// <summary>The outdated-marks file name of a cluster: the name encoded as for <see cref="FileName"/>, plus <c>.marks</c>.</summary>
    internal static string MarksFileName(string cluster) => EscapedFileStem(cluster) + ".marks";

    /// <summary>A cluster name as a file name stem: escaped, with no dot (so no name can be "." or ".." or end in an extension).</summary>
    private static string EscapedFileStem(string cluster) => Uri.EscapeDataString(cluster).Replace(".", "%2E", StringComparison.Ordinal);

    private TimeSpan Now() => _time.GetElapsedTime(_origin);

    private Socket Bind()
    {
        var socket = new Socket(_listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (_listen.AddressFamily == AddressFamily.InterNetworkV6 && _listen.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }

            socket.Bind(_listen);
            return socket;
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"{WitnessOptions.Section}:Listen = '{_listenText}': cannot bind the UDP socket ({ex.SocketErrorCode}: {ex.Message}); free the port, or listen on another address or port", ex);
        }
    }

    private async Task ReceiveLoopAsync(Socket socket, CancellationToken token)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(ReceiveBufferSize, pinned: true);
        var reply = new byte[MaxPacketSize];
        var payload = new byte[MaxPacketSize];
        var protocol = new WitnessProtocol { HoldsOutdatedMarks = true };
        var from = new SocketAddress(socket.AddressFamily);
        var addressSize = from.Size;
        while (!token.IsCancellationRequested)
        {
            int received;
            try
            {
                from.Size = addressSize;
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, from, token).ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                continue; // ICMP unreachable after a reply to a node that went away
            }
            catch (SocketException ex)
            {
                WitnessLog.ReceiveFailed(_logger, _listenText, ex);
                try
                {
                    await Task.Delay(ReceiveBackoff, _time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                continue;
            }

            int replyLength;
            try
            {
                replyLength = Handle(buffer.AsSpan(0, received), from, reply, payload, protocol);
            }
            catch (ObjectDisposedException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                WitnessLog.HandleFailed(_logger, PeekClusterName(buffer.AsSpan(0, received)), ex);
                continue;
            }

            if (replyLength == 0)
            {
                continue;
            }

            try
            {
                await socket.SendToAsync(reply.AsMemory(0, replyLength), SocketFlags.None, from, token).ConfigureAwait(false);
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (SocketException ex)
            {
                WitnessLog.SendFailed(_logger, Describe(from), ex);
            }
        }
    }

    /// <summary>Handles one datagram; returns the length of the reply written to <paramref name="reply"/>, or 0 for none. Internal for the fuzz tests (one caller at a time).</summary>
    internal int Handle(ReadOnlySpan<byte> packet, SocketAddress from, Span<byte> reply, Span<byte> payloadBuffer, WitnessProtocol protocol)
    {
        if (!EnvelopeCodec.TryPeekCluster(packet, out var clusterUtf8))
        {
            UnroutedStats.RecordDropped(DropReason.Malformed);
            NoteDrop("", DropReason.Malformed, from);
            return 0;
        }

        var cluster = Find(clusterUtf8);
        if (cluster is null)
        {
            UnroutedStats.RecordDropped(DropReason.WrongCluster);
            NoteDrop("", DropReason.WrongCluster, from);
            return 0;
        }

        var codec = cluster.Codec!;
        if (!codec.TryOpen(packet, out var envelope, out var reason))
        {
            NoteDrop(cluster.Name, reason, from);
            return 0;
        }

        if (protocol.TryRead(envelope.Payload, out var vote))
        {
            if (vote.Kind == VoteMessageKind.Request)
            {
                return Answer(cluster, envelope.Sender, vote, reply, payloadBuffer, protocol);
            }

            Release(cluster, envelope.Sender, vote);
            return 0;
        }

        if (protocol.TryReadMark(envelope.Payload, out var mark) && Array.IndexOf(cluster.Nodes, mark.Node) >= 0)
        {
            return AnswerMark(cluster, envelope.Sender, mark, reply, payloadBuffer, protocol);
        }

        cluster.Stats.RecordDropped(DropReason.Malformed);
        NoteDrop(cluster.Name, DropReason.Malformed, from);
        return 0;
    }

    private int Answer(Cluster cluster, string requester, VoteMessage request, Span<byte> reply, Span<byte> payloadBuffer, WitnessProtocol protocol)
    {
        var grantor = _grantor!;
        var now = Now();
        if (cluster.Epochs.Count >= MaxGroupsPerCluster && !cluster.Epochs.ContainsKey(request.Group))
        {
            // Checked before the grantor sees the group, so that it keeps no entry for it either.
            var full = new LeaseVote(false, 0, null, TimeSpan.Zero, $"witness {Name} keeps epochs for at most {MaxGroupsPerCluster.ToString(CultureInfo.InvariantCulture)} groups of cluster {cluster.Name} (HaKit:Witness:MaxGroupsPerCluster) and does not know group {request.Group}; raise the limit if the cluster really has that many groups");
            WitnessLog.Refused(_logger, cluster.Name, request.Group, requester, request.Epoch, request.Renew, full.Reason);
            _metrics.Vote(cluster.Name, "refused");
            return Reply(cluster, requester, request, full, payloadBuffer, protocol, reply);
        }

        var before = grantor.HolderOf(now, cluster.Name, request.Group);
        _persistFailure = null;
        var vote = grantor.Vote(now, cluster.Name, request.Group, requester, request.Epoch, request.Ttl, request.Renew, request.RequestId);
        if (vote.Granted && _persistFailure is { } failure)
        {
            // Never answer a grant whose epoch is not on disk: after a restart the witness could grant that epoch again.
            grantor.Release(cluster.Name, request.Group, requester, request.Epoch, request.RequestId);
            WitnessLog.PersistFailed(_logger, cluster.Name, request.Group, request.Epoch, requester, cluster.Store.Path, failure);
            vote = new LeaseVote(false, vote.HighestEpoch, null, TimeSpan.Zero, $"witness {Name} could not store epoch {request.Epoch.ToString(CultureInfo.InvariantCulture)} of group {request.Group} durably ({failure.Message}); it refuses rather than risk granting that epoch again after a restart");
        }

        _persistFailure = null;
        if (!vote.Granted)
        {
            WitnessLog.Refused(_logger, cluster.Name, request.Group, requester, request.Epoch, request.Renew, vote.Reason);
            _metrics.Vote(cluster.Name, "refused");
        }
        else if (before is { } b && b.Holder == requester && b.Epoch == request.Epoch)
        {
            WitnessLog.Renewed(_logger, cluster.Name, request.Group, requester, request.Epoch, (uint)request.Ttl.TotalMilliseconds);
            _metrics.Vote(cluster.Name, "renewed");
        }
        else
        {
            WitnessLog.Granted(_logger, cluster.Name, request.Group, requester, request.Epoch, (uint)request.Ttl.TotalMilliseconds);
            _metrics.Vote(cluster.Name, "granted");
        }

        return Reply(cluster, requester, request, vote, payloadBuffer, protocol, reply);
    }

    private int Reply(Cluster cluster, string requester, VoteMessage request, LeaseVote vote, Span<byte> payloadBuffer, WitnessProtocol protocol, Span<byte> reply)
    {
        var codec = cluster.Codec!;
        var length = protocol.WriteReply(request, requester, vote, payloadBuffer, codec.MaxPayloadLength);
        if (length == 0)
        {
            WitnessLog.ReplyTooLarge(_logger, cluster.Name, requester, request.Group);
            return 0;
        }

        return codec.Encode(payloadBuffer[..length], reply);
    }

    private void Release(Cluster cluster, string requester, VoteMessage release)
    {
        if (_grantor!.Release(cluster.Name, release.Group, requester, release.Epoch, release.RequestId))
        {
            WitnessLog.Released(_logger, cluster.Name, release.Group, requester, release.Epoch);
            _metrics.Release(cluster.Name);
        }
        else
        {
            WitnessLog.ReleaseIgnored(_logger, cluster.Name, release.Group, requester, release.Epoch);
        }
    }

    private void OnEpochRaised(string clusterName, string group, ulong epoch)
    {
        var cluster = _byName[clusterName];
        cluster.Epochs[group] = epoch;
        try
        {
            cluster.Store.Save(new PersistedState(cluster.Incarnation, cluster.Epochs));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _persistFailure = ex;
        }
    }

    private Cluster? Find(ReadOnlySpan<byte> nameUtf8)
    {
        foreach (var c in _clusters)
        {
            if (nameUtf8.SequenceEqual(c.NameUtf8))
            {
                return c;
            }
        }

        return null;
    }

    private void NoteDrop(string cluster, DropReason reason, SocketAddress from)
    {
        _metrics.Dropped(cluster, reason.ToString());
        if (!_logger.IsEnabled(LogLevel.Debug))
        {
            return;
        }

        var now = Now();
        if (_lastDropLog != TimeSpan.MinValue && now - _lastDropLog < DropLogInterval)
        {
            _suppressedDrops++;
            return;
        }

        WitnessLog.Dropped(_logger, Describe(from), cluster.Length == 0 ? "(none served)" : cluster, reason.ToString(), _suppressedDrops);
        _lastDropLog = now;
        _suppressedDrops = 0;
    }

    private string Describe(SocketAddress address)
    {
        try
        {
            return _listen.Create(address).ToString() ?? "?";
        }
        catch (ArgumentException)
        {
            return "?";
        }
    }

    private static string PeekClusterName(ReadOnlySpan<byte> packet)
    {
        if (!EnvelopeCodec.TryPeekCluster(packet, out var name))
        {
            return "?";
        }

        try
        {
            return new UTF8Encoding(false, true).GetString(name);
        }
        catch (ArgumentException)
        {
            return "?";
        }
    }

    /// <summary>One served cluster: its nodes, keys, counters, state file and (once started) codec.</summary>
    private sealed class Cluster(string name, string[] nodes, AuthKeyRing keys, FileStateStore store, WitnessMarksFile marksFile)
    {
        public string Name { get; } = name;

        public byte[] NameUtf8 { get; } = Encoding.UTF8.GetBytes(name);

        public string[] Nodes { get; } = nodes;

        public AuthKeyRing Keys { get; } = keys;

        public FileStateStore Store { get; } = store;

        public WireStats Stats { get; } = new();

        public WitnessMarksFile MarksFile { get; } = marksFile;

        /// <summary>The outdated marks by (group, node): what the marks file holds.</summary>
        public Dictionary<(string Group, string Node), OutdatedMark> Marks { get; } = [];

        public Dictionary<string, ulong> Epochs { get; } = new(StringComparer.Ordinal);

        public ulong Incarnation { get; set; }

        public EnvelopeCodec? Codec { get; set; }
    }
}
