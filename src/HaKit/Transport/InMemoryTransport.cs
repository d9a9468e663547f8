namespace HaKit.Transport;

/// <summary>
/// A heartbeat link on an <see cref="InMemoryNetwork"/>: sends are delivered synchronously to the other started
/// transports of the same link. Created with <see cref="InMemoryNetwork.CreateTransport"/>.
/// </summary>
/// <remarks>
/// A receiver that throws does not affect the sender or other receivers: the exception is reported to the throwing
/// receiver's own <see cref="IPacketReceiver.OnTransportFault"/>, as a socket transport's receive loop would.
/// </remarks>
public sealed class InMemoryTransport : IHeartbeatTransport
{
    [ThreadStatic]
    private static InMemoryTransport? t_delivering;

    private readonly Lock _gate = new();
    private IPacketReceiver? _receiver;
    private volatile bool _disposed;
    private int _inFlight;
    private TaskCompletionSource? _drained;

    internal InMemoryTransport(InMemoryNetwork network, string node, string linkName)
    {
        Network = network;
        Node = node;
        LinkName = linkName;
    }

    /// <summary>The network this transport belongs to.</summary>
    public InMemoryNetwork Network { get; }

    /// <summary>The node that owns this transport.</summary>
    public string Node { get; }

    /// <inheritdoc />
    public string LinkName { get; }

    /// <summary>Whether the transport is started and not disposed.</summary>
    public bool IsStarted => _receiver is not null && !_disposed;

    /// <summary>Joins the link: from now on packets sent by other nodes on it are handed to <paramref name="receiver"/>.</summary>
    /// <param name="receiver">Where received packets and faults go.</param>
    /// <param name="cancellationToken">Checked before joining.</param>
    /// <exception cref="InvalidOperationException">The transport was already started.</exception>
    /// <exception cref="ObjectDisposedException">The transport was disposed.</exception>
    public ValueTask StartAsync(IPacketReceiver receiver, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_receiver is not null)
            {
                throw new InvalidOperationException($"link {LinkName} of node {Node}: already started");
            }

            _receiver = receiver;
            Network.Join(this);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Delivers <paramref name="packet"/> to every other reachable transport of the link before returning.</summary>
    /// <param name="packet">The encoded envelope, at most <see cref="InMemoryNetwork.MaxPacketSize"/> bytes.</param>
    /// <param name="cancellationToken">Checked before sending.</param>
    /// <exception cref="ArgumentException">The packet is larger than <see cref="InMemoryNetwork.MaxPacketSize"/>.</exception>
    /// <exception cref="InvalidOperationException">The transport was not started.</exception>
    /// <exception cref="ObjectDisposedException">The transport was disposed.</exception>
    public ValueTask SendAsync(ReadOnlyMemory<byte> packet, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_receiver is null)
        {
            throw new InvalidOperationException($"link {LinkName} of node {Node}: not started; call StartAsync first");
        }

        if (packet.Length > Network.MaxPacketSize)
        {
            throw new ArgumentException($"link {LinkName}: packet of {packet.Length} bytes exceeds the maximum packet size of {Network.MaxPacketSize} bytes", nameof(packet));
        }

        Network.Send(this, packet);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Leaves the link. Once the returned task completes no packet is delivered any more: deliveries running on other
    /// threads are awaited. Called from this transport's own receive callback it completes at once and the current
    /// delivery is the last. Idempotent.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        TaskCompletionSource drained;
        lock (_gate)
        {
            if (_disposed)
            {
                return _drained is { } pending && t_delivering != this ? new ValueTask(pending.Task) : ValueTask.CompletedTask;
            }

            drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _drained = drained;
            _disposed = true;
        }

        Network.Leave(this);
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _inFlight) == 0)
        {
            drained.TrySetResult();
        }

        return t_delivering == this ? ValueTask.CompletedTask : new ValueTask(drained.Task);
    }

    /// <inheritdoc />
    public override string ToString() => $"in-memory {LinkName} of {Node}";

    /// <summary>Hands a packet to the receiver; <see langword="false"/> when the transport is no longer listening.</summary>
    internal bool Deliver(ReadOnlySpan<byte> packet)
    {
        IPacketReceiver? receiver = _receiver;
        if (receiver is null)
        {
            return false;
        }

        Interlocked.Increment(ref _inFlight);
        InMemoryTransport? outer = t_delivering;
        try
        {
            if (_disposed)
            {
                return false;
            }

            t_delivering = this;
            try
            {
                receiver.OnPacketReceived(this, packet);
            }
            catch (Exception ex)
            {
                try
                {
                    receiver.OnTransportFault(this, ex);
                }
                catch (Exception)
                {
                    // A fault handler that throws must not break the sender's loop either; nothing else to report to.
                }
            }

            return true;
        }
        finally
        {
            t_delivering = outer;
            if (Interlocked.Decrement(ref _inFlight) == 0 && _disposed)
            {
                Volatile.Read(ref _drained)?.TrySetResult();
            }
        }
    }
}
