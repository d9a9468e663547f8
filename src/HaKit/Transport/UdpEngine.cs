using System.Net;
using System.Net.Sockets;
using HaKit.Diagnostics;
using HaKit.Wire;
using Microsoft.Extensions.Logging;

namespace HaKit.Transport;

/// <summary>
/// Implemented by a packet receiver that counts the datagrams a transport drops before handing anything over
/// (<see cref="DropReason.UnknownSource"/>, <see cref="DropReason.RateLimited"/>). Called on the link's receive thread; must not block or allocate.
/// </summary>
internal interface IPacketDropSink
{
    /// <summary>One datagram was dropped by <paramref name="link"/> for <paramref name="reason"/>.</summary>
    void OnPacketDropped(IHeartbeatTransport link, DropReason reason);
}

/// <summary>
/// The socket machinery shared by <see cref="UdpUnicastTransport"/> and <see cref="UdpMulticastTransport"/>:
/// one datagram socket, one allocation-free receive loop over a preallocated buffer, and sends to a fixed list of
/// precomputed <see cref="SocketAddress"/> destinations.
/// </summary>
/// <remarks>
/// The socket stays in blocking mode and is only ever used synchronously: the receive loop runs on a dedicated thread
/// (<c>HaKit rx &lt;link&gt;</c>) blocked in <c>recvfrom</c>, and sends are plain <c>sendto</c> calls. A received datagram thus
/// wakes that one thread, which hands it on (for a node: routes it and posts a heartbeat straight to the loop's queue), instead of
/// waking the runtime's socket event thread and then a thread-pool worker for the continuation. An asynchronous operation would
/// put the socket into non-blocking mode for good (and every synchronous call would then wait through the event thread), so none
/// is used. Closing the socket unblocks the receive; dispose waits for the thread, bounded.
/// </remarks>
internal sealed partial class UdpEngine
{
    /// <summary>Receive buffer size: the largest UDP payload fits, so oversized datagrams reach the receiver whole.</summary>
    internal const int ReceiveBufferSize = 64 * 1024;

    /// <summary>Consecutive receive failures after which the loop backs off instead of spinning.</summary>
    private const int FailuresBeforeBackoff = 4;

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(1);

    /// <summary>How long dispose waits for the receive thread to end after closing the socket.</summary>
    private static readonly TimeSpan ReceiveThreadJoinTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The kernel receive buffer asked for (<c>SO_RCVBUFFORCE</c> when privileged, else <c>SO_RCVBUF</c>, which the kernel caps at
    /// <c>net.core.rmem_max</c>): a burst of junk queues in front of a real heartbeat instead of pushing it out.
    /// </summary>
    internal const int SocketReceiveBufferSize = 4 * 1024 * 1024;

    /// <summary>
    /// Datagrams per second parsed from one configured peer address (a token bucket with a one-second burst); more are dropped as
    /// <see cref="DropReason.RateLimited"/> before parsing. A real peer sends a few hundred a second at most (the Fast preset: 67
    /// heartbeats, plus votes and admin messages), so only forged traffic in its name is refused.
    /// </summary>
    internal const int MaxParsedPerSourcePerSecond = 20_000;

    [ThreadStatic]
    private static UdpEngine? t_delivering;

    private readonly IHeartbeatTransport _owner;
    private readonly string _linkName;
    private readonly int _maxPacketSize;
    private readonly ILogger _logger;
    private readonly SocketAddress[] _destinations;
    private readonly EndPoint[] _destinationEndPoints;
    private readonly string[] _sendFailureKeys;
    private readonly string _receiveFailureKey;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _receiveEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Socket? _socket;
    private IPacketReceiver? _receiver;
    private IPEndPoint? _localEndPoint;
    private Thread? _receiveThread;
    private Task? _disposal;
    private LogAggregator? _repeated;
    private volatile bool _disposed;
    private readonly bool _filterSources;
    private readonly uint[]? _members;
    private readonly long[] _tokens;
    private readonly long[] _refilledAt;

    /// <param name="owner">The link (reported to the receiver).</param>
    /// <param name="linkName">The link name.</param>
    /// <param name="maxPacketSize">The largest packet sent.</param>
    /// <param name="destinations">Where every packet goes.</param>
    /// <param name="logger">Optional logger.</param>
    /// <param name="filterSources">
    /// Whether datagrams are accepted only from <paramref name="destinations"/> (unicast: the peers), each at most
    /// <see cref="MaxParsedPerSourcePerSecond"/>; others are dropped before the receiver sees them.
    /// </param>
    /// <param name="memberAddresses">
    /// Multicast: the IPv4 addresses of the group's members (every node's interface on the link); a datagram from any other source address
    /// is dropped as <see cref="DropReason.UnknownSource"/> before the receiver sees it (the kernel cannot filter a multicast socket by
    /// source). <see langword="null"/> or empty: no address filter.
    /// </param>
    public UdpEngine(IHeartbeatTransport owner, string linkName, int maxPacketSize, IReadOnlyList<EndPoint> destinations, ILogger? logger, bool filterSources = false,
        IReadOnlyList<IPAddress>? memberAddresses = null)
    {
        _owner = owner;
        _linkName = linkName;
        _maxPacketSize = maxPacketSize;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _destinationEndPoints = [.. destinations];
        _destinations = new SocketAddress[_destinationEndPoints.Length];
        _sendFailureKeys = new string[_destinationEndPoints.Length];
        _receiveFailureKey = $"Link {linkName}: receive failed";
        for (int i = 0; i < _destinations.Length; i++)
        {
            _destinations[i] = _destinationEndPoints[i].Serialize();
            _sendFailureKeys[i] = $"Link {linkName}: send to {_destinationEndPoints[i]} failed";
        }

        _filterSources = filterSources && _destinations.Length > 0;
        _tokens = new long[_destinations.Length];
        _refilledAt = new long[_destinations.Length];
        Array.Fill(_tokens, MaxParsedPerSourcePerSecond); // a full bucket; the first datagram also refills from timestamp 0
        _members = memberAddresses is { Count: > 0 }
            ? [.. memberAddresses.Where(a => a.AddressFamily == AddressFamily.InterNetwork).Select(a => BitConverter.ToUInt32(a.GetAddressBytes()))]
            : null;

    }

    /// <summary>
    /// Whether the socket is connected to the link's only peer (Linux, a unicast link with one peer): the kernel then drops every
    /// datagram from another address or port before it is queued, so a flood from elsewhere costs this process nothing.
    /// </summary>
    public bool ConnectedToPeer { get; private set; }

    /// <summary>Whether only the configured peers' datagrams are handed over (see the constructor).</summary>
    public bool FiltersSources => _filterSources;

    /// <summary>Time source of the receive loop's back-off after repeated socket failures.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>The bound local endpoint, once started.</summary>
    public IPEndPoint? LocalEndPoint => _localEndPoint;

    /// <summary>Creates the socket on the calling thread with <paramref name="createSocket"/> and starts the receive loop.</summary>
    public void Start(Func<Socket> createSocket, IPacketReceiver receiver, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, _owner);
            if (_socket is not null)
            {
                throw new InvalidOperationException($"link {_linkName}: already started");
            }

            Socket socket = createSocket();
            SizeReceiveBuffer(socket);
            ConnectToSolePeer(socket);
            _localEndPoint = (IPEndPoint?)socket.LocalEndPoint;
            _receiver = receiver;
            _repeated = new LogAggregator(_logger, TimeProvider);
            _socket = socket;
            // Created from the starting thread, so it inherits its scheduling (SCHED_RR under HaKit:RealtimePriority; the heartbeat
            // sender re-applies it to any thread that lacks it).
            _receiveThread = new Thread(() =>
            {
                try
                {
                    ReceiveLoop(socket, receiver);
                }
                finally
                {
                    _receiveEnded.TrySetResult();
                }
            })
            {
                IsBackground = true,
                Name = $"HaKit rx {_linkName}",
            };
            _receiveThread.Start();
        }

        TransportLog.Started(_logger, _linkName, _localEndPoint?.ToString() ?? "?");
    }

    /// <summary>Sends <paramref name="packet"/> to every destination; network errors become faults.</summary>
    /// <remarks>
    /// Synchronous <c>sendto</c> on the blocking socket (a UDP send does not wait for the network; it completes at once unless the
    /// kernel's send buffer is full), so it allocates nothing and never puts the socket into non-blocking mode (see the class remarks).
    /// A socket connected to its only peer (<see cref="ConnectedToPeer"/>) uses <c>send</c> instead, on the connection's cached route.
    /// </remarks>
    public ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, _owner);
        Socket socket = _socket ?? throw new InvalidOperationException($"link {_linkName}: not started; call StartAsync first");
        if (packet.Length > _maxPacketSize)
        {
            throw new ArgumentException($"link {_linkName}: packet of {packet.Length} bytes exceeds the maximum packet size of {_maxPacketSize} bytes", nameof(packet));
        }

        SocketAddress[] destinations = _destinations;
        for (int i = 0; i < destinations.Length; i++)
        {
            try
            {
                // A socket connected to its only peer sends without an address: the kernel then uses the route it keeps for the
                // connection instead of looking the destination up again on every send (about 2 % of an idle loop's CPU here).
                _ = ConnectedToPeer ? socket.Send(packet.Span, SocketFlags.None) : socket.SendTo(packet.Span, SocketFlags.None, destinations[i]);
                _repeated?.Recovered(_sendFailureKeys[i]);
            }
            catch (Exception ex) when (IsHandledSendError(ex, i, cancellationToken, out bool stop))
            {
                if (stop)
                {
                    break;
                }
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Decides what a failed send means: a network error is reported as a fault and the next destination is tried;
    /// a send racing with dispose stops quietly (<paramref name="stop"/>); cancellation and other errors propagate.
    /// </summary>
    private bool IsHandledSendError(Exception error, int index, CancellationToken cancellationToken, out bool stop)
    {
        stop = false;
        if (error is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        if (_disposed && error is ObjectDisposedException or SocketException)
        {
            stop = true;
            return true;
        }

        if (error is SocketException { SocketErrorCode: SocketError.ConnectionRefused } && ConnectedToPeer)
        {
            // A connected socket reports the ICMP port-unreachable of an earlier send (the peer is down): an unconnected socket
            // never sees it, and it is not a fault of this link.
            TransportLog.ReceiveIcmpIgnored(_logger, _linkName, SocketError.ConnectionRefused);
            _receiver?.OnPeerPortUnreachable(_owner, _destinationEndPoints[0]);
            return true;
        }

        if (error is SocketException socketError)
        {
            string destination = _destinationEndPoints[index].ToString() ?? "?";
            LogSendFailed(index, destination, socketError);
            ReportFault(new IOException($"link {_linkName}: send to {destination} failed: {socketError.Message}", socketError));
            return true;
        }

        return false;
    }

    /// <summary>
    /// Logs a failed send once per run (then summaries with counts, see <see cref="LogAggregator"/>): an expected network error
    /// (unreachable, refused, too large, ...) without a stack trace, anything else with it.
    /// </summary>
    private void LogSendFailed(int index, string destination, SocketException error)
    {
        if (_repeated is { } aggregator && !aggregator.Occurred(_sendFailureKeys[index], error.SocketErrorCode.ToString()))
        {
            return;
        }

        if (LogAggregator.IsExpected(error))
        {
            TransportLog.SendFailedExpected(_logger, _linkName, destination, error.SocketErrorCode, error.Message);
        }
        else
        {
            TransportLog.SendFailed(_logger, _linkName, destination, error.SocketErrorCode, error);
        }
    }

    /// <summary>Stops the loop, closes the socket and waits for the loop to end (unless called from the loop itself).</summary>
    public ValueTask DisposeAsync()
    {
        Task disposal;
        lock (_gate)
        {
            if (_disposal is null)
            {
                _disposed = true;
                _disposal = DisposeCoreAsync(_socket, _receiveThread);
            }

            disposal = _disposal;
        }

        // Called from our own receive callback: the loop ends as soon as the callback returns; do not wait for it.
        return t_delivering == this ? ValueTask.CompletedTask : new ValueTask(disposal);
    }

    private async Task DisposeCoreAsync(Socket? socket, Thread? receiveThread)
    {
        _stopping.Cancel();
        _repeated?.Dispose();
        socket?.Dispose(); // unblocks the pending recvfrom (the runtime shuts the socket down first)
        if (receiveThread is not null && t_delivering != this)
        {
            // The receive thread ends as soon as its recvfrom returns (or the receiver's callback does): bounded, so a receiver stuck in
            // its callback cannot hang shutdown. Real time: the thread is real whatever clock the link's back-off uses.
            try
            {
                await _receiveEnded.Task.WaitAsync(ReceiveThreadJoinTimeout, TimeProvider.System).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                TransportLog.ReceiveThreadNotEnded(_logger, _linkName, ReceiveThreadJoinTimeout.TotalMilliseconds);
            }
        }

        if (socket is not null)
        {
            TransportLog.Stopped(_logger, _linkName);
        }
    }

    /// <summary>
    /// Connects a source-filtering socket with exactly one peer to it (Linux only: there a connected UDP socket may still
    /// <c>sendto</c> its peer, and receives only from it). A failed connect (a broadcast peer, say) leaves the socket unconnected,
    /// filtered in <see cref="Admit"/>.
    /// </summary>
    private void ConnectToSolePeer(Socket socket)
    {
        if (!_filterSources || _destinations.Length != 1 || !OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            socket.Connect(_destinationEndPoints[0]);
            ConnectedToPeer = true;
        }
        catch (SocketException ex)
        {
            TransportLog.NotConnected(_logger, _linkName, _destinationEndPoints[0].ToString() ?? "?", ex.SocketErrorCode);
        }
    }

    /// <summary>Asks for a <see cref="SocketReceiveBufferSize"/> kernel buffer: forced when privileged (Linux), else as large as the kernel allows.</summary>
    private void SizeReceiveBuffer(Socket socket)
    {
        const int SolSocket = 1;
        const int SoRcvBufForce = 33;
        try
        {
            if (OperatingSystem.IsLinux())
            {
                try
                {
                    socket.SetRawSocketOption(SolSocket, SoRcvBufForce, BitConverter.GetBytes(SocketReceiveBufferSize));
                    return;
                }
                catch (SocketException)
                {
                    // Not privileged (CAP_NET_ADMIN): the plain option, capped by net.core.rmem_max.
                }
            }

            socket.ReceiveBufferSize = SocketReceiveBufferSize;
        }
        catch (SocketException ex)
        {
            TransportLog.ReceiveBufferNotSized(_logger, _linkName, SocketReceiveBufferSize, ex.SocketErrorCode);
        }
    }

    /// <summary>
    /// Whether a datagram from <paramref name="from"/> may be parsed: from a configured peer and within its rate. Allocation-free;
    /// called only by the receive loop (one thread at a time), so the buckets need no lock.
    /// </summary>
    internal DropReason? Admit(SocketAddress from, long now)
    {
        if (!_filterSources)
        {
            return null;
        }

        ReadOnlySpan<byte> source = from.Buffer.Span[..from.Size];
        SocketAddress[] allowed = _destinations;
        for (int i = 0; i < allowed.Length; i++)
        {
            if (allowed[i].Size == from.Size && source.SequenceEqual(allowed[i].Buffer.Span[..from.Size]))
            {
                return TakeToken(i, now) ? null : DropReason.RateLimited;
            }
        }

        return DropReason.UnknownSource;
    }

    /// <summary>Whether an IPv4 datagram came from one of the multicast group's members (allocation-free: the address is bytes 4-7 of a <c>sockaddr_in</c>).</summary>
    internal bool IsMember(SocketAddress from)
    {
        if (_members is not { } members)
        {
            return true;
        }

        if (from.Family != AddressFamily.InterNetwork || from.Size < 8)
        {
            return false;
        }

        uint source = BitConverter.ToUInt32(from.Buffer.Span.Slice(4, 4));
        return Array.IndexOf(members, source) >= 0;
    }

    private bool TakeToken(int source, long now)
    {
        const long Rate = MaxParsedPerSourcePerSecond;
        long elapsed = now - _refilledAt[source];
        if (elapsed > 0)
        {
            long frequency = TimeProvider.TimestampFrequency;
            long refill = elapsed >= frequency ? Rate : elapsed * Rate / frequency;
            if (refill > 0)
            {
                _tokens[source] = Math.Min(Rate, _tokens[source] + refill);
                // Keep the remainder of a partial token: advance the refill time only by what was credited.
                _refilledAt[source] = refill >= Rate ? now : _refilledAt[source] + (refill * frequency / Rate);
            }
        }

        if (_tokens[source] <= 0)
        {
            return false;
        }

        _tokens[source]--;
        return true;
    }

    private void ReceiveLoop(Socket socket, IPacketReceiver receiver)
    {
        IPacketDropSink? drops = receiver as IPacketDropSink;

        byte[] buffer = GC.AllocateUninitializedArray<byte>(ReceiveBufferSize, pinned: true);
        var from = new SocketAddress(socket.AddressFamily);
        int addressSize = from.Size;
        int consecutiveFailures = 0;

        while (!_disposed)
        {
            int received;
            try
            {
                from.Size = addressSize;
                received = socket.ReceiveFrom(buffer, SocketFlags.None, from);
            }
            catch (Exception) when (_disposed)
            {
                break;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                // ICMP port unreachable from an earlier send (a peer that is down): not a fault of this link. A socket connected
                // to its one peer knows whose port it was: evidence for a crash hint.
                TransportLog.ReceiveIcmpIgnored(_logger, _linkName, ex.SocketErrorCode);
                if (ConnectedToPeer && ex.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    _receiver?.OnPeerPortUnreachable(_owner, _destinationEndPoints[0]);
                }

                continue;
            }
            catch (Exception ex)
            {
                SocketError code = (ex as SocketException)?.SocketErrorCode ?? SocketError.SocketError;
                if (_repeated?.Occurred(_receiveFailureKey, code.ToString()) ?? true)
                {
                    // The first of a run; the aggregator counts the others and writes one summary per interval.
                    if (LogAggregator.IsExpected(ex))
                    {
                        TransportLog.ReceiveFailedExpected(_logger, _linkName, code, ex.Message);
                    }
                    else
                    {
                        TransportLog.ReceiveFailed(_logger, _linkName, code, ex);
                    }
                }
                ReportFault(ex);
                if (++consecutiveFailures >= FailuresBeforeBackoff && !BackOff(consecutiveFailures))
                {
                    break;
                }

                continue;
            }

            if (consecutiveFailures > 0)
            {
                consecutiveFailures = 0;
                _repeated?.Recovered(_receiveFailureKey);
            }
            if (_disposed)
            {
                break;
            }

            _ = FilterAndDeliver(receiver, drops, from, buffer.AsSpan(0, received));
        }
    }

    /// <summary>The source checks (multicast membership, configured peer and its rate), then the hand-over; whether it was delivered.</summary>
    private bool FilterAndDeliver(IPacketReceiver receiver, IPacketDropSink? drops, SocketAddress from, ReadOnlySpan<byte> packet)
    {
        if (_members is not null && !IsMember(from))
        {
            drops?.OnPacketDropped(_owner, DropReason.UnknownSource);
            return false;
        }

        if (_filterSources && AdmitShared(from) is { } dropped)
        {
            drops?.OnPacketDropped(_owner, dropped);
            return false;
        }

        Deliver(receiver, packet);
        return true;
    }


    /// <summary>Waits before the next receive after repeated failures (on the receive thread); <see langword="false"/> when stopping.</summary>
    private bool BackOff(int consecutiveFailures)
    {
        int exponent = Math.Min(consecutiveFailures - FailuresBeforeBackoff, 10);
        TimeSpan delay = TimeSpan.FromMilliseconds(Math.Min(1 << exponent, MaxBackoff.TotalMilliseconds));
        try
        {
            Task.Delay(delay, TimeProvider, _stopping.Token).GetAwaiter().GetResult();
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private void Deliver(IPacketReceiver receiver, ReadOnlySpan<byte> packet)
    {
        t_delivering = this;
        try
        {
            receiver.OnPacketReceived(_owner, packet);
        }
        catch (Exception ex)
        {
            TransportLog.ReceiverThrew(_logger, _linkName, ex);
            ReportFault(ex);
        }
        finally
        {
            t_delivering = null;
        }
    }

    private void ReportFault(Exception error)
    {
        IPacketReceiver? receiver = _receiver;
        if (receiver is null)
        {
            return;
        }

        try
        {
            receiver.OnTransportFault(_owner, error);
        }
        catch (Exception ex)
        {
            TransportLog.FaultHandlerThrew(_logger, _linkName, ex);
        }
    }

    /// <summary>A short, lower-case description of a bind or join failure.</summary>
    internal static string Describe(SocketException error) => error.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use",
        SocketError.AddressNotAvailable => "address not available on this host",
        SocketError.AccessDenied => "permission denied",
        SocketError.AddressFamilyNotSupported => "address family not supported",
        _ => error.Message,
    };
}
