using HaKit.Ownership;
using HaKit.Transport;
using HaKit.Wire;
using HaKit.Wire.Proto;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// The node's heartbeat links and its wire layer: the key ring and the envelope codec of this incarnation, and sending (one envelope
/// per link: every link carries its own sequence number).
/// </summary>
internal sealed class NodeLinks(HaKitOptions options, IReadOnlyList<IHeartbeatTransport> transports, HaKitMetrics metrics, ILogger logger) : IHeartbeatLinks
{
    private readonly byte[][] _sendBuffers = transports.Select(_ => new byte[options.MaxPacketSize]).ToArray();
    private readonly byte[] _payloadBuffer = new byte[options.MaxPacketSize];
    private readonly byte[] _repeatBuffer = new byte[options.MaxPacketSize];
    private HeartbeatSender? _sender;
    private AuthKeyRing? _keys;
    private volatile bool _closed;

    /// <summary>The links.</summary>
    public IReadOnlyList<IHeartbeatTransport> Transports => transports;

    /// <summary>Packet counters of the current incarnation.</summary>
    public WireStats Stats { get; private set; } = new();

    /// <summary>The codec of the current incarnation (after <see cref="OpenCodec"/>).</summary>
    public EnvelopeCodec? Codec { get; private set; }

    /// <summary>Creates the key ring, fresh counters and the codec for this incarnation.</summary>
    /// <param name="incarnation">This process's incarnation.</param>
    /// <param name="senders">Who may send to this node (the nodes, and the witness in Witness mode).</param>
    public EnvelopeCodec OpenCodec(ulong incarnation, IReadOnlyList<string> senders)
    {
        _keys = new AuthKeyRing(options.Auth);
        Stats = new WireStats();
        Codec = new EnvelopeCodec(options.ClusterName, options.NodeName, senders, incarnation, _keys, options.MaxPacketSize, Stats);
        return Codec;
    }

    /// <summary>Starts every link; packets go to <paramref name="receiver"/>.</summary>
    public async Task StartAsync(IPacketReceiver receiver, CancellationToken cancellationToken)
    {
        foreach (var t in transports)
        {
            await t.StartAsync(receiver, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The heartbeat sender thread, once started (only when there is a UDP link).</summary>
    internal HeartbeatSender? Sender => _sender;

    /// <summary>
    /// Starts the <see cref="HeartbeatSender"/> thread for the UDP links (after <see cref="OpenCodec"/> and <see cref="StartAsync"/>):
    /// it repeats the loop's last heartbeat when the loop is late, and falls silent when the loop is frozen.
    /// </summary>
    public void StartSender(TimeProvider time, long startTimestamp, Func<long> loopStep)
    {
        var udp = transports.Where(t => t is UdpTransportBase).ToArray();
        if (udp.Length == 0 || Codec is null)
        {
            return;
        }

        _sender = new HeartbeatSender(udp, Codec, options.MaxPacketSize, HeartbeatRepeatRule.For(options.Timing), time, startTimestamp, loopStep,
            options.RealtimePriority, metrics, logger, options.Timing.EffectiveTickInterval, HeartbeatSender.BackupPeriod(options.Timing));
        _sender.Start();
    }

    /// <summary>Delivers the datagrams already queued on the UDP links' sockets, at most <paramref name="maxPerLink"/> each, on the calling thread (the loop, see <see cref="NodeLoop.DrainBeforeTick"/>).</summary>
    /// <param name="maxPerLink">The most datagrams to take from one link.</param>
    /// <returns>How many were delivered.</returns>
    public int DrainPending(int maxPerLink)
    {
        var delivered = 0;
        foreach (var t in transports)
        {
            if (t is UdpTransportBase udp)
            {
                delivered += udp.DrainPending(maxPerLink);
            }
        }

        return delivered;
    }

    /// <summary>Sends a heartbeat on every link (on the loop).</summary>
    public async ValueTask SendHeartbeatAsync(HeartbeatMessage message, CancellationToken cancellationToken)
    {
        var proto = HeartbeatMapper.ToProto(message);
        int payloadLength;
        try
        {
            payloadLength = PayloadCodec.Write(proto, _payloadBuffer);
        }
        catch (ArgumentException ex)
        {
            RuntimeLog.LoopError(logger, new InvalidOperationException($"heartbeat does not fit HaKit:MaxPacketSize ({options.MaxPacketSize} bytes); raise it or use fewer groups", ex));
            return;
        }

        for (var i = 0; i < transports.Count; i++)
        {
            // One envelope per link: every link carries its own sequence number.
            var length = Codec!.Encode(_payloadBuffer.AsSpan(0, payloadLength), _sendBuffers[i]);
            await transports[i].SendAsync(_sendBuffers[i].AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            metrics.HeartbeatSent(transports[i].LinkName);
            if (proto.Heartbeat.Probe && transports[i] is IPeerPortCheck check)
            {
                // A crash hint's probe: a peer whose process is gone may have refused it already (loopback, namespaces of one host).
                check.TakePendingPortUnreachable();
            }
        }

        if (_sender is { } sender)
        {
            if (proto.Heartbeat.Probe)
            {
                // A repeat proves life only: it must not ask the peer for another answer.
                proto.Heartbeat.Probe = false;
                sender.Sent(_repeatBuffer.AsSpan(0, PayloadCodec.Write(proto, _repeatBuffer)));
            }
            else
            {
                sender.Sent(_payloadBuffer.AsSpan(0, payloadLength));
            }
        }
    }

    /// <summary>Witness mode: a vote message to the peer, one envelope per link (called from any thread; nothing once closed).</summary>
    public async ValueTask SendOnLinksAsync(ClusterMessage message)
    {
        var codec = Codec;
        if (codec is null || _closed)
        {
            return;
        }

        var payload = new byte[message.CalculateSize()];
        PayloadCodec.Write(message, payload);
        foreach (var link in transports)
        {
            var packet = new byte[options.MaxPacketSize];
            var length = codec.Encode(payload, packet);
            await link.SendAsync(packet.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Sends nothing more (the loop has stopped).</summary>
    public void Close()
    {
        _closed = true;
        _sender?.Stop();
    }

    /// <summary>Stops and disposes every link.</summary>
    public async ValueTask DisposeTransportsAsync()
    {
        foreach (var t in transports)
        {
            await t.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Disposes the key ring.</summary>
    public void DisposeKeys()
    {
        _sender?.Dispose();
        _keys?.Dispose();
    }
}
