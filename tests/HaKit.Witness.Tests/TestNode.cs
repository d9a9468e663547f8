using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Witness.Tests;

/// <summary>A node's side of the witness protocol over real UDP on loopback: signs requests, opens replies. Every wait is bounded.</summary>
internal sealed class TestNode : IDisposable
{
    public static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(5);

    private readonly Socket _socket;
    private readonly AuthKeyRing _keys;
    private ulong _nextRequestId = 1;

    public TestNode(string cluster, string name, string secret, IReadOnlyList<string>? acceptFrom = null, ulong incarnation = 1)
    {
        Name = name;
        _keys = new AuthKeyRing(new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = secret }], SendKeyId = 1 });
        var known = new List<string>(acceptFrom ?? ["witness"]) { name };
        Codec = new EnvelopeCodec(cluster, name, known, incarnation, _keys, 1400, Stats);
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
    }

    public string Name { get; }

    public EnvelopeCodec Codec { get; }

    public WireStats Stats { get; } = new();

    public byte[] Sign(IMessage body)
    {
        var message = body switch
        {
            VoteRequest r => new ClusterMessage { VoteRequest = r },
            VoteRelease r => new ClusterMessage { VoteRelease = r },
            OutdatedMarkRequest r => new ClusterMessage { OutdatedMarkRequest = r },
            Heartbeat h => new ClusterMessage { Heartbeat = h },
            ClusterMessage m => m,
            _ => throw new ArgumentException("unsupported body", nameof(body)),
        };
        var packet = new byte[1400];
        var length = Codec.Encode(message.ToByteArray(), packet);
        return packet[..length];
    }

    public VoteRequest Request(string group, ulong epoch, uint ttlMs = 3000, bool renew = false) =>
        new() { RequestId = _nextRequestId++, Group = group, Epoch = epoch, TtlMs = ttlMs, Renew = renew };

    public void Send(IPEndPoint witness, byte[] packet) => _socket.SendTo(packet, witness);

    /// <summary>Sends a request and waits (bounded) for the reply carrying its request id.</summary>
    public async Task<VoteReply> AskAsync(IPEndPoint witness, string group, ulong epoch, uint ttlMs = 3000, bool renew = false)
    {
        var request = Request(group, epoch, ttlMs, renew);
        Send(witness, Sign(request));
        var reply = await ReceiveAsync(ReplyTimeout) ?? throw new TimeoutException($"{Name}: no reply from the witness within {ReplyTimeout}");
        Assert.That(reply.RequestId, Is.EqualTo(request.RequestId), "the reply answers the request just sent (earlier datagrams got no reply)");
        Assert.That(reply.Group, Is.EqualTo(group));
        Assert.That(reply.To, Is.EqualTo(Name));
        return reply;
    }

    public void Release(IPEndPoint witness, string group, ulong epoch) => Send(witness, Sign(new VoteRelease { Group = group, Epoch = epoch }));

    /// <summary>Sends an outdated-mark request and waits (bounded) for the reply carrying its request id.</summary>
    public async Task<OutdatedMarkReply> MarkAsync(IPEndPoint witness, OutdatedMarkOp op, string group, string node, long epoch = 0, long index = 0)
    {
        var request = new OutdatedMarkRequest { RequestId = _nextRequestId++, Group = group, Node = node, Op = op, Epoch = epoch, Index = index };
        Send(witness, Sign(request));
        var message = await ReceiveMessageAsync(ReplyTimeout) ?? throw new TimeoutException($"{Name}: no reply from the witness within {ReplyTimeout}");
        Assert.That(message.BodyCase, Is.EqualTo(ClusterMessage.BodyOneofCase.OutdatedMarkReply));
        var reply = message.OutdatedMarkReply;
        Assert.That(reply.RequestId, Is.EqualTo(request.RequestId), "the reply answers the request just sent");
        Assert.That(reply.Group, Is.EqualTo(group));
        Assert.That(reply.Node, Is.EqualTo(node));
        return reply;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for one authentic reply; null when none came.</summary>
    public async Task<VoteReply?> ReceiveAsync(TimeSpan timeout)
    {
        var message = await ReceiveMessageAsync(timeout);
        if (message is null)
        {
            return null;
        }

        Assert.That(message.BodyCase, Is.EqualTo(ClusterMessage.BodyOneofCase.VoteReply), "the witness answers votes with vote replies");
        return message.VoteReply;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for one authentic message; null when none came.</summary>
    public async Task<ClusterMessage?> ReceiveMessageAsync(TimeSpan timeout)
    {
        var buffer = new byte[64 * 1024];
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            int received;
            try
            {
                var result = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                received = result.ReceivedBytes;
            }
            catch (OperationCanceledException)
            {
                return null;
            }

            if (!Codec.TryOpen(buffer.AsSpan(0, received), out var envelope, out _))
            {
                continue;
            }

            return ClusterMessage.Parser.ParseFrom(envelope.Payload);
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _keys.Dispose();
    }
}
