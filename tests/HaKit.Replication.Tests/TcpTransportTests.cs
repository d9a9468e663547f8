using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Google.Protobuf;
using HaKit.Replication.Transport;
using HaKit.Replication.V1;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Replication.Tests;

/// <summary>
/// The TCP protocol's server against connections that are not its peer (junk bytes, an HTTP client, a huge length prefix, a
/// hello for another group or from another node, a first frame that is not a hello, a connection that says nothing: each is
/// refused and counted, its connection closed, and the real stream beside it goes on), and against a peer that goes silent
/// after its hello (pinged while idle, the stream ended after 10 s of silence).
/// </summary>
public sealed class TcpTransportTests : ReplicaTestBase
{
    protected override string DirectoryPrefix => "hakit-repl-tcp-";

    protected override ReplicationProtocol Protocol => ReplicationProtocol.Tcp;

    private static byte[] Framed(Frame frame, bool preamble = true)
    {
        var body = frame.ToByteArray();
        var bytes = new List<byte>();
        if (preamble)
        {
            bytes.AddRange(TcpFrameStream.Preamble.ToArray());
        }

        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, body.Length);
        bytes.AddRange(length);
        bytes.AddRange(body);
        return [.. bytes];
    }

    private static IEnumerable<(string Name, byte[] Bytes)> JunkConnections()
    {
        var random = new Random(7);
        var noise = new byte[4096];
        random.NextBytes(noise);
        yield return ("random bytes", noise);
        yield return ("an HTTP/1.1 request", Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        yield return ("an HTTP/2 preface", Encoding.ASCII.GetBytes("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        var huge = TcpFrameStream.Preamble.ToArray().Concat(new byte[] { 0x0f, 0xff, 0xff, 0xff }).ToArray();
        yield return ("a 256 MiB length before the hello", huge);
        var negative = TcpFrameStream.Preamble.ToArray().Concat(new byte[] { 0xff, 0xff, 0xff, 0xff }).ToArray();
        yield return ("a negative length", negative);
        yield return ("a hello for another group", Framed(new Frame { Hello = new Hello { Group = "other", Node = "a" } }));
        yield return ("a hello from another node", Framed(new Frame { Hello = new Hello { Group = "kv", Node = "mallory" } }));
        yield return ("an ack before any hello", Framed(new Frame { Ack = new Ack { Epoch = 9, Received = 1000, Durable = 1000 } }));
        var garbage = TcpFrameStream.Preamble.ToArray().Concat(new byte[] { 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }).ToArray();
        yield return ("a frame that is not protobuf", garbage);
    }

    /// <summary>Sends <paramref name="bytes"/> to <paramref name="port"/> and reads until the server closes the connection.</summary>
    private static async Task<bool> ClosedByServerAsync(int port, byte[] bytes)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        try
        {
            await client.SendAsync(bytes);
            var buffer = new byte[1024];
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (await client.ReceiveAsync(buffer, SocketFlags.None, bound.Token) > 0)
            {
            }

            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    [Test]
    public async Task Junk_connections_are_refused_counted_and_closed_while_the_real_stream_goes_on()
    {
        int portA = FreePort(), portB = FreePort();
        var options = (string node) => new ReplicationOptions { Group = "kv", Directory = Path.Combine(Root, node), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0 };
        var a = await StartReplicaAsync(options("a"), "a", "b", portA, portB);
        var b = await StartReplicaAsync(options("b"), "b", "a", portB, portA);
        await Wait.UntilAsync(() => a.Store.Log.Status.PeerConnected && b.Store.Log.Status.PeerConnected, "the stream to come up");
        await a.Store.Log.BecomeOwnerAsync(1, CancellationToken.None);
        await a.Store.PutAsync("before", Encoding.UTF8.GetBytes("1"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));

        // b serves (a sorts first and dials): every junk connection goes to b's port.
        var cases = JunkConnections().ToList();
        foreach (var (name, bytes) in cases)
        {
            Assert.That(await ClosedByServerAsync(portB, bytes), Is.True, $"{name}: the server must close the connection");
        }

        await Wait.UntilAsync(() => b.Transport.RefusedConnections == cases.Count, "every junk connection to be counted");
        Assert.That(b.Transport.RefusedConnections, Is.EqualTo(cases.Count));

        // The real stream was never disturbed: a Durable write still needs the peer's disk, and gets it.
        Assert.That(a.Store.Log.Status.PeerConnected && b.Store.Log.Status.PeerConnected, Is.True);
        var position = await a.Store.PutAsync("after", Encoding.UTF8.GetBytes("2"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.That(position.Index, Is.EqualTo(2));
        Assert.That(a.Store.Log.Status.PeerDurable, Is.GreaterThanOrEqualTo(2));
        await Wait.UntilAsync(() => Get(b.Store, "after") == "2", "the standby to apply the write after the junk");
    }

    /// <summary>Node b serving alone on <paramref name="port"/> on <paramref name="time"/> (its peer a would dial it).</summary>
    private async Task<(ReplicatedKvStore Store, ReplicationTransport Transport)> ServeAloneAsync(FakeTimeProvider time, int port)
    {
        var store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions { Group = "kv", Directory = Path.Combine(Root, "b"), SnapshotEveryEntries = 0 });
        Opened.Add(store);
        var transport = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = "b", PeerId = "a", Protocol = ReplicationProtocol.Tcp,
            Listen = new IPEndPoint(IPAddress.Loopback, port), Peer = new IPEndPoint(IPAddress.Loopback, FreePort()),
        }, timeProvider: time);
        transport.Attach(store.Log);
        await transport.StartAsync(CancellationToken.None);
        Opened.Add(transport);
        return (store, transport);
    }

    [Test]
    public async Task A_peer_silent_after_its_hello_is_pinged_and_its_stream_ended_after_ten_seconds()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var port = FreePort();
        var (store, _) = await ServeAloneAsync(time, port);

        // A peer a that says hello and then nothing, as a frozen process whose kernel still answers TCP.
        using var peer = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await peer.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await peer.SendAsync(Framed(new Frame { Hello = new Hello { Group = "kv", Node = "a" } }));
        var frames = new TcpFrameStream(new NetworkStream(peer, ownsSocket: false), 1 << 20);
        Assert.That(await frames.MoveNext(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(frames.Current.KindCase, Is.EqualTo(Frame.KindOneofCase.Hello));
        await Wait.UntilAsync(() => store.Log.Status.PeerConnected, "b to take the stream as its peer's");

        // Idle: b pings after 2.5 s (the ping is counted by the reader and not returned as a frame).
        var next = frames.MoveNext(CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(2.5));
        await Wait.UntilAsync(() => frames.FramesRead >= 2, "b's ping");
        Assert.That(next.IsCompleted, Is.False, "a ping is not a frame for the log");

        // 7.5 s: still connected; at 10 s of silence b ends the stream and its log hears the peer is down.
        time.Advance(TimeSpan.FromSeconds(5));
        await Task.Delay(200);
        Assert.That(store.Log.Status.PeerConnected, Is.True, "7.5 s of silence is not yet a dead peer");
        time.Advance(TimeSpan.FromSeconds(2.5));
        Assert.That(await next.WaitAsync(TimeSpan.FromSeconds(10)), Is.False, "b closed the stream");
        await Wait.UntilAsync(() => !store.Log.Status.PeerConnected, "b's log to hear that its peer is down");
    }

    [Test]
    public async Task A_Tcp_dialer_facing_a_Grpc_peer_says_so_once_and_nothing_replicates()
    {
        int portA = FreePort(), portB = FreePort();
        var logs = new HaKit.Etcd.Tests.LogSink();
        using var loggers = new LoggerFactory([logs]);
        var options = (string node) => new ReplicationOptions { Group = "kv", Directory = Path.Combine(Root, node), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0 };
        var a = await ReplicatedKvStore.OpenAsync(options("a"));
        Opened.Add(a);
        var b = await ReplicatedKvStore.OpenAsync(options("b"));
        Opened.Add(b);
        ReplicationTransport Transport(string node, string peer, int port, int peerPort, ReplicationProtocol protocol, ILoggerFactory? logging) => new(new ReplicationTransportOptions
        {
            NodeId = node, PeerId = peer, Protocol = protocol, ReconnectDelay = TimeSpan.FromMilliseconds(50),
            Listen = new IPEndPoint(IPAddress.Loopback, port), Peer = new IPEndPoint(IPAddress.Loopback, peerPort),
        }, logging);

        // a (the dialer) speaks Tcp, b serves gRPC: a misconfigured pair.
        var ta = Transport("a", "b", portA, portB, ReplicationProtocol.Tcp, loggers);
        var tb = Transport("b", "a", portB, portA, ReplicationProtocol.Grpc, null);
        ta.Attach(a.Log);
        tb.Attach(b.Log);
        await tb.StartAsync(CancellationToken.None);
        Opened.Add(tb);
        await ta.StartAsync(CancellationToken.None);
        Opened.Add(ta);

        // Many attempts (50 ms apart): the stream never comes up, and a says why once (then sums up every 10 s).
        await Wait.UntilAsync(() => logs.Entries.Any(e => e.EventId == 7042), "a's handshake warning");
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.That(a.Log.Status.PeerConnected || b.Log.Status.PeerConnected, Is.False);
        var warnings = logs.Entries.Where(e => e.EventId == 7042).ToList();
        Assert.That(warnings, Has.Count.EqualTo(1), "said once, not per attempt");
        Assert.That(warnings[0].Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(warnings[0].Text, Does.Contain("Group kv").And.Contain($"127.0.0.1:{portB}").And.Contain("same Replication:Protocol"));
    }

    [Test]
    public async Task A_connection_that_says_nothing_is_refused_after_the_handshake_timeout()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var port = FreePort();
        var (_, transport) = await ServeAloneAsync(time, port);

        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var closed = silent.ReceiveAsync(new byte[16], SocketFlags.None);
        time.Advance(TimeSpan.FromSeconds(4));
        await Task.Delay(200);
        Assert.That(closed.IsCompleted, Is.False, "4 s of silence: still waiting for the hello");
        Assert.That(transport.RefusedConnections, Is.Zero);

        // The server's handshake timer may be created only after the first advance: step on until it fires (bounded).
        for (var i = 0; i < 50 && !closed.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(closed, Task.Delay(100));
        }

        Assert.That(await closed.WaitAsync(TimeSpan.FromSeconds(5)), Is.Zero, "the server closes the silent connection");
        Assert.That(transport.RefusedConnections, Is.EqualTo(1));
    }
}
