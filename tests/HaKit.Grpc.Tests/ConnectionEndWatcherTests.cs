using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace HaKit.Grpc.Tests;

/// <summary>
/// The connection-end watcher of the gRPC link's dialer (<see cref="ConnectionEndWatcher"/>), on real loopback sockets: it reports
/// a peer's FIN or reset on the watched connection from its own thread, once, reads nothing, and stays silent for a socket that was
/// forgotten or replaced; and its refusal probe tells a closed port from a listening one.
/// </summary>
[TestFixture]
public sealed class ConnectionEndWatcherTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    [SetUp]
    public void LinuxOnly()
    {
        if (!ConnectionEndWatcher.IsSupported)
        {
            Assert.Ignore("the watcher needs Linux (poll with POLLRDHUP)");
        }
    }

    /// <summary>A connected pair: the client end (watched) and the server's accepted end (closed by the test as a dying peer would).</summary>
    private static (Socket Client, Socket Server) Pair()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        return (client, listener.Accept());
    }

    [TestCase(false, TestName = "The_peer_closing_its_end_is_reported_once_without_a_byte_being_read_fin")]
    [TestCase(true, TestName = "The_peer_closing_its_end_is_reported_once_without_a_byte_being_read_reset")]
    public void The_peer_closing_its_end_is_reported_once_without_a_byte_being_read(bool reset)
    {
        var (client, server) = Pair();
        var ended = new BlockingCollection<(Socket Socket, int ThreadId)>();
        using var watcher = new ConnectionEndWatcher("test watcher", s => ended.Add((s, Environment.CurrentManagedThreadId)));
        using (client)
        {
            watcher.Watch(client);
            server.Send("last words"u8);
            Assert.That(ended.TryTake(out _, TimeSpan.FromMilliseconds(200)), Is.False, "data arriving is not an end");

            if (reset)
            {
                server.LingerState = new LingerOption(true, 0); // close with RST, as a kernel does for a socket with unread data
            }

            server.Dispose();
            Assert.That(ended.TryTake(out var end, Bound), Is.True, "the end was reported within the bound");
            Assert.That(end.Socket, Is.SameAs(client));
            Assert.That(end.ThreadId, Is.Not.EqualTo(Environment.CurrentManagedThreadId), "on the watcher's own thread");
            if (!reset)
            {
                Assert.That(client.Available, Is.EqualTo(10), "the watcher read nothing: the data is still there for the HTTP/2 client");
            }

            Assert.That(ended.TryTake(out _, TimeSpan.FromMilliseconds(200)), Is.False, "reported once, not on every wake-up");
        }
    }

    [Test]
    public void A_forgotten_socket_is_not_reported_and_a_replaced_one_gives_way_to_the_new_one()
    {
        var (first, firstServer) = Pair();
        var (second, secondServer) = Pair();
        var ended = new BlockingCollection<Socket>();
        using var watcher = new ConnectionEndWatcher("test watcher", ended.Add);
        using (first)
        using (second)
        {
            watcher.Watch(first);
            watcher.Forget(first); // its owner disposes it (the HTTP/2 client closed the connection itself)
            firstServer.Dispose();
            Assert.That(ended.TryTake(out _, TimeSpan.FromMilliseconds(300)), Is.False, "a forgotten socket's end is no news");

            var (third, thirdServer) = Pair();
            using (third)
            {
                watcher.Watch(third);
                watcher.Watch(second); // a new connection replaces the old one
                thirdServer.Dispose();
                Assert.That(ended.TryTake(out _, TimeSpan.FromMilliseconds(300)), Is.False, "a replaced socket's end is no news");
                secondServer.Dispose();
                Assert.That(ended.TryTake(out var end, Bound), Is.True);
                Assert.That(end, Is.SameAs(second));
            }
        }
    }

    [Test]
    public void Disposing_the_watcher_stops_its_thread_promptly_even_while_it_watches()
    {
        var (client, server) = Pair();
        using (client)
        using (server)
        {
            var ended = 0;
            var watcher = new ConnectionEndWatcher("test watcher", _ => Interlocked.Increment(ref ended));
            watcher.Watch(client);
            var disposed = Task.Run(watcher.Dispose);
            Assert.That(disposed.Wait(Bound), Is.True, "dispose wakes the thread and joins it");
            server.Shutdown(SocketShutdown.Both);
            Assert.That(Volatile.Read(ref ended), Is.EqualTo(0), "nothing is reported after dispose");
        }
    }

    [Test]
    public void A_probe_accepted_by_a_listener_that_closes_before_accepting_it_counts_as_refused()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(4);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;

        // The dying process's kernel closes the listener just after the probe was queued on it (never accepted by the process).
        var closer = Task.Run(async () =>
        {
            await Task.Delay(20);
            listener.Dispose();
        });
        var (refused, seen) = ConnectionEndWatcher.ProbeRefused(endPoint, Bound, TimeSpan.FromSeconds(2));
        closer.Wait(Bound);
        Assert.That(refused, Is.True, seen);
        Assert.That(seen, Is.EqualTo("accepted, then reset by a closing listener"));
    }

    [Test]
    public void A_probe_accepted_by_a_live_server_that_keeps_it_is_not_refused()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(4);
        var accepted = listener.AcceptAsync();
        var (refused, seen) = ConnectionEndWatcher.ProbeRefused((IPEndPoint)listener.LocalEndPoint!, Bound, TimeSpan.FromMilliseconds(100));
        Assert.That(refused, Is.False);
        Assert.That(seen, Is.EqualTo("accepted"));
        accepted.Result.Dispose();
    }

    [Test]
    public void The_warm_up_meets_a_refusal_and_a_closing_listener_as_a_crash_does() =>
        Assert.That(ConnectionEndWatcher.WarmUp(), Is.True, "both probes answered as they do after a SIGKILL");

    [Test]
    public void The_probe_tells_a_closed_port_from_a_listening_one()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var open = (IPEndPoint)listener.LocalEndPoint!;
        Assert.That(ConnectionEndWatcher.ProbeRefused(open, Bound, TimeSpan.FromMilliseconds(50)), Is.EqualTo((false, "accepted")));

        listener.Dispose(); // nothing listens on the port any more: the kernel refuses
        var (refused, seen) = ConnectionEndWatcher.ProbeRefused(open, Bound, TimeSpan.FromMilliseconds(50));
        Assert.That(refused, Is.True, seen);
        Assert.That(seen, Is.EqualTo(nameof(SocketError.ConnectionRefused)));
    }
}
