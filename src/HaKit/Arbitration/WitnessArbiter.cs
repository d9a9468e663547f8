using System.Net;
using System.Net.Sockets;
using HaKit.Arbitration;
using HaKit.Diagnostics;
using HaKit.Ownership;
using HaKit.Wire;
using HaKit.Wire.Proto;
using Microsoft.Extensions.Logging;

namespace HaKit.Arbitration;

/// <summary>
/// Witness mode's arbiter in a running node: drives a <see cref="WitnessVoter"/> with real time and sockets. Votes go to the
/// peer over every heartbeat link (the node's own envelopes and keys) and to the witness over a UDP socket of their own;
/// answers come back on the same paths. Thread-safe: every voter call happens under one lock.
/// </summary>
internal sealed partial class WitnessArbiter : IArbiter, IArbiterWatch, IOutdatedMarkArbiter, IAsyncDisposable
{
    private readonly HaKitOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IPEndPoint _witness;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly LogAggregator _repeated;
    private readonly string _witnessSendFailure;
    private WitnessVoter? _voter;
    private EnvelopeCodec? _codec;
    private Socket? _socket;
    private Func<ClusterMessage, ValueTask>? _sendOnLinks;
    private long _startTimestamp;
    private Task? _receive;
    private Action<string>? _onFreed;
    private TimeSpan? _unansweredSince;
    private bool _witnessSilent;

    public WitnessArbiter(HaKitOptions options, TimeProvider time, ILogger logger)
    {
        _options = options;
        _time = time;
        _logger = logger;
        _repeated = new LogAggregator(logger, time);
        _witness = IPEndPoint.Parse(options.Arbiter.Witness.Endpoint);
        _witnessSendFailure = $"witness mode: sending to the witness at {_witness} failed";
    }

    /// <inheritdoc />
    public string Name => $"witness {_options.Arbiter.Witness.Name} at {_witness} (majority of {_options.NodeName}, its peer and the witness)";

    /// <summary>The witness's name (a known sender for the node's codec).</summary>
    public string WitnessName => _options.Arbiter.Witness.Name;

    /// <summary>The local endpoint of the witness socket, once attached.</summary>
    public EndPoint? LocalEndpoint => _socket?.LocalEndPoint;

    private TimeSpan Now => _time.GetElapsedTime(_startTimestamp);

    /// <summary>Starts voting: called by the node once its codec exists, before its links start.</summary>
    /// <param name="codec">The node's codec (knows the peer and the witness).</param>
    /// <param name="startTimestamp">The node's start timestamp (its monotonic zero).</param>
    /// <param name="incarnation">The node's incarnation.</param>
    /// <param name="epochs">The node's persisted epochs: its own voter never grants at or below them.</param>
    /// <param name="sendOnLinks">Sends a message to the peer on every link.</param>
    /// <param name="epochRaised">Called (on the lock) when this node's voter granted the peer a higher epoch, to persist it.</param>
    public void Attach(EnvelopeCodec codec, long startTimestamp, ulong incarnation, IReadOnlyDictionary<string, ulong> epochs, Func<ClusterMessage, ValueTask> sendOnLinks, Action<string, ulong> epochRaised)
    {
        _codec = codec;
        _startTimestamp = startTimestamp;
        _sendOnLinks = sendOnLinks;
        var peer = _options.Nodes.Select(n => n.Name).Single(n => n != _options.NodeName);
        var voter = new WitnessVoter(_options.ClusterName, _options.NodeName, peer, WitnessName, _options.Arbiter.LeaseTtl, _options.Arbiter.Witness.RequestTimeout, TimeSpan.Zero, Send, ScheduleTimeout, incarnation, ScheduleFreed);
        foreach (var (group, epoch) in epochs)
        {
            voter.Grantor.Observe(_options.ClusterName, group, epoch);
        }

        voter.Grantor.EpochRaised += (_, group, epoch) => epochRaised(group, epoch);
        var socket = new Socket(_witness.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            var local = _options.Arbiter.Witness.LocalAddress;
            var bind = string.IsNullOrEmpty(local)
                ? new IPEndPoint(_witness.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0)
                : IPEndPoint.Parse(local);
            socket.Bind(bind);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new InvalidOperationException($"HaKit:Arbiter:Witness:LocalAddress = '{_options.Arbiter.Witness.LocalAddress}': cannot bind the witness socket ({ex.Message}); use an address of this machine or leave it empty", ex);
        }

        _socket = socket;
        lock (_gate)
        {
            _voter = voter;
        }

        _receive = Task.Run(() => ReceiveLoopAsync(socket, _stop.Token));
        LogAttached(_logger, _witness.ToString(), socket.LocalEndPoint?.ToString() ?? "?", _options.Arbiter.LeaseTtl.TotalMilliseconds);
    }

    /// <inheritdoc />
    public async ValueTask<ArbiterDecision> RequestAsync(ArbiterRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var answer = new TaskCompletionSource<ArbiterDecision>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_voter is not { } voter)
            {
                return ArbiterDecision.Unreachable("witness voting has not started");
            }

            voter.Ask(Now, request, d => answer.TrySetResult(d));
        }

        ArbiterDecision decision;
        try
        {
            decision = await answer.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return ArbiterDecision.Unreachable("request cancelled");
        }

        // "No majority yet" repeats at every retry while the witness or the peer is unreachable: once in full, then counted.
        var noMajority = $"witness mode: {request.Reason} of group {request.Group} has no majority yet";
        if (decision.Granted)
        {
            _repeated.Recovered(noMajority);
            LogGranted(_logger, request.Group, request.Reason, decision.Explanation);
        }
        else if (decision.Unavailable)
        {
            if (_repeated.Occurred(noMajority, decision.Explanation))
            {
                LogNoMajority(_logger, request.Group, request.Reason, decision.Explanation);
            }
        }
        else
        {
            _repeated.Recovered(noMajority);
            LogRefused(_logger, request.Group, request.Reason, decision.Explanation);
        }

        return decision;
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(string group, string node, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _voter?.Release(group);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Handles a Witness-mode message the node received on a heartbeat link.</summary>
    /// <param name="sender">The authenticated sender.</param>
    /// <param name="message">The message.</param>
    /// <returns>Whether it was accepted.</returns>
    public bool OnMessage(string sender, ClusterMessage message)
    {
        lock (_gate)
        {
            return _voter is { } voter && voter.OnMessage(Now, sender, message);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _voter?.CancelAll();
            _voter = null;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _repeated.Dispose();
        _socket?.Dispose();
        if (_receive is not null)
        {
            try
            {
                await _receive.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        }

        _stop.Dispose();
    }

    /// <summary>Reports groups whose refusing voters' leases have run out (scheduled from the refusals) until cancelled.</summary>
    /// <inheritdoc />
    public async Task WatchAsync(Action<string> onFreed, CancellationToken cancellationToken)
    {
        Volatile.Write(ref _onFreed, onFreed);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, _time, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _onFreed, null);
        }
    }

    private void ScheduleFreed(string group, TimeSpan delay) => After(delay, () => Volatile.Read(ref _onFreed)?.Invoke(group));

    private void ScheduleTimeout(ulong roundId, TimeSpan delay) => After(delay, () =>
    {
        lock (_gate)
        {
            _voter?.Expire(Now, roundId);
        }
    });

    /// <summary>Runs <paramref name="action"/> once after <paramref name="delay"/> on the node's clock.</summary>
    private void After(TimeSpan delay, Action action)
    {
        ITimer? timer = null;
        timer = _time.CreateTimer(
            _ =>
            {
                action();
                timer?.Dispose();
            },
            null,
            delay,
            Timeout.InfiniteTimeSpan);
    }

    // Called under the lock: must not block.
    private void Send(VoteTarget target, ClusterMessage message)
    {
        if (target == VoteTarget.Peer)
        {
            _ = SendToPeerAsync(message);
            return;
        }

        var codec = _codec;
        var socket = _socket;
        if (codec is null || socket is null)
        {
            return;
        }

        if (message.BodyCase == ClusterMessage.BodyOneofCase.VoteRequest)
        {
            var now = Now;
            _unansweredSince ??= now;
            if (!_witnessSilent && now - _unansweredSince.Value > _options.Arbiter.LeaseTtl * 2)
            {
                // The pair alone is the majority now: one more failure (a node, or the link between them) stops the groups.
                _witnessSilent = true;
                LogWitnessSilent(_logger, _witness.ToString(), (now - _unansweredSince.Value).TotalMilliseconds);
            }
        }

        var payload = new byte[message.CalculateSize()];
        PayloadCodec.Write(message, payload);
        var packet = new byte[codec.MaxPacketSize];
        int length;
        try
        {
            length = codec.Encode(payload, packet);
        }
        catch (ArgumentException ex)
        {
            LogSendFailed(_logger, _witness.ToString(), ex.Message);
            return;
        }

        _ = SendToWitnessAsync(socket, packet.AsMemory(0, length));
    }

    private async Task SendToPeerAsync(ClusterMessage message)
    {
        try
        {
            await _sendOnLinks!(message).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException or ArgumentException or OperationCanceledException)
        {
            if (_repeated.Occurred("witness mode: sending to peer failed", ex.Message))
            {
                LogSendFailed(_logger, "peer", ex.Message);
            }
        }
    }

    private async Task SendToWitnessAsync(Socket socket, ReadOnlyMemory<byte> packet)
    {
        try
        {
            await socket.SendToAsync(packet, SocketFlags.None, _witness, _stop.Token).ConfigureAwait(false);
            _repeated.Recovered(_witnessSendFailure);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            if (_repeated.Occurred(_witnessSendFailure, ex.Message))
            {
                LogSendFailed(_logger, _witness.ToString(), ex.Message);
            }
        }
    }

    private async Task ReceiveLoopAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(_witness.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        var message = new ClusterMessage();
        while (!cancellationToken.IsCancellationRequested)
        {
            int length;
            try
            {
                var result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cancellationToken).ConfigureAwait(false);
                length = result.ReceivedBytes;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // ICMP port unreachable (witness down) and the like: keep listening.
                LogReceiveFault(_logger, ex.SocketErrorCode.ToString());
                continue;
            }

            var codec = _codec!;
            if (!codec.TryOpen(buffer.AsSpan(0, length), out var envelope, out _))
            {
                continue; // counted by the codec
            }

            if (envelope.Sender != WitnessName || !PayloadCodec.TryRead(envelope.Payload, message)
                || message.BodyCase is not (ClusterMessage.BodyOneofCase.VoteReply or ClusterMessage.BodyOneofCase.OutdatedMarkReply))
            {
                codec.Stats.RecordDropped(DropReason.Malformed);
                continue;
            }

            if (message.BodyCase == ClusterMessage.BodyOneofCase.OutdatedMarkReply)
            {
                OnMarkReply(message.OutdatedMarkReply.Clone());
                continue;
            }

            // A witness that holds outdated marks says so in every vote reply; one of an earlier release never does.
            Volatile.Write(ref _marksSupported, message.VoteReply.OutdatedMarks ? MarksYes : MarksNo);

            lock (_gate)
            {
                _unansweredSince = null;
                if (_witnessSilent)
                {
                    _witnessSilent = false;
                    LogWitnessBack(_logger, _witness.ToString());
                }
            }

            OnMessage(envelope.Sender, message);
        }
    }

    [LoggerMessage(EventId = 2120, Level = LogLevel.Information, Message = "witness mode: votes go to the peer on every link and to the witness at {Witness} from {Local}; lease {LeaseMs} ms")]
    private static partial void LogAttached(ILogger logger, string witness, string local, double leaseMs);

    [LoggerMessage(EventId = 2121, Level = LogLevel.Debug, Message = "witness mode: {Reason} of group {Group}: {Explanation}")]
    private static partial void LogGranted(ILogger logger, string group, AcquireReason reason, string explanation);

    [LoggerMessage(EventId = 2122, Level = LogLevel.Information, Message = "witness mode: {Reason} of group {Group} refused: {Explanation}")]
    private static partial void LogRefused(ILogger logger, string group, AcquireReason reason, string explanation);

    [LoggerMessage(EventId = 2123, Level = LogLevel.Warning, Message = "witness mode: {Reason} of group {Group} has no majority yet: {Explanation}")]
    private static partial void LogNoMajority(ILogger logger, string group, AcquireReason reason, string explanation);

    [LoggerMessage(EventId = 2124, Level = LogLevel.Debug, Message = "witness mode: sending to {Target} failed: {Error}")]
    private static partial void LogSendFailed(ILogger logger, string target, string error);

    [LoggerMessage(EventId = 2126, Level = LogLevel.Warning, Message = "witness mode: the witness at {Witness} has not answered for {SilentMs:0} ms; the pair alone is the majority now, so losing either node (or the links between them) stops the groups")]
    private static partial void LogWitnessSilent(ILogger logger, string witness, double silentMs);

    [LoggerMessage(EventId = 2127, Level = LogLevel.Information, Message = "witness mode: the witness at {Witness} answers again")]
    private static partial void LogWitnessBack(ILogger logger, string witness);

    [LoggerMessage(EventId = 2125, Level = LogLevel.Debug, Message = "witness mode: witness socket error {Error} (the witness may be down); still listening")]
    private static partial void LogReceiveFault(ILogger logger, string error);
}
