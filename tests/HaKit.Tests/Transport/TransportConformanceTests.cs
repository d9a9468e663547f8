using HaKit.Transport;

namespace HaKit.Tests.Transport;

/// <summary>
/// Behaviour every <see cref="IHeartbeatTransport"/> must show. A derived fixture supplies a connected pair A, B
/// (each one's packets reach the other) and, if needed, how to start a transport.
/// </summary>
public abstract class TransportConformanceTests
{
    protected static readonly TimeSpan WaitLimit = RecordingReceiver.WaitLimit;

    private readonly List<IHeartbeatTransport> _owned = [];

    /// <summary>The maximum packet size the pair was built with.</summary>
    protected abstract int MaxPacketSize { get; }

    /// <summary>Whether delivery is exact (no loss, no reordering, no duplicates), as in memory.</summary>
    protected abstract bool ExactDelivery { get; }

    /// <summary>Creates an unstarted pair whose packets reach each other.</summary>
    protected abstract (IHeartbeatTransport A, IHeartbeatTransport B) CreatePair();

    /// <summary>Starts one transport (override to start it somewhere special, e.g. in a network namespace).</summary>
    protected virtual ValueTask StartTransportAsync(IHeartbeatTransport transport, IPacketReceiver receiver, CancellationToken cancellationToken)
        => transport.StartAsync(receiver, cancellationToken);

    protected sealed record Pair(IHeartbeatTransport A, IHeartbeatTransport B, RecordingReceiver ReceiverA, RecordingReceiver ReceiverB);

    protected (IHeartbeatTransport A, IHeartbeatTransport B) CreateOwnedPair()
    {
        (IHeartbeatTransport a, IHeartbeatTransport b) = CreatePair();
        _owned.Add(a);
        _owned.Add(b);
        return (a, b);
    }

    /// <summary>Registers a transport for disposal in tear-down.</summary>
    protected T Own<T>(T transport)
        where T : IHeartbeatTransport
    {
        _owned.Add(transport);
        return transport;
    }

    protected async Task<Pair> StartPairAsync()
    {
        (IHeartbeatTransport a, IHeartbeatTransport b) = CreateOwnedPair();
        var ra = new RecordingReceiver();
        var rb = new RecordingReceiver();
        using var cts = new CancellationTokenSource(WaitLimit);
        await StartTransportAsync(a, ra, cts.Token);
        await StartTransportAsync(b, rb, cts.Token);
        return new Pair(a, b, ra, rb);
    }

    [TearDown]
    public async Task DisposeOwnedTransportsAsync()
    {
        List<Exception> errors = [];
        foreach (IHeartbeatTransport transport in _owned)
        {
            try
            {
                await transport.DisposeAsync().AsTask().WaitAsync(WaitLimit);
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        }

        _owned.Clear();
        if (errors.Count > 0)
        {
            throw new AggregateException("transport disposal failed", errors);
        }
    }

    [Test]
    public async Task Delivers_exact_bytes_from_A_to_B_and_from_B_to_A()
    {
        Pair p = await StartPairAsync();
        byte[] ab = Payloads.Make('A', 1, 57);
        byte[] ba = Payloads.Make('B', 2, 91);

        await p.A.SendAsync(ab, CancellationToken.None);
        await p.B.SendAsync(ba, CancellationToken.None);

        await p.ReceiverB.WaitForAsync(ab);
        await p.ReceiverA.WaitForAsync(ba);
        Assert.That(p.ReceiverB.Links, Has.All.SameAs(p.B), "packets are reported on the receiving link");
        Assert.That(p.ReceiverA.Links, Has.All.SameAs(p.A));
        Assert.That(p.ReceiverB.Faults, Is.Empty);
        Assert.That(p.ReceiverA.Faults, Is.Empty);
    }

    [Test]
    public async Task Delivers_a_hundred_packets_in_a_row()
    {
        Pair p = await StartPairAsync();
        for (int i = 0; i < 100; i++)
        {
            await p.A.SendAsync(Payloads.Make('A', i, 48), CancellationToken.None);
        }

        await p.ReceiverB.WaitUntilAsync(r => r.Packets.Where(x => Payloads.Sender(x) == 'A').Select(Payloads.Index).Distinct().Count() == 100, "all 100 packets");
        List<int> indexes = [.. p.ReceiverB.Packets.Where(x => Payloads.Sender(x) == 'A').Select(Payloads.Index)];
        Assert.That(indexes.Distinct().Order(), Is.EqualTo(Enumerable.Range(0, 100)));
        Assert.That(p.ReceiverB.Packets.Where(x => Payloads.Sender(x) == 'A'), Has.All.Property("Length").EqualTo(48));
        if (ExactDelivery)
        {
            Assert.That(indexes, Is.EqualTo(Enumerable.Range(0, 100)), "in order, no duplicates");
        }
    }

    [Test]
    public async Task Delivers_a_packet_of_the_maximum_size_intact()
    {
        Pair p = await StartPairAsync();
        byte[] big = Payloads.Make('A', 7, MaxPacketSize);

        await p.A.SendAsync(big, CancellationToken.None);

        await p.ReceiverB.WaitForAsync(big);
        Assert.That(p.ReceiverB.Packets.Single(x => Payloads.Sender(x) == 'A'), Is.EqualTo(big));
    }

    [Test]
    public async Task Rejects_a_packet_larger_than_the_maximum_size()
    {
        Pair p = await StartPairAsync();

        await Assert.ThrowsAsync<ArgumentException>(async () => await p.A.SendAsync(new byte[MaxPacketSize + 1], CancellationToken.None));
    }

    [Test]
    public async Task A_receiver_that_throws_gets_a_fault_and_later_packets()
    {
        Pair p = await StartPairAsync();
        byte[] first = Payloads.Make('A', 0);
        byte[] second = Payloads.Make('A', 1);
        p.ReceiverB.ThrowWhen = x => Payloads.Index(x) == 0;

        await p.A.SendAsync(first, CancellationToken.None);
        await p.ReceiverB.WaitUntilAsync(r => r.Faults.Count > 0, "the receiver's exception reported as a fault");
        await p.A.SendAsync(second, CancellationToken.None);
        await p.ReceiverB.WaitForAsync(second);

        Assert.That(p.ReceiverB.Faults, Has.Exactly(1).InstanceOf<InvalidOperationException>().With.Message.EqualTo("test receiver failure"));
    }

    [Test]
    public async Task After_dispose_nothing_is_delivered_and_dispose_is_idempotent()
    {
        Pair p = await StartPairAsync();
        int sent = 0;
        using var stop = new CancellationTokenSource();
        Task sender = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await p.A.SendAsync(Payloads.Make('A', sent), CancellationToken.None);
                if (Interlocked.Increment(ref sent) % 8 == 0)
                {
                    await Task.Yield();
                }
            }
        });

        try
        {
            // Dispose B while packets are streaming towards it.
            await p.ReceiverB.WaitUntilAsync(r => r.Count >= 5, "packets before dispose");
            await p.B.DisposeAsync().AsTask().WaitAsync(WaitLimit);
            Assert.That(p.ReceiverB.ActiveCallbacks, Is.Zero, "no receive callback is still running once DisposeAsync completed");
            p.ReceiverB.Close();
            int countAtClose = p.ReceiverB.Count;
            int sentAtClose = Volatile.Read(ref sent);
            using var bounded = new CancellationTokenSource(WaitLimit);
            while (Volatile.Read(ref sent) < sentAtClose + 200 && !bounded.IsCancellationRequested && !sender.IsCompleted)
            {
                await Task.Yield();
            }

            await stop.CancelAsync();
            await sender.WaitAsync(WaitLimit);

            Assert.That(Volatile.Read(ref sent), Is.GreaterThanOrEqualTo(sentAtClose + 200), "the sender kept going after the peer was disposed");
            Assert.That(p.ReceiverB.DeliveredAfterClose, Is.Zero);
            Assert.That(p.ReceiverB.Count, Is.EqualTo(countAtClose));
        }
        finally
        {
            await stop.CancelAsync();
        }

        await p.B.DisposeAsync().AsTask().WaitAsync(WaitLimit);
        await Task.WhenAll(p.B.DisposeAsync().AsTask(), p.B.DisposeAsync().AsTask()).WaitAsync(WaitLimit);
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await p.B.SendAsync(Payloads.Make('B', 0), CancellationToken.None));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await p.B.StartAsync(new RecordingReceiver(), CancellationToken.None));
    }

    [Test]
    public async Task Dispose_waits_for_a_running_receive_callback()
    {
        Pair p = await StartPairAsync();
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        p.ReceiverB.OnPacket = (_, _) =>
        {
            entered.Set();
            release.Wait(WaitLimit);
        };

        // Send from another thread: an in-memory send delivers (and so blocks) on the sender's thread.
        Task send = Task.Run(async () => await p.A.SendAsync(Payloads.Make('A', 0), CancellationToken.None));
        Assert.That(entered.Wait(WaitLimit), Is.True, "B's receiver was called");
        Task dispose = p.B.DisposeAsync().AsTask();
        try
        {
            Assert.That(dispose.IsCompleted, Is.False, "dispose must not complete while a receive callback is running");
        }
        finally
        {
            release.Set();
        }

        await dispose.WaitAsync(WaitLimit);
        await send.WaitAsync(WaitLimit);
        Assert.That(p.ReceiverB.ActiveCallbacks, Is.Zero);
        p.ReceiverB.Close();
        await p.A.SendAsync(Payloads.Make('A', 1), CancellationToken.None);
        Assert.That(p.ReceiverB.DeliveredAfterClose, Is.Zero);
    }

    [Test]
    public async Task Dispose_from_inside_the_receive_callback_completes()
    {
        Pair p = await StartPairAsync();
        var disposing = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        p.ReceiverB.OnPacket = (link, _) => disposing.TrySetResult(link.DisposeAsync().AsTask());

        await p.A.SendAsync(Payloads.Make('A', 0), CancellationToken.None);
        Task dispose = await disposing.Task.WaitAsync(WaitLimit);
        await dispose.WaitAsync(WaitLimit);
        for (int i = 1; i <= 20; i++)
        {
            await p.A.SendAsync(Payloads.Make('A', i), CancellationToken.None);
        }

        Assert.That(p.ReceiverB.Packets.Select(Payloads.Index), Is.EqualTo(new[] { 0 }));
    }

    [Test]
    public async Task Sending_after_the_peer_is_gone_does_not_throw()
    {
        Pair p = await StartPairAsync();
        await p.B.DisposeAsync();

        for (int i = 0; i < 20; i++)
        {
            await Assert.DoesNotThrowAsync(async () => await p.A.SendAsync(Payloads.Make('A', i), CancellationToken.None));
        }
    }

    [Test]
    public async Task Send_before_start_and_a_second_start_are_rejected()
    {
        (IHeartbeatTransport a, _) = CreateOwnedPair();

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await a.SendAsync(Payloads.Make('A', 0), CancellationToken.None));

        using var cts = new CancellationTokenSource(WaitLimit);
        await StartTransportAsync(a, new RecordingReceiver(), cts.Token);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await a.StartAsync(new RecordingReceiver(), CancellationToken.None));
    }

    [Test]
    public async Task A_cancelled_send_throws_OperationCanceledException()
    {
        Pair p = await StartPairAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.CatchAsync<OperationCanceledException>(async () => await p.A.SendAsync(Payloads.Make('A', 0), cancelled.Token));
    }
}
