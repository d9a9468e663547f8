using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using HaKit.Diagnostics;
using static HaKit.Runtime.LinuxInterop;

namespace HaKit.Grpc;

/// <summary>
/// Watches the TCP connection that a dialer's stream runs on, on a dedicated thread blocked in <c>poll(2)</c>, and reports the
/// moment the peer's kernel ends it (<c>POLLRDHUP</c>, <c>POLLHUP</c> or <c>POLLERR</c>: a FIN or a reset), without waiting for the
/// HTTP/2 client to read the end, fail its streams and hand the failure to the link through the thread pool.
/// </summary>
/// <remarks>
/// <para>Why: measured on the TwoNode sample, a killed peer's kernel closed its sockets about 10 ms after the SIGKILL, and the
/// survivor's HTTP/2 client reported the stream's end 12–20 ms later again (a socket-engine wake-up, a thread-pool hop, the
/// client's connection-abort path and Grpc.Net.Client's status mapping, then the reconnect through the same stack). The watcher
/// sees the end in the kernel's own wake-up of the blocked thread. It only observes: it reads nothing from the socket (the HTTP/2
/// client still owns the data) and it never closes it.</para>
/// <para>Lifetime: the watched socket's handle is referenced while the thread polls it, so a concurrent dispose cannot close the
/// descriptor under the poll (nor let its number be reused); <see cref="Forget"/> (called by the connection's stream when the client
/// disposes it) wakes the thread through an <c>eventfd</c>, which drops the reference. An idle watcher costs nothing: it sleeps in
/// the kernel until something happens. Linux only (<see cref="IsSupported"/>); elsewhere the stream's own end is the only signal.</para>
/// </remarks>
internal sealed class ConnectionEndWatcher : IDisposable
{
    private const short PollErr = 0x008;
    private const short PollHup = 0x010;
    private const short PollNval = 0x020;
    private const short PollRdHup = 0x2000;
    private const int EfdCloexec = 0x80000;
    private const int EfdNonblock = 0x800;

    private readonly Action<Socket> _ended;
    private readonly int _wake;
    private readonly Thread _thread;
    private readonly Lock _gate = new();
    private Socket? _current;
    private bool _disposed;

    /// <summary>Whether the platform has what the watcher needs (<c>poll</c> with <c>POLLRDHUP</c>, <c>eventfd</c>): Linux.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>Starts the watching thread.</summary>
    /// <param name="name">The thread's name (shows in <c>/proc/&lt;pid&gt;/task/*/comm</c>, at most 15 characters there).</param>
    /// <param name="ended">Called on the watching thread, once per watched socket, when the peer ended its connection.</param>
    public ConnectionEndWatcher(string name, Action<Socket> ended)
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException("the connection-end watcher needs Linux (poll with POLLRDHUP, eventfd)");
        }

        _ended = ended;
        _wake = EventFd(0, EfdCloexec | EfdNonblock);
        if (_wake < 0)
        {
            throw new InvalidOperationException($"eventfd failed (errno {Marshal.GetLastPInvokeError()})");
        }

        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Watches <paramref name="socket"/> from now on, instead of any socket watched before.</summary>
    /// <param name="socket">A connected TCP socket.</param>
    public void Watch(Socket socket)
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _current = socket;
        }

        Wake();
    }

    /// <summary>Stops watching <paramref name="socket"/> (its owner disposes it); nothing is reported for it afterwards.</summary>
    /// <param name="socket">The socket.</param>
    public void Forget(Socket socket)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_current, socket))
            {
                return;
            }

            _current = null;
        }

        Wake();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _current = null;
        }

        Wake();
        if (Thread.CurrentThread != _thread && _thread.Join(TimeSpan.FromSeconds(2)))
        {
            // Closed only once the thread is gone: it polls the descriptor, and a late write must not reach a reused number.
            _ = Close(_wake);
        }
    }

    private void Wake()
    {
        ulong one = 1;
        _ = Write(_wake, ref one, sizeof(ulong));
    }

    private void Run()
    {
        var fds = new PollFd[2];
        while (true)
        {
            Socket? socket;
            lock (_gate)
            {
                if (_disposed)
                {
                    return;
                }

                socket = _current;
            }

            var referenced = false;
            try
            {
                var count = 1;
                fds[0] = new PollFd { Fd = _wake, Events = PollIn };
                if (socket is not null)
                {
                    socket.SafeHandle.DangerousAddRef(ref referenced);
                    fds[1] = new PollFd { Fd = (int)socket.SafeHandle.DangerousGetHandle(), Events = PollRdHup };
                    count = 2;
                }

                var rc = Poll(fds, (nuint)count, -1);
                if (rc < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Eintr)
                    {
                        continue;
                    }

                    return; // nothing sensible left to watch with; the stream's own end still works
                }

                if ((fds[0].Revents & PollIn) != 0)
                {
                    ulong drained = 0;
                    _ = Read(_wake, ref drained, sizeof(ulong));
                }

                if (count == 2 && (fds[1].Revents & PollNval) != 0)
                {
                    // Not an open descriptor (it cannot be while referenced; never spin on it if it is): stop watching it.
                    lock (_gate)
                    {
                        if (ReferenceEquals(_current, socket))
                        {
                            _current = null;
                        }
                    }
                }
                else if (count == 2 && (fds[1].Revents & (PollRdHup | PollHup | PollErr)) != 0)
                {
                    lock (_gate)
                    {
                        if (!ReferenceEquals(_current, socket))
                        {
                            continue; // forgotten or replaced meanwhile: its owner closed it, that is no news
                        }

                        _current = null;
                    }

                    TakeoverTrace.Mark("grpc.watcher.end");
                    try
                    {
                        _ended(socket!);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        // The report is best effort (the stream's own end still comes); this thread must not die of it.
                    }
                }
            }
            catch (ObjectDisposedException)
            {
                // Disposed before the reference was taken: Forget follows.
                lock (_gate)
                {
                    if (ReferenceEquals(_current, socket))
                    {
                        _current = null;
                    }
                }
            }
            finally
            {
                if (referenced)
                {
                    socket!.SafeHandle.DangerousRelease();
                }
            }
        }
    }

    /// <summary>
    /// Whether nothing listens on <paramref name="endPoint"/> any more: a plain TCP connect is refused (the host answers and
    /// nothing listens on the port), or it is accepted and then reset within <paramref name="closingWindow"/> without a byte.
    /// Runs on the calling thread (the watcher's), without the HTTP/2 client.
    /// </summary>
    /// <remarks>
    /// The second case is the peer's process exiting at this very moment: the kernel closes a dying process's files one by one,
    /// and on Linux its established connections were seen to end (the FIN that woke the watcher) before its listening socket was
    /// closed, so a connect made at once can still be accepted into the listener's queue; closing the listener then resets every
    /// connection still queued. A live server that accepted the connection keeps it (an HTTP/2 server waits seconds for the
    /// client's preface), so it is reset by nothing; and the core still weighs the hint against its probe on the other links.
    /// </remarks>
    /// <param name="endPoint">The peer's link address.</param>
    /// <param name="timeout">How long to wait for any answer to the connect (a host without power answers nothing: not refused).</param>
    /// <param name="closingWindow">How long an accepted connect is watched for the reset of a closing listener.</param>
    /// <returns>Whether nothing listens, and what was seen (for the evidence and the log).</returns>
    public static (bool Refused, string Seen) ProbeRefused(IPEndPoint endPoint, TimeSpan timeout, TimeSpan closingWindow)
    {
        using var probe = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
            // Linux bounds a blocking connect by SO_SNDTIMEO.
            SendTimeout = (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue),
        };
        try
        {
            probe.Connect(endPoint);
        }
        catch (SocketException ex)
        {
            return (ex.SocketErrorCode == SocketError.ConnectionRefused, ex.SocketErrorCode.ToString());
        }

        if (!IsSupported)
        {
            return (false, "accepted");
        }

        var fds = new[] { new PollFd { Fd = (int)probe.SafeHandle.DangerousGetHandle(), Events = PollRdHup } };
        if (Poll(fds, 1, (int)Math.Clamp(closingWindow.TotalMilliseconds, 0, int.MaxValue)) <= 0)
        {
            return (false, "accepted");
        }

        try
        {
            probe.Blocking = false;
            var read = probe.Receive(new byte[1]);
            return (false, read == 0 ? "accepted, then closed" : "accepted, and it spoke");
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
        {
            return (true, "accepted, then reset by a closing listener");
        }
        catch (SocketException ex)
        {
            return (false, $"accepted, then {ex.SocketErrorCode}");
        }
    }

    /// <summary>
    /// Runs <see cref="ProbeRefused"/> once against a closed loopback port and once against a listener closed under a queued connect,
    /// so that the first real crash does not pay for its first socket exception and its code cold (measured: 11 ms from the end of the
    /// connection to the hint on the sample's first crash, the probe being the only code on that path not run before). Never throws.
    /// </summary>
    /// <returns>Whether both probes gave the answer a crash gives.</returns>
    public static bool WarmUp()
    {
        try
        {
            IPEndPoint closed;
            using (var gone = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                gone.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                closed = (IPEndPoint)gone.LocalEndPoint!;
            }

            var refused = ProbeRefused(closed, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(50)).Refused;

            var closing = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            closing.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            closing.Listen(1);
            var endPoint = (IPEndPoint)closing.LocalEndPoint!;
            using var queued = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            queued.Connect(endPoint); // queued on the listener, never accepted
            closing.Dispose();         // resets it, as a dying process's kernel does
            var fds = new[] { new PollFd { Fd = (int)queued.SafeHandle.DangerousGetHandle(), Events = PollRdHup } };
            var reset = IsSupported && Poll(fds, 1, 100) > 0;
            return refused && reset;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int EventFd(uint initial, int flags);

    [DllImport("libc", EntryPoint = "write", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern nint Write(int fd, ref ulong value, nint count);
}
