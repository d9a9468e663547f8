using System.Collections.Concurrent;
using Grpc.Core;
using HaKit.Replication.Protocol;
using HaKit.Replication.Transport;
using HaKit.Replication.V1;

namespace HaKit.Replication;

public sealed partial class ReplicationTransport
{
    /// <summary>
    /// One stream's outgoing queue and lifetime. A message is written by the thread that sends it (the log's loop) when no write
    /// is in progress, and otherwise by the write in progress when it ends, in order: one gRPC write at a time, as the stream
    /// requires, without a thread-pool hop per message (a dedicated write loop woken by a queue used to cost one hop, 10–50 µs
    /// on a loaded machine, on the path of every append and every ack).
    /// </summary>
    private sealed class Session : IDisposable
    {
        /// <summary>A Tcp stream's keep-alive frame (<see cref="SendPing"/>; never sent on a gRPC stream).</summary>
        private static readonly Frame PingFrame = new() { Ping = new Ping() };

        // Queued messages; null is a ping.
        private readonly ConcurrentQueue<ReplicationMessage?> _out = new();
        private long _framesSent;
        private readonly CancellationTokenSource _cts;
        private readonly IAsyncStreamWriter<Frame> _writer;
        private int _writing;
        private volatile bool _aborted;
        private Task _drain = Task.CompletedTask;

        public Session(IAsyncStreamWriter<Frame> writer, CancellationToken stop)
        {
            _writer = writer;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            Send = message => Enqueue((ReplicationMessage)message);
        }

        public Func<object, bool> Send { get; }

        public CancellationToken Token => _cts.Token;

        /// <summary>Frames written so far (for the Tcp stream's idle watchdog).</summary>
        public long FramesSent => Volatile.Read(ref _framesSent);

        /// <summary>Queues a keep-alive frame (Tcp streams).</summary>
        public void SendPing() => Enqueue(null);

        private bool Enqueue(ReplicationMessage? message)
        {
            if (_aborted)
            {
                return false;
            }

            _out.Enqueue(message);
            if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
            {
                _drain = DrainAsync();
            }

            return true;
        }

        public void Abort()
        {
            _aborted = true;
            try
            {
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        /// <summary>Waits for a write in progress (after <see cref="Abort"/>: the stream ends only after it).</summary>
        public async Task StoppedAsync()
        {
            try
            {
                await Volatile.Read(ref _drain).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsStreamError(ex))
            {
            }
        }

        private async Task DrainAsync()
        {
            var failed = true;
            try
            {
                while (true)
                {
                    while (!_aborted && _out.TryDequeue(out var message))
                    {
                        var write = _writer.WriteAsync(message is null ? PingFrame : FrameCodec.Encode(message), _cts.Token);
                        if (!write.IsCompletedSuccessfully)
                        {
                            await write.ConfigureAwait(false);
                        }

                        Volatile.Write(ref _framesSent, _framesSent + 1); // one writer at a time
                        if (ReplicationTrace.On)
                        {
                            ReplicationTrace.Mark(message is AppendMessage ? 4 : 13, message is AppendMessage a ? a.LastIndex : message is AckMessage k ? k.Received : 0);
                        }
                    }

                    Volatile.Write(ref _writing, 0);
                    if (_aborted || _out.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                    {
                        failed = false;
                        return;
                    }
                }
            }
            catch (Exception ex) when (IsStreamError(ex))
            {
            }
            finally
            {
                if (failed)
                {
                    // A failed write (whatever the error) ends the stream: the reader stops too, and the log hears the peer is
                    // down, instead of a live stream whose writes stopped.
                    Abort();
                }
            }
        }

        private static bool IsStreamError(Exception ex) =>
            ex is RpcException or IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException or HttpRequestException;

        public void Dispose() => _cts.Dispose();
    }
}
