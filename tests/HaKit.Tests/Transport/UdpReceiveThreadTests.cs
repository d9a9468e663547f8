using System.Diagnostics;
using System.Net;
using HaKit.Transport;

namespace HaKit.Tests.Transport;

/// <summary>
/// The UDP link receives on a dedicated thread blocked in <c>recvfrom</c> (issue 13, cheap idle): one wake-up per datagram, no
/// thread-pool hop, and closing the link ends the thread.
/// </summary>
[TestFixture]
public sealed class UdpReceiveThreadTests
{
    [Test]
    public async Task A_datagram_is_handed_over_on_the_links_own_receive_thread_and_dispose_ends_that_thread()
    {
        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        var endA = new IPEndPoint(IPAddress.Loopback, pa);
        var endB = new IPEndPoint(IPAddress.Loopback, pb);
        var a = new UdpUnicastTransport("lan0", endA, [endB], 1400);
        var b = new UdpUnicastTransport("lan0", endB, [endA], 1400);
        var received = new RecordingReceiver();
        var threads = new System.Collections.Concurrent.ConcurrentQueue<Thread>();
        received.OnPacket = (_, _) => threads.Enqueue(Thread.CurrentThread);
        try
        {
            await a.StartAsync(new RecordingReceiver(), CancellationToken.None);
            await b.StartAsync(received, CancellationToken.None);
            var payload = Payloads.Make('a', 1);
            await a.SendAsync(payload, CancellationToken.None);
            await received.WaitForAsync(payload);
            await Until(() => !threads.IsEmpty, "the callback"); // OnPacket runs after the packet is recorded and signalled
            Assert.That(threads.TryPeek(out var deliveredOn), Is.True);
            Assert.Multiple(() =>
            {
                Assert.That(deliveredOn!.Name, Is.EqualTo("HaKit rx lan0"), "the link's own thread");
                Assert.That(deliveredOn.IsThreadPoolThread, Is.False, "not a thread-pool continuation");
                Assert.That(deliveredOn.IsBackground, Is.True, "does not keep the process alive");
            });

            // Later datagrams come on the same thread (one thread per link, not one per receive).
            var second = Payloads.Make('a', 2);
            await a.SendAsync(second, CancellationToken.None);
            await received.WaitForAsync(second);
            await Until(() => threads.Count >= 2, "the second callback");
            Assert.That(threads.ToArray(), Is.All.SameAs(deliveredOn));

            var closing = Stopwatch.StartNew();
            await b.DisposeAsync().AsTask().WaitAsync(RecordingReceiver.WaitLimit);
            Assert.That(deliveredOn!.Join(TimeSpan.FromSeconds(1)), Is.True, "closing the socket unblocked the receive and the thread ended");
            Assert.That(closing.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)), "no wait for a receive timeout");
        }
        finally
        {
            await a.DisposeAsync().AsTask().WaitAsync(RecordingReceiver.WaitLimit);
            await b.DisposeAsync().AsTask().WaitAsync(RecordingReceiver.WaitLimit);
        }
    }

    [Test]
    public async Task A_link_disposed_from_its_own_receive_callback_does_not_wait_for_itself()
    {
        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        var endA = new IPEndPoint(IPAddress.Loopback, pa);
        var endB = new IPEndPoint(IPAddress.Loopback, pb);
        var a = new UdpUnicastTransport("lan0", endA, [endB], 1400);
        var b = new UdpUnicastTransport("lan0", endB, [endA], 1400);
        var received = new RecordingReceiver();
        var disposedInCallback = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        received.OnPacket = (link, _) => disposedInCallback.TrySetResult(link.DisposeAsync().IsCompleted);
        try
        {
            await a.StartAsync(new RecordingReceiver(), CancellationToken.None);
            await b.StartAsync(received, CancellationToken.None);
            await a.SendAsync(Payloads.Make('a', 1), CancellationToken.None);
            Assert.That(await disposedInCallback.Task.WaitAsync(RecordingReceiver.WaitLimit), Is.True, "dispose from the callback returns at once");
        }
        finally
        {
            await a.DisposeAsync().AsTask().WaitAsync(RecordingReceiver.WaitLimit);
            await b.DisposeAsync().AsTask().WaitAsync(RecordingReceiver.WaitLimit);
        }
    }

    [Test]
    public async Task While_the_receive_thread_is_held_up_a_drain_on_another_thread_delivers_what_is_queued_through_the_same_filters()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("the non-blocking drain (MSG_DONTWAIT) is Linux only");
        }

        (int pa, int pb) = UdpPorts.TwoFree(IPAddress.Loopback);
        var endA = new IPEndPoint(IPAddress.Loopback, pa);
        var endB = new IPEndPoint(IPAddress.Loopback, pb);
        var a = new UdpUnicastTransport("lan0", endA, [endB], 1400);
        var endC = new IPEndPoint(IPAddress.Loopback, UdpPorts.TwoFree(IPAddress.Loopback).Item1); // a second peer: b's socket is not connected, its own filter runs
        var b = new UdpUnicastTransport("lan0", endB, [endA, endC], 1400);
        using var stranger = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        stranger.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var holdUp = new ManualResetEventSlim(false);
        var received = new RecordingReceiver();
        var drainedOn = new System.Collections.Concurrent.ConcurrentQueue<int>();
        received.OnPacket = (_, _) =>
        {
            if (Thread.CurrentThread.Name == "HaKit rx lan0")
            {
                holdUp.Wait(TimeSpan.FromSeconds(10)); // the receive thread stands still, as on a stopped virtual CPU
            }
            else
            {
                drainedOn.Enqueue(Environment.CurrentManagedThreadId);
            }
        };
        try
        {
            await a.StartAsync(new RecordingReceiver(), CancellationToken.None);
            await b.StartAsync(received, CancellationToken.None);
            await a.SendAsync(Payloads.Make('a', 1), CancellationToken.None);
            await received.WaitUntilAsync(r => r.Count >= 1, "the first datagram, which holds the receive thread up");
            Assert.That(b.DrainPending(64), Is.Zero, "nothing queued yet");

            stranger.SendTo(Payloads.Make('x', 9), endB); // not from a peer: dropped by the source filter, never delivered
            await a.SendAsync(Payloads.Make('a', 2), CancellationToken.None);
            await a.SendAsync(Payloads.Make('a', 3), CancellationToken.None);
            await Task.Delay(50);
            var delivered = b.DrainPending(64);

            Assert.Multiple(() =>
            {
                Assert.That(delivered, Is.EqualTo(2), "the peer's two queued datagrams");
                Assert.That(drainedOn, Has.All.EqualTo(Environment.CurrentManagedThreadId), "delivered on the calling thread");
                Assert.That(received.Count, Is.EqualTo(3), "the stranger's datagram went through the source filter and was dropped");
                Assert.That(b.DrainPending(64), Is.Zero, "the queue is empty afterwards, and the call does not wait");
            });
        }
        finally
        {
            holdUp.Set();
            await a.DisposeAsync().AsTask().WaitAsync(RecordingReceiver.WaitLimit);
            await b.DisposeAsync().AsTask().WaitAsync(RecordingReceiver.WaitLimit);
        }
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > RecordingReceiver.WaitLimit)
            {
                Assert.Fail($"timed out after {RecordingReceiver.WaitLimit.TotalSeconds} s waiting for {what}");
            }

            await Task.Delay(5);
        }
    }
}
