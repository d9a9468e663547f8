using HaKit.Transport;

namespace HaKit.Tests.Transport;

/// <summary>A test <see cref="IPacketReceiver"/> that records packets and faults and lets a test wait for them (bounded).</summary>
public sealed class RecordingReceiver : IPacketReceiver
{
    /// <summary>Default bound of every wait.</summary>
    public static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(5);

    private readonly object _gate = new();
    private readonly List<(IHeartbeatTransport Link, byte[] Packet)> _packets = [];
    private readonly List<Exception> _faults = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _closed;
    private int _afterClose;
    private int _active;

    /// <summary>Throw a test exception from <see cref="OnPacketReceived"/> when this returns true for a packet.</summary>
    public Func<byte[], bool>? ThrowWhen { get; set; }

    /// <summary>Called for every packet, after it was recorded.</summary>
    public Action<IHeartbeatTransport, byte[]>? OnPacket { get; set; }

    /// <summary>Thread id of the last delivery.</summary>
    public int LastThreadId { get; private set; }

    /// <summary>Receive callbacks running right now.</summary>
    public int ActiveCallbacks => Volatile.Read(ref _active);

    /// <summary>Deliveries that happened after <see cref="Close"/>.</summary>
    public int DeliveredAfterClose => Volatile.Read(ref _afterClose);

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _packets.Count;
            }
        }
    }

    public IReadOnlyList<byte[]> Packets
    {
        get
        {
            lock (_gate)
            {
                return _packets.Select(p => p.Packet).ToList();
            }
        }
    }

    public IReadOnlyList<IHeartbeatTransport> Links
    {
        get
        {
            lock (_gate)
            {
                return _packets.Select(p => p.Link).ToList();
            }
        }
    }

    public IReadOnlyList<Exception> Faults
    {
        get
        {
            lock (_gate)
            {
                return [.. _faults];
            }
        }
    }

    /// <summary>From now on every delivery counts as a violation (<see cref="DeliveredAfterClose"/>).</summary>
    public void Close() => _closed = true;

    public void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
    {
        Interlocked.Increment(ref _active);
        try
        {
            Record(link, packet);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private void Record(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
    {
        if (_closed)
        {
            Interlocked.Increment(ref _afterClose);
        }

        byte[] bytes = packet.ToArray();
        LastThreadId = Environment.CurrentManagedThreadId;
        lock (_gate)
        {
            _packets.Add((link, bytes));
            Signal();
        }

        OnPacket?.Invoke(link, bytes);
        if (ThrowWhen?.Invoke(bytes) == true)
        {
            throw new InvalidOperationException("test receiver failure");
        }
    }

    public void OnTransportFault(IHeartbeatTransport link, Exception error)
    {
        lock (_gate)
        {
            _faults.Add(error);
            Signal();
        }
    }

    /// <summary>Waits (at most <see cref="WaitLimit"/>) until <paramref name="condition"/> holds; fails the test otherwise.</summary>
    public async Task WaitUntilAsync(Func<RecordingReceiver, bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(WaitLimit);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (condition(this))
                {
                    return;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"timed out after {WaitLimit.TotalSeconds} s waiting for {what}; received {Count} packet(s), faults: [{string.Join("; ", Faults.Select(f => f.Message))}]");
            }
        }
    }

    /// <summary>Waits until exactly these bytes were received.</summary>
    public Task WaitForAsync(byte[] payload) => WaitUntilAsync(r => r.Has(payload), $"a packet of {payload.Length} bytes ({Payloads.Describe(payload)})");

    public bool Has(byte[] payload)
    {
        lock (_gate)
        {
            return _packets.Any(p => p.Packet.AsSpan().SequenceEqual(payload));
        }
    }

    private void Signal()
    {
        TaskCompletionSource old = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        old.TrySetResult();
    }
}

/// <summary>Recognisable test payloads: [sender tag][index, 4 bytes LE][pattern ...].</summary>
public static class Payloads
{
    public static byte[] Make(char sender, int index, int size = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 5);
        var bytes = new byte[size];
        bytes[0] = (byte)sender;
        BitConverter.TryWriteBytes(bytes.AsSpan(1, 4), index);
        for (int i = 5; i < size; i++)
        {
            bytes[i] = (byte)((i * 31) + index);
        }

        return bytes;
    }

    public static char Sender(byte[] packet) => (char)packet[0];

    public static int Index(byte[] packet) => BitConverter.ToInt32(packet, 1);

    public static string Describe(byte[] packet) => packet.Length >= 5 ? $"from {Sender(packet)} #{Index(packet)}" : "short";
}
