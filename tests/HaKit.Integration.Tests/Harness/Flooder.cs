using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace HaKit.Integration.Harness;

/// <summary>
/// A junk flood at a fixed rate from one local UDP port to several heartbeat ports (issue 13): half random bytes, half
/// protobuf-shaped envelopes (the right cluster, a known sender, a key id and a 32-byte mac) that only the MAC check can refuse
/// once parsed. Runs on its own thread until <see cref="StopAsync"/> or its duration ends; counts what it sent. Sends from
/// loopback by default, or from another local address (e.g. a bridge to network namespaces: the targets are then other hosts).
/// </summary>
public sealed class Flooder : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Socket? _raw;
    private readonly SocketAddress[] _targets;
    private readonly byte[][] _forged;
    private readonly int _forgedRate;
    private readonly SocketAddress[] _rawTargets;
    private readonly long[] _sentTo;
    private long _forgedSent;
    private readonly byte[][] _packets;
    private readonly int _rate;
    private readonly TimeSpan _duration;
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _sent;
    private long _failed;

    /// <summary>Prepares the flood: <paramref name="ratePerTarget"/> datagrams a second to each target for <paramref name="duration"/>.</summary>
    /// <param name="targets">The heartbeat ports to flood, with the name of the node that sends to each (the shaped junk claims it).</param>
    /// <param name="cluster">The cluster name the shaped junk carries.</param>
    /// <param name="ratePerTarget">Datagrams per second to each target.</param>
    /// <param name="duration">How long to flood.</param>
    /// <param name="seed">Seed of the junk.</param>
    /// <param name="forged">
    /// Optional: for each target, the address and port of the peer whose name forged packets claim, and how many a second to send
    /// from it (IPv4 only; needs a raw socket, so root or CAP_NET_RAW: check <see cref="CanForge"/>).
    /// </param>
    /// <param name="source">The local address the junk is sent from (default 127.0.0.1).</param>
    public Flooder(IReadOnlyList<(IPEndPoint Target, string ClaimedSender)> targets, string cluster, int ratePerTarget, TimeSpan duration, int seed = 13,
        (IReadOnlyList<IPEndPoint> From, int PerSecond)? forged = null, IPAddress? source = null)
    {
        _rate = ratePerTarget;
        _duration = duration;
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(source ?? IPAddress.Loopback, 0));
        _socket.SendBufferSize = 4 * 1024 * 1024;
        _targets = [.. targets.Select(t => t.Target.Serialize())];
        // A raw IPv4 socket with its own header is routed by the address given to sendto (the port is unused): the target's.
        _rawTargets = [.. targets.Select(t => new IPEndPoint(t.Target.Address, 0).Serialize())];
        _sentTo = new long[targets.Count];
        var random = new Random(seed);
        _packets = new byte[64 * targets.Count][];
        for (var i = 0; i < _packets.Length; i++)
        {
            var claimed = targets[i % targets.Count].ClaimedSender;
            _packets[i] = i / targets.Count % 2 == 0 ? RandomBytes(random, random.Next(1, 300)) : Shaped(random, cluster, claimed);
        }

        _forged = [];
        if (forged is { } f && f.PerSecond > 0)
        {
            _raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw);
            _forgedRate = f.PerSecond;
            _forged = new byte[16 * targets.Count][];
            for (var i = 0; i < _forged.Length; i++)
            {
                var t = i % targets.Count;
                var junk = i % 4 == 0 ? RandomBytes(random, random.Next(1, 200)) : Shaped(random, cluster, targets[t].ClaimedSender);
                _forged[i] = UdpOverIp(f.From[t], targets[t].Target, junk);
            }
        }

        Local = (IPEndPoint)_socket.LocalEndPoint!;
        _thread = new Thread(Run) { IsBackground = true, Name = "junk flood" };
    }

    /// <summary>The flood's source address.</summary>
    public IPEndPoint Local { get; }

    /// <summary>Datagrams sent so far (all targets).</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Junk datagrams sent so far to target <paramref name="target"/> (its index in the constructor's list).</summary>
    public long SentTo(int target) => Interlocked.Read(ref _sentTo[target]);

    /// <summary>Forged datagrams sent so far (all targets, in equal numbers).</summary>
    public long ForgedSent => Interlocked.Read(ref _forgedSent);

    /// <summary>Whether this process may send forged datagrams (open a raw socket).</summary>
    public static bool CanForge()
    {
        try
        {
            using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Raw);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Sends that failed (a full socket buffer).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Completes when the flood ended.</summary>
    public Task Completion => _done.Task;

    /// <summary>Starts the flood thread.</summary>
    public void Start() => _thread.Start();

    /// <summary>Stops the flood and waits for its thread.</summary>
    public async ValueTask StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_thread.IsAlive)
        {
            await _done.Task.ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _socket.Dispose();
        _raw?.Dispose();
        _stop.Dispose();
    }

    private void Run()
    {
        try
        {
            // One sending thread per target (a single thread cannot send 100,000 datagrams a second on a loaded 2-core machine),
            // this one also sends the forgeries. Every thread stops at the duration, behind or not: Sent says what was achieved.
            var clock = Stopwatch.StartNew();
            var others = Enumerable.Range(1, _targets.Length - 1)
                .Select(t => new Thread(() => Flood(t, clock, forge: false)) { IsBackground = true, Name = $"junk flood {t}" })
                .ToList();
            others.ForEach(t => t.Start());
            Flood(0, clock, forge: true);
            others.ForEach(t => t.Join());
            Elapsed = clock.Elapsed;
        }
        finally
        {
            _done.TrySetResult();
        }
    }

    /// <summary>How long the flood ran.</summary>
    public TimeSpan Elapsed { get; private set; }

    private void Flood(int target, Stopwatch clock, bool forge)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(Local.Address, 0));
        var from = target == 0 ? _socket : socket;
        long sent = 0;
        long forgedSent = 0;
        var next = target;
        var nextForged = 0;
        while (!_stop.IsCancellationRequested && clock.Elapsed < _duration)
        {
            var seconds = clock.Elapsed.TotalSeconds;
            var due = (long)(seconds * _rate);
            var forgedDue = forge && _raw is not null ? (long)(seconds * _forgedRate) : 0;
            for (; forgedSent < forgedDue; forgedSent++)
            {
                for (var t = 0; t < _targets.Length; t++)
                {
                    try
                    {
                        _raw!.SendTo(_forged[nextForged], SocketFlags.None, _rawTargets[nextForged % _targets.Length]);
                        Interlocked.Increment(ref _forgedSent);
                    }
                    catch (SocketException)
                    {
                        Interlocked.Increment(ref _failed);
                    }

                    nextForged = (nextForged + 1) % _forged.Length;
                }
            }

            if (sent >= due)
            {
                Thread.Sleep(1);
                continue;
            }

            // At most 10 ms worth at a time, so the duration is kept even when the thread falls behind.
            var batchEnd = Math.Min(due, sent + Math.Max(1, _rate / 100));
            for (; sent < batchEnd; sent++)
            {
                try
                {
                    from.SendTo(_packets[next], SocketFlags.None, _targets[target]);
                    Interlocked.Increment(ref _sent);
                    Interlocked.Increment(ref _sentTo[target]);
                }
                catch (SocketException)
                {
                    Interlocked.Increment(ref _failed);
                }

                next = (next + _targets.Length) % _packets.Length;
            }
        }
    }

    /// <summary>An IPv4 header and a UDP header (checksum 0: none) around <paramref name="payload"/>; the kernel fills the IP checksum and id.</summary>
    private static byte[] UdpOverIp(IPEndPoint from, IPEndPoint to, byte[] payload)
    {
        var packet = new byte[20 + 8 + payload.Length];
        packet[0] = 0x45;
        packet[2] = (byte)(packet.Length >> 8);
        packet[3] = (byte)packet.Length;
        packet[8] = 64;
        packet[9] = 17;
        from.Address.GetAddressBytes().CopyTo(packet, 12);
        to.Address.GetAddressBytes().CopyTo(packet, 16);
        packet[20] = (byte)(from.Port >> 8);
        packet[21] = (byte)from.Port;
        packet[22] = (byte)(to.Port >> 8);
        packet[23] = (byte)to.Port;
        packet[24] = (byte)((8 + payload.Length) >> 8);
        packet[25] = (byte)(8 + payload.Length);
        payload.CopyTo(packet, 28);
        return packet;
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>An envelope in HaKit's field order whose MAC is random: cluster, sender, incarnation, sequence, key id 1, payload, mac.</summary>
    private static byte[] Shaped(Random random, string cluster, string sender)
    {
        var packet = new List<byte>();
        void Varint(ulong v)
        {
            while (v >= 0x80)
            {
                packet.Add((byte)(v | 0x80));
                v >>= 7;
            }

            packet.Add((byte)v);
        }

        void Bytes(int field, byte[] value)
        {
            packet.Add((byte)((field << 3) | 2));
            Varint((ulong)value.Length);
            packet.AddRange(value);
        }

        Bytes(1, Encoding.UTF8.GetBytes(cluster));
        Bytes(2, Encoding.UTF8.GetBytes(sender));
        packet.Add(3 << 3);
        Varint((ulong)random.Next(1, int.MaxValue));
        packet.Add(4 << 3);
        Varint((ulong)random.Next(1, int.MaxValue));
        packet.Add(5 << 3);
        Varint(1);
        Bytes(6, RandomBytes(random, random.Next(10, 60)));
        Bytes(7, RandomBytes(random, 32));
        return [.. packet];
    }
}

/// <summary>A process's CPU time (user + system) from <c>/proc/&lt;pid&gt;/stat</c>.</summary>
public static class ProcessCpu
{
    /// <summary>User plus system CPU time of <paramref name="pid"/> so far; <see langword="null"/> when it cannot be read (not Linux, gone).</summary>
    public static TimeSpan? Read(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Fields after the command (which may contain spaces) start after the last ')'; utime and stime are fields 14 and 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
            return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }
}
