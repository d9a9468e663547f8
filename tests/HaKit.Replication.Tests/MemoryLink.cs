using Google.Protobuf;
using HaKit.Replication.Transport;
using HaKit.Replication.V1;

namespace HaKit.Replication.Tests;

/// <summary>Connects two replicated logs in memory, every message through the wire codec (encode, bytes, decode).</summary>
internal sealed class MemoryLink
{
    private readonly ReplicatedLog _a;
    private readonly ReplicatedLog _b;
    private Func<object, bool>? _toB;
    private Func<object, bool>? _toA;

    public MemoryLink(ReplicatedLog a, ReplicatedLog b)
    {
        _a = a;
        _b = b;
    }

    public void Connect()
    {
        var up = true;
        _toB = m =>
        {
            if (!up)
            {
                return false;
            }

            lock (_held)
            {
                if (_holding)
                {
                    _held.Enqueue(m);
                    return true;
                }
            }

            return Deliver(_b, m);
        };
        _toA = m => up && Deliver(_a, m);
        _disconnect = () => up = false;
        _a.PeerUp(_toB);
        _b.PeerUp(_toA);
    }

    private Action? _disconnect;
    private readonly Queue<object> _held = new();
    private bool _holding;

    /// <summary>From now on messages to the second log wait (the standby lags) until <see cref="Release"/>.</summary>
    public void Hold()
    {
        lock (_held)
        {
            _holding = true;
        }
    }

    /// <summary>Delivers the held messages to the second log, in order, and stops holding.</summary>
    public void Release()
    {
        lock (_held)
        {
            _holding = false;
            while (_held.TryDequeue(out var message))
            {
                Deliver(_b, message);
            }
        }
    }

    public void Disconnect()
    {
        _disconnect?.Invoke();
        if (_toB is not null)
        {
            _a.PeerDown(_toB);
        }

        if (_toA is not null)
        {
            _b.PeerDown(_toA);
        }
    }

    private static bool Deliver(ReplicatedLog to, object message)
    {
        var bytes = FrameCodec.Encode((Protocol.ReplicationMessage)message).ToByteArray();
        var decoded = FrameCodec.Decode(Frame.Parser.ParseFrom(bytes));
        Assert.That(decoded, Is.InstanceOf(message.GetType()), "the frame codec keeps the message's kind");
        to.Deliver(decoded!);
        return true;
    }
}

internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> every 5 ms for at most <paramref name="seconds"/>; fails the test with <paramref name="what"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, double seconds = 10)
    {
        var deadline = TimeProvider.System.GetTimestamp() + (long)(seconds * TimeProvider.System.TimestampFrequency);
        while (!condition())
        {
            if (TimeProvider.System.GetTimestamp() > deadline)
            {
                Assert.Fail($"timed out after {seconds} s waiting for {what}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System);
        }
    }
}
