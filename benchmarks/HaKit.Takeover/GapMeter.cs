using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HaKit.Takeover;

/// <summary>
/// Watches the heartbeats between two loopback ports from outside both processes: a raw IPv4/UDP socket (root) gets a copy of every
/// UDP datagram the host receives; the largest gap between two datagrams from one heartbeat port to the other is the worst silence
/// the receiving node saw on the link. <see langword="null"/> gaps when raw sockets are not allowed.
/// Each datagram is timed by the kernel when it arrived (<c>SIOCGSTAMPNS</c>), not when this thread read it, so a meter starved
/// of CPU on a busy machine does not report its own delay as a gap; where the kernel gives no stamp, the read time is used and
/// counted (<see cref="UnstampedReads"/>).
/// </summary>
public sealed partial class GapMeter : IDisposable
{
    private const ulong SiocGStampNs = 0x8907; // SIOCGSTAMPNS_OLD on x86-64: the last datagram's arrival, struct timespec

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(nint fd, ulong request, out Timespec stamp);

    private long _unstamped;
    private readonly Socket? _raw;
    private readonly int _portA;
    private readonly int _portB;
    private readonly Thread? _thread;
    private long _lastAtoB;
    private long _lastBtoA;
    private long _worstAtoB;
    private long _worstBtoA;
    private volatile bool _stopped;

    public GapMeter(int portA, int portB)
    {
        _portA = portA;
        _portB = portB;
        try
        {
            _raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Udp);
            _raw.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _raw.ReceiveBufferSize = 4 * 1024 * 1024;
            _raw.ReceiveTimeout = 500;
        }
        catch (SocketException)
        {
            _raw?.Dispose();
            _raw = null;
            return;
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "gap meter" };
        _thread.Start();
    }

    /// <summary>The longest silence from a to b so far (ms, by the kernel's arrival times), or null without raw sockets.</summary>
    public double? WorstAtoBMs => _raw is null ? null : Interlocked.Read(ref _worstAtoB) / 1e6;

    /// <summary>The longest silence from b to a so far (ms, by the kernel's arrival times), or null without raw sockets.</summary>
    public double? WorstBtoAMs => _raw is null ? null : Interlocked.Read(ref _worstBtoA) / 1e6;

    /// <summary>Datagrams the kernel gave no arrival time for (timed when read instead).</summary>
    public long UnstampedReads => Interlocked.Read(ref _unstamped);

    /// <summary>The arrival time of the datagram just read, in nanoseconds (the kernel's stamp, else the time of the read).</summary>
    private long ArrivalNs()
    {
        if (Ioctl(_raw!.Handle, SiocGStampNs, out var stamp) == 0)
        {
            return (stamp.Seconds * 1_000_000_000L) + stamp.Nanoseconds;
        }

        Interlocked.Increment(ref _unstamped);
        return (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100; // the read time, on the kernel stamp's clock (CLOCK_REALTIME)
    }

    private void Run()
    {
        var buffer = new byte[65536];
        while (!_stopped)
        {
            int n;
            try
            {
                n = _raw!.Receive(buffer);
            }
            catch (SocketException)
            {
                continue; // timeout: look at _stopped
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            var now = ArrivalNs();
            var ihl = (buffer[0] & 0x0F) * 4;
            if (n < ihl + 8)
            {
                continue;
            }

            var src = (buffer[ihl] << 8) | buffer[ihl + 1];
            var dst = (buffer[ihl + 2] << 8) | buffer[ihl + 3];
            if (src == _portA && dst == _portB)
            {
                Note(ref _lastAtoB, ref _worstAtoB, now);
            }
            else if (src == _portB && dst == _portA)
            {
                Note(ref _lastBtoA, ref _worstBtoA, now);
            }
        }
    }

    private static void Note(ref long last, ref long worst, long now)
    {
        if (last != 0 && now - last > Interlocked.Read(ref worst))
        {
            Interlocked.Exchange(ref worst, now - last);
        }

        last = now;
    }

    public void Dispose()
    {
        _stopped = true;
        _raw?.Dispose();
        _thread?.Join(1000);
    }
}
