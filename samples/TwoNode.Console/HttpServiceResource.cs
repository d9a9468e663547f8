using HaKit;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit.Resources;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TwoNode;

/// <summary>
/// A stand-in for a virtual IP: only the owner of the group binds the shared address and answers every HTTP request with
/// <c>node=&lt;name&gt; epoch=&lt;epoch&gt;</c>. A minimal HTTP/1.1 responder (one response per connection, <c>Connection: close</c>).
/// Every answer is guarded by <see cref="ResourceContext.IsOwned"/> at the instant it is sent: a node that wakes from a freeze
/// after its lease ended (or, in TwoNode mode, after a stall longer than the dead time) answers <c>503 not owner</c>, never its old epoch.
/// The address is the group's <see cref="SampleOptions.AddressOf"/> (for <c>web</c>: <see cref="SampleOptions.HttpAddress"/>).
/// </summary>
/// <param name="options">The sample's settings.</param>
/// <param name="reporter">Where the <c>http listening</c> / <c>http stopped</c> lines go.</param>
/// <param name="logger">The logger.</param>
/// <param name="group">The group this resource belongs to (default <c>web</c>).</param>
public sealed partial class HttpServiceResource(IOptions<SampleOptions> options, StdoutReporter reporter, ILogger<HttpServiceResource> logger, string group = SampleOptions.DefaultGroup) : IResource
{
    private const int MaxRequestBytes = 16 * 1024;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(5);
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private TcpListener? _listener;
    private CancellationTokenSource? _stopping;
    private Task? _acceptLoop;
    private byte[] _response = [];
    private byte[] _refusal = [];
    private ResourceContext? _context;

    /// <inheritdoc />
    public string Name => "http";

    /// <summary>The listener lives in this process: when the process dies, the kernel closes it, so nothing of it outlives a crash.</summary>
    public bool DiesWithProcess => true;

    /// <summary>The group this resource belongs to.</summary>
    public string Group => group;

    /// <summary>The address this resource binds while its group is owned here.</summary>
    public string Address => options.Value.AddressOf(group) ?? options.Value.HttpAddress;

    /// <inheritdoc />
    public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        SampleTrace.Mark("http.start");
        _response = BuildResponse(context.Node, context.Epoch);
        _refusal = BuildRefusal(context.Node);
        _context = context;
        if (_listener is not null && _acceptLoop is { IsCompleted: false })
        {
            return ValueTask.FromResult(ResourceResult.Success); // already serving; now with the new epoch
        }

        _listener?.Stop(); // the accept loop died: start over
        _stopping?.Dispose();
        var address = Address;
        var listener = new TcpListener(IPEndPoint.Parse(address));
        AllowQuickRebind(listener.Server);
        try
        {
            listener.Start(backlog: 128);
        }
        catch (SocketException ex)
        {
            listener.Dispose();
            return ValueTask.FromResult(ResourceResult.Transient(
                $"cannot bind {address}: {ex.SocketErrorCode} ({ex.Message}); another process (a previous owner that still runs?) holds the address", ex));
        }

        SampleTrace.Mark("http.bound");
        _listener = listener;
        _stopping = new CancellationTokenSource();
        _acceptLoop = StartAcceptThread(listener, _stopping.Token);
        LogListening(logger, group, address, context.Epoch);
        SampleTrace.Mark("http.logged");
        reporter.HttpListening(group, address, context.Epoch);
        SampleTrace.Mark("http.reported");
        return ValueTask.FromResult(ResourceResult.Success);
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        var listener = _listener;
        if (listener is null)
        {
            return ResourceResult.Success;
        }

        await _stopping!.CancelAsync().ConfigureAwait(false);
        listener.Stop();
        foreach (var socket in _connections.Keys)
        {
            socket.Dispose();
        }

        try
        {
            await Task.WhenAll([_acceptLoop!, .. _connections.Values]).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ResourceResult.Transient($"the listener on {Address} did not stop in time");
        }

        _listener = null;
        _stopping.Dispose();
        _stopping = null;
        _acceptLoop = null;
        LogStopped(logger, group, Address);
        reporter.HttpStopped(group, Address);
        return ResourceResult.Success;
    }

    /// <inheritdoc />
    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_listener is not null && _acceptLoop is { IsCompleted: false }
            ? MonitorResult.Running
            : MonitorResult.NotRunning($"nothing listens on {Address}"));

    /// <summary>
    /// SO_REUSEADDR only, so the new owner can bind while the old owner's closed connections sit in TIME_WAIT.
    /// Not <see cref="SocketOptionName.ReuseAddress"/>: on Linux .NET also sets SO_REUSEPORT with it, which would let
    /// two processes listen on the address at once and defeat the point of the stand-in.
    /// </summary>
    private static void AllowQuickRebind(Socket socket)
    {
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            socket.SetRawSocketOption(0xffff /* SOL_SOCKET */, 0x4 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
        }
        else
        {
            socket.ExclusiveAddressUse = true; // Windows: no TIME_WAIT problem for listeners; forbid sharing.
        }
    }

    private static byte[] BuildRefusal(string node)
    {
        var body = $"node={node} not owner\n";
        return Encoding.ASCII.GetBytes(
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
            $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n" + body);
    }

    private static byte[] BuildResponse(string node, ulong epoch)
    {
        var body = $"node={node} epoch={epoch}\n";
        return Encoding.ASCII.GetBytes(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n" +
            $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n" + body);
    }

    /// <summary>
    /// Accepts on a thread of its own, blocked in <c>accept</c>: the first connection after a takeover is taken in the kernel's own
    /// wake-up of that thread, not after a thread-pool worker becomes free (measured on the takeover benchmark, where the pool's
    /// workers are busy with the dead peer's connections then: the first accept came 10 ms after the bind with a pool-run loop).
    /// Each connection is served by <see cref="ServeAsync"/>, called on this thread: it answers at once when the request is
    /// already there and gives the thread back at its first wait.
    /// </summary>
    /// <returns>Completes when the thread ends (the listener stopped).</returns>
    private Task StartAcceptThread(TcpListener listener, CancellationToken stopping)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                AcceptLoop(listener, stopping);
            }
            finally
            {
                ended.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = $"http {group} accept",
        };
        thread.Start();
        return ended.Task;
    }

    private void AcceptLoop(TcpListener listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = listener.AcceptSocket();
            }
            catch (Exception) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // For example too many open files: keep serving the others, without spinning on the error.
                LogAcceptFailed(logger, ex.SocketErrorCode.ToString(), ex.Message);
                stopping.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(10));
                continue;
            }

            SampleTrace.Mark("http.accept");
            var served = ServeAsync(socket, _context!, _response, _refusal, stopping);
            if (served.IsCompleted)
            {
                continue;
            }

            _connections[socket] = served;
            _ = ForgetWhenServedAsync(socket, served);
        }
    }

    /// <summary>Drops a served connection from the ones <see cref="StopAsync"/> waits for (<see cref="ServeAsync"/> never throws).</summary>
    private async Task ForgetWhenServedAsync(Socket socket, Task served)
    {
        await served.ConfigureAwait(false);
        _connections.TryRemove(socket, out _);
    }

    private async Task ServeAsync(Socket socket, ResourceContext context, byte[] response, byte[] refusal, CancellationToken stopping)
    {
        try
        {
            socket.NoDelay = true;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(ReadTimeout);
            var buffer = new byte[MaxRequestBytes];
            var length = 0;
            while (length < buffer.Length)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) >= 0)
                {
                    break;
                }
            }

            if (length > 0)
            {
                // The owner's answer is a side effect only the owner may make: check ownership by the clock right before it,
                // not the last loop step (a process that wakes from a freeze runs this before its loop noticed the lease ended).
                await socket.SendAsync(context.IsOwned ? response : refusal, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                SampleTrace.Mark(context.IsOwned ? "http.answered" : "http.refused");
                socket.Shutdown(SocketShutdown.Both);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away, was too slow, or the listener is stopping.
        }
        finally
        {
            socket.Dispose();
        }
    }

    [LoggerMessage(1, LogLevel.Information, "http {Group}: listening on {Address} (epoch {Epoch})")]
    private static partial void LogListening(ILogger logger, string group, string address, ulong epoch);

    [LoggerMessage(2, LogLevel.Information, "http {Group}: stopped listening on {Address}")]
    private static partial void LogStopped(ILogger logger, string group, string address);

    [LoggerMessage(3, LogLevel.Warning, "http: accept failed: {Code} ({Message})")]
    private static partial void LogAcceptFailed(ILogger logger, string code, string message);
}
