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
            await received.WaitUntilAsync(_ => !threads.IsEmpty, "the callback");
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
            await received.WaitUntilAsync(_ => threads.Count >= 2, "the second callback");
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
}
