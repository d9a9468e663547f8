using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using HaKit.Tests.Transport;

namespace HaKit.Integration.Namespaces;

/// <summary>
/// Watches one direction of a heartbeat link from outside both nodes: a raw IPv4/UDP socket inside the receiving node's network
/// namespace gets a copy of every UDP datagram that host receives; datagrams from <c>from</c> to <c>to</c> are counted and the
/// longest silence between two of them is kept. Times are the kernel's timestamps (<c>SIOCGSTAMP</c>, wall clock), taken when the
/// datagram entered the receiving host (on a veth, in the sender's own send call): the gaps are the sender's, and a starved test
/// process cannot inflate them. Needs root (raw socket, <c>setns</c>).
/// </summary>
public sealed partial class LinkGapMeter : IDisposable
{
    private const nuint SiocGStamp = 0x8906;
    private readonly Socket _raw;
    private readonly byte[] _fromAddress;
    private readonly int _fromPort;
    private readonly byte[] _toAddress;
    private readonly int _toPort;
    private readonly Thread _thread;
    private long _lastMicroseconds = long.MinValue;
    private long _worstMicroseconds;
    private long _count;
    private long _untimed;
    private volatile bool _stopped;

    /// <summary>Opens the raw socket in <paramref name="networkNamespace"/> (the receiving host) and starts watching.</summary>
    /// <param name="networkNamespace">The namespace of the node that receives the datagrams.</param>
    /// <param name="from">The sending node's heartbeat address and port.</param>
    /// <param name="to">The receiving node's heartbeat address and port.</param>
    public LinkGapMeter(string networkNamespace, IPEndPoint from, IPEndPoint to)
    {
        _fromAddress = from.Address.GetAddressBytes();
        _fromPort = from.Port;
        _toAddress = to.Address.GetAddressBytes();
        _toPort = to.Port;
        Name = $"{from} -> {to}";
        _raw = NetNs.RunIn(networkNamespace, () =>
        {
            var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Udp);
            try
            {
                raw.Bind(new IPEndPoint(to.Address, 0));
                raw.ReceiveBufferSize = 4 * 1024 * 1024;
                raw.ReceiveTimeout = 200;
                return raw;
            }
            catch
            {
                raw.Dispose();
                throw;
            }
        });
        _thread = new Thread(Run) { IsBackground = true, Name = $"gap meter {Name}" };
        _thread.Start();
    }

    /// <summary>The direction watched, for messages.</summary>
    public string Name { get; }

    /// <summary>Datagrams seen from <c>from</c> to <c>to</c>.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>The longest silence between two of them so far, as sent (the kernel's timestamps).</summary>
    public TimeSpan WorstGap => TimeSpan.FromMicroseconds(Interlocked.Read(ref _worstMicroseconds));

    /// <summary>Datagrams the kernel gave no timestamp for (normally only the first).</summary>
    public long Untimed => Interlocked.Read(ref _untimed);

    /// <summary>Stops watching and closes the socket (waits at most 2 s for the thread).</summary>
    public void Dispose()
    {
        _stopped = true;
        _thread.Join(TimeSpan.FromSeconds(2));
        _raw.Dispose();
    }

    private void Run()
    {
        var buffer = new byte[65536];
        var fd = (int)_raw.Handle;
        while (!_stopped)
        {
            int n;
            try
            {
                n = _raw.Receive(buffer);
            }
            catch (SocketException)
            {
                continue; // the receive timeout: look at _stopped
            }
            catch (ObjectDisposedException)
            {
                return;
            }

            var ihl = (buffer[0] & 0x0F) * 4;
            if (n < ihl + 8
                || !buffer.AsSpan(12, 4).SequenceEqual(_fromAddress) || !buffer.AsSpan(16, 4).SequenceEqual(_toAddress)
                || ((buffer[ihl] << 8) | buffer[ihl + 1]) != _fromPort || ((buffer[ihl + 2] << 8) | buffer[ihl + 3]) != _toPort)
            {
                continue;
            }

            Interlocked.Increment(ref _count);
            if (Ioctl(fd, SiocGStamp, out var stamp) != 0)
            {
                // No timestamp (the first datagram after timestamping was switched on): untimed, so the gap around it is
                // measured between its neighbours, which can only make it look longer.
                Interlocked.Increment(ref _untimed);
                continue;
            }

            var microseconds = (stamp.Seconds * 1_000_000) + stamp.Microseconds;
            if (_lastMicroseconds != long.MinValue && microseconds - _lastMicroseconds > Interlocked.Read(ref _worstMicroseconds))
            {
                Interlocked.Exchange(ref _worstMicroseconds, microseconds - _lastMicroseconds);
            }

            _lastMicroseconds = microseconds;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, out TimeVal value);
}
