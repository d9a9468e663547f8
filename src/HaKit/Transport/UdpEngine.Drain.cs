using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using HaKit.Wire;

namespace HaKit.Transport;

/// <summary>The loop's non-blocking drain of datagrams already queued on the socket (see <see cref="DrainPending"/>).</summary>
internal sealed partial class UdpEngine
{
    private readonly Lock _admitGate = new(); // the receive thread and a drain on the loop share the rate buckets
    private readonly Lock _drainGate = new();
    private byte[]? _drainBuffer;
    private byte[]? _drainAddress;
    private SocketAddress? _drainFrom;

    private DropReason? AdmitShared(SocketAddress from)
    {
        lock (_admitGate)
        {
            return Admit(from, TimeProvider.GetTimestamp());
        }
    }

    /// <summary>
    /// Receives, on the calling thread and without waiting, up to <paramref name="max"/> datagrams already queued on the socket, through
    /// the same filters as the receive thread, and hands them to the receiver. The node's loop calls it before a tick while a peer is
    /// overdue: a receive thread that was woken on a virtual CPU the hypervisor stopped (100 ms at a time on the 2-core test machines)
    /// cannot run, and the datagram that proves the peer alive waits in the socket meanwhile. Linux only (<c>MSG_DONTWAIT</c>);
    /// returns how many datagrams were delivered.
    /// </summary>
    /// <param name="max">The most datagrams to take (a flood must not keep the loop here).</param>
    internal int DrainPending(int max)
    {
        if (!OperatingSystem.IsLinux() || _disposed || _socket is not { } socket || _receiver is not { } receiver || !_drainGate.TryEnter())
        {
            return 0;
        }

        try
        {
            _drainBuffer ??= GC.AllocateUninitializedArray<byte>(ReceiveBufferSize, pinned: true);
            _drainAddress ??= new byte[128];
            _drainFrom ??= new SocketAddress(socket.AddressFamily);
            var drops = receiver as IPacketDropSink;
            var delivered = 0;
            for (var taken = 0; taken < max && !_disposed; taken++)
            {
                var addressLength = _drainAddress.Length;
                nint received;
                var added = false;
                try
                {
                    socket.SafeHandle.DangerousAddRef(ref added);
                    received = RecvFrom((int)socket.SafeHandle.DangerousGetHandle(), _drainBuffer, (nuint)_drainBuffer.Length, MsgDontWait, _drainAddress, ref addressLength);
                }
                finally
                {
                    if (added)
                    {
                        socket.SafeHandle.DangerousRelease();
                    }
                }

                if (received < 0)
                {
                    break; // EAGAIN: nothing queued (or an error the receive thread reports)
                }

                var from = _drainFrom;
                if (addressLength > from.Buffer.Length)
                {
                    continue;
                }

                _drainAddress.AsSpan(0, addressLength).CopyTo(from.Buffer.Span);
                from.Size = addressLength;
                if (FilterAndDeliver(receiver, drops, from, _drainBuffer.AsSpan(0, (int)received)))
                {
                    delivered++;
                }
            }

            return delivered;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or DllNotFoundException or EntryPointNotFoundException)
        {
            return 0;
        }
        finally
        {
            _drainGate.Exit();
        }
    }

    private const int MsgDontWait = 0x40;

    [DllImport("libc", EntryPoint = "recvfrom", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint RecvFrom(int fd, [Out] byte[] buffer, nuint length, int flags, [Out] byte[] address, ref int addressLength);
}
