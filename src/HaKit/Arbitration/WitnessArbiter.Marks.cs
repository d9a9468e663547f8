using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Arbitration;

/// <summary>HaKit.Replication's outdated marks at the witness, over the witness socket (the envelopes are replay-checked per
/// sender, so the marks cannot use a socket of their own): one request, one reply, matched by request id.</summary>
internal sealed partial class WitnessArbiter
{
    private const int MarksYes = 1;
    private const int MarksNo = 2;

    private readonly Dictionary<ulong, TaskCompletionSource<OutdatedMarkReply>> _markReplies = []; // guarded by _gate
    private ulong _nextMarkRequest; // guarded by _gate
    private int _marksSupported; // 0: unknown until the witness answered a vote

    /// <inheritdoc />
    public async ValueTask<bool> SetOutdatedAsync(string group, string node, long epoch, long index, CancellationToken cancellationToken)
    {
        var reply = await AskMarkAsync(new OutdatedMarkRequest { Group = group, Node = node, Op = OutdatedMarkOp.Set, Epoch = epoch, Index = index }, cancellationToken).ConfigureAwait(false);
        return reply.Status == OutdatedMarkStatus.Done;
    }

    /// <inheritdoc />
    public async ValueTask<bool> ClearOutdatedAsync(string group, string node, CancellationToken cancellationToken)
    {
        var reply = await AskMarkAsync(new OutdatedMarkRequest { Group = group, Node = node, Op = OutdatedMarkOp.Clear }, cancellationToken).ConfigureAwait(false);
        return reply.Status == OutdatedMarkStatus.Done;
    }

    /// <inheritdoc />
    public async ValueTask<OutdatedMark?> GetOutdatedAsync(string group, string node, CancellationToken cancellationToken)
    {
        var reply = await AskMarkAsync(new OutdatedMarkRequest { Group = group, Node = node, Op = OutdatedMarkOp.Get }, cancellationToken).ConfigureAwait(false);
        return reply.Present ? new OutdatedMark(reply.Epoch, reply.Index, reply.MarkedBy) : null;
    }

    /// <summary>How many times a mark request is sent (each waits one witness request timeout): every operation is idempotent.</summary>
    private const int MarkAttempts = 3;

    /// <summary>Sends a request and waits for its reply, sending it again after each witness request timeout without one (at most
    /// <see cref="MarkAttempts"/> times); a reply the witness could not store (<see cref="OutdatedMarkStatus.Failed"/>) throws like
    /// no reply.</summary>
    private async Task<OutdatedMarkReply> AskMarkAsync(OutdatedMarkRequest request, CancellationToken cancellationToken)
    {
        ThrowIfUnsupported();
        var answer = new TaskCompletionSource<OutdatedMarkReply>(TaskCreationOptions.RunContinuationsAsynchronously);
        var codec = _codec;
        var socket = _socket;
        if (codec is null || socket is null)
        {
            throw new TimeoutException($"{Name}: witness voting has not started");
        }

        var packet = new byte[codec.MaxPacketSize];
        var message = new ClusterMessage { OutdatedMarkRequest = request };
        lock (_gate)
        {
            request.RequestId = ++_nextMarkRequest;
            _markReplies[request.RequestId] = answer;
        }

        var payload = new byte[message.CalculateSize()];
        PayloadCodec.Write(message, payload);
        try
        {
            OutdatedMarkReply? reply = null;
            for (var attempt = 0; attempt < MarkAttempts && reply is null; attempt++)
            {
                int length;
                lock (_gate)
                {
                    length = codec.Encode(payload, packet); // the codec's sequence is shared with the votes: encode under the same lock
                }

                await SendToWitnessAsync(socket, packet.AsMemory(0, length)).ConfigureAwait(false);
                try
                {
                    reply = await answer.Task.WaitAsync(_options.Arbiter.Witness.RequestTimeout, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    ThrowIfUnsupported(); // an earlier witness drops the request; its vote replies say so meanwhile
                }
            }

            if (reply is null)
            {
                throw new TimeoutException($"{Name}: no answer to the outdated mark request ({request.Op} {request.Node} in group {request.Group}) after {MarkAttempts} attempts {_options.Arbiter.Witness.RequestTimeout.TotalMilliseconds:0} ms apart");
            }

            if (reply.Status == OutdatedMarkStatus.Failed)
            {
                throw new TimeoutException($"{Name}: the witness did not store the outdated mark ({request.Op} {request.Node} in group {request.Group}): {reply.Reason}");
            }

            return reply;
        }
        finally
        {
            lock (_gate)
            {
                _markReplies.Remove(request.RequestId);
            }
        }
    }

    private void ThrowIfUnsupported()
    {
        if (Volatile.Read(ref _marksSupported) == MarksNo)
        {
            throw new NotSupportedException($"{Name} does not hold outdated marks (a witness of an earlier release: its vote replies do not offer them); upgrade the witness");
        }
    }

    private void OnMarkReply(OutdatedMarkReply reply)
    {
        TaskCompletionSource<OutdatedMarkReply>? waiting;
        lock (_gate)
        {
            _markReplies.TryGetValue(reply.RequestId, out waiting);
        }

        waiting?.TrySetResult(reply);
    }
}
