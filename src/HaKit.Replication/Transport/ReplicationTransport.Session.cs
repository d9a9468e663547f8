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
        private readonly ConcurrentQueue<ReplicationMessage> _out = new();
        private readonly CancellationTokenSource _cts;
        private readonly IAsyncStreamWriter<Frame> _writer;
        private int _writing;
        private volatile bool _aborted;
        private Task _drain = Task.CompletedTask;

        public Session(IAsyncStreamWriter<Frame> writer, CancellationToken stop)
        {
            _writer = writer;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            Send = message =>
            {
                if (_aborted)
                {
                    return false;
                }

                _out.Enqueue((ReplicationMessage)message);
                if (Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
                {
                    _drain = DrainAsync();
                }

                return true;
            };
        }

        public Func<object, bool> Send { get; }

        public CancellationToken Token => _cts.Token;

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
                        var write = _writer.WriteAsync(FrameCodec.Encode(message), _cts.Token);
                        if (!write.IsCompletedSuccessfully)
                        {
                            await write.ConfigureAwait(false);
                        }

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
