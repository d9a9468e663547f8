using HaKit.Wire;
using HaKit.Wire.Proto;

namespace HaKit.Arbitration;

/// <summary>What a vote message asks of a voter.</summary>
public enum VoteMessageKind
{
    /// <summary>Not a vote request or release (a heartbeat, a reply, junk): the voter drops it.</summary>
    None = 0,

    /// <summary>A node asks for (or renews) a lease: answer with <see cref="WitnessProtocol.WriteReply"/>.</summary>
    Request = 1,

    /// <summary>A node gives a lease back (no answer).</summary>
    Release = 2,
}

/// <summary>A vote request or release read by <see cref="WitnessProtocol.TryRead"/>.</summary>
/// <param name="Kind">Request or release.</param>
/// <param name="Group">The resource group (never empty).</param>
/// <param name="Epoch">The epoch asked for, or given back.</param>
/// <param name="Ttl">Request: the lease time asked for.</param>
/// <param name="Renew">Request: a renewal of a lease the requester holds.</param>
/// <param name="RequestId">The requester's correlation id (a release names the grant of that request; 0 = the lease held with <paramref name="Epoch"/>).</param>
public readonly record struct VoteMessage(VoteMessageKind Kind, string Group, ulong Epoch, TimeSpan Ttl, bool Renew, ulong RequestId);

/// <summary>What an outdated-mark request asks of the witness.</summary>
public enum OutdatedMarkOperation
{
    /// <summary>Read a node's mark (anyone of the cluster may).</summary>
    Get = 0,

    /// <summary>Mark a node outdated (only the holder of the group's grant at the witness).</summary>
    Set = 1,

    /// <summary>Clear a node's mark (only the holder of the group's grant at the witness).</summary>
    Clear = 2,
}

/// <summary>How the witness answered an outdated-mark request.</summary>
public enum OutdatedMarkOutcome
{
    /// <summary>Set or clear: stored durably; get: read (the mark, or none).</summary>
    Done = 0,

    /// <summary>Set or clear refused: the requester does not hold the group's unexpired grant at the witness.</summary>
    NotHolder = 1,

    /// <summary>The witness could not store it durably: nothing changed.</summary>
    Failed = 2,
}

/// <summary>An outdated-mark request read by <see cref="WitnessProtocol.TryReadMark"/>.</summary>
/// <param name="Operation">Get, set or clear.</param>
/// <param name="Group">The resource group (never empty).</param>
/// <param name="Node">The node marked or read (never empty).</param>
/// <param name="Epoch">Set: the marking owner's epoch (not negative).</param>
/// <param name="Index">Set: the owner's acknowledged index when it marked (not negative).</param>
/// <param name="RequestId">The requester's correlation id.</param>
public readonly record struct OutdatedMarkMessage(OutdatedMarkOperation Operation, string Group, string Node, long Epoch, long Index, ulong RequestId);

/// <summary>An outdated mark (HaKit.Replication's, held by the witness): <paramref name="MarkedBy"/> acknowledged writes from
/// <paramref name="Index"/> in <paramref name="Epoch"/> on without the marked node.</summary>
/// <param name="Epoch">The marking owner's epoch.</param>
/// <param name="Index">The owner's acknowledged index when it marked.</param>
/// <param name="MarkedBy">The owner that wrote it.</param>
public sealed record OutdatedMark(long Epoch, long Index, string MarkedBy);

/// <summary>
/// The payloads of Witness mode's votes, for a voter that runs outside a node (the HaKit witness server, or your own):
/// reads requests and releases out of an opened envelope's payload and writes the signed reply's payload. Envelopes
/// (authentication, replay protection) stay with <see cref="EnvelopeCodec"/>; the grant rules with <see cref="LeaseGrantor"/>.
/// One instance reuses its message buffers: use it from one thread at a time.
/// </summary>
public sealed class WitnessProtocol
{
    private readonly ClusterMessage _read = new();
    private readonly ClusterMessage _reply = new();

    /// <summary>Whether the voter holds outdated marks: written into every vote reply, so that nodes know they may send
    /// <c>OutdatedMarkRequest</c>s (answered with <see cref="WriteMarkReply"/>). Default <see langword="false"/>.</summary>
    public bool HoldsOutdatedMarks { get; set; }

    /// <summary>Reads a vote request or release from a payload.</summary>
    /// <param name="payload">The opened envelope's payload.</param>
    /// <param name="message">The message, when this returns <see langword="true"/>.</param>
    /// <returns><see langword="false"/> for anything that is not a well-formed request or release naming a group.</returns>
    public bool TryRead(ReadOnlySpan<byte> payload, out VoteMessage message)
    {
        message = default;
        if (!PayloadCodec.TryRead(payload, _read))
        {
            return false;
        }

        switch (_read.BodyCase)
        {
            case ClusterMessage.BodyOneofCase.VoteRequest when _read.VoteRequest.Group.Length > 0:
                var q = _read.VoteRequest;
                message = new VoteMessage(VoteMessageKind.Request, q.Group, q.Epoch, TimeSpan.FromMilliseconds(q.TtlMs), q.Renew, q.RequestId);
                return true;
            case ClusterMessage.BodyOneofCase.VoteRelease when _read.VoteRelease.Group.Length > 0:
                var r = _read.VoteRelease;
                message = new VoteMessage(VoteMessageKind.Release, r.Group, r.Epoch, TimeSpan.Zero, false, r.RequestId);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Writes the payload of the answer to a request. A grant carries no reason; a refusal's reason is dropped when it
    /// would not fit <paramref name="maxPayloadLength"/> (the fields are the answer, the words a courtesy).</summary>
    /// <param name="request">The request answered.</param>
    /// <param name="requester">The requesting node.</param>
    /// <param name="vote">The voter's answer.</param>
    /// <param name="destination">Receives the payload.</param>
    /// <param name="maxPayloadLength">The largest payload the envelope can carry (<see cref="EnvelopeCodec.MaxPayloadLength"/>).</param>
    /// <returns>The payload length, or 0 when even the answer without its reason does not fit.</returns>
    public int WriteReply(in VoteMessage request, string requester, LeaseVote vote, Span<byte> destination, int maxPayloadLength)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(vote);
        var answer = WitnessVoter.ToReply(request.RequestId, request.Group, requester, vote);
        if (vote.Granted)
        {
            answer.Reason = "";
        }

        answer.OutdatedMarks = HoldsOutdatedMarks;

        _reply.VoteReply = answer;
        if (_reply.CalculateSize() > maxPayloadLength)
        {
            answer.Reason = "";
            if (_reply.CalculateSize() > maxPayloadLength)
            {
                return 0;
            }
        }

        return PayloadCodec.Write(_reply, destination);
    }

    /// <summary>Reads an outdated-mark request from a payload.</summary>
    /// <param name="payload">The opened envelope's payload.</param>
    /// <param name="message">The request, when this returns <see langword="true"/>.</param>
    /// <returns><see langword="false"/> for anything that is not a well-formed request naming a group and a node (with a
    /// known operation, and no negative position).</returns>
    public bool TryReadMark(ReadOnlySpan<byte> payload, out OutdatedMarkMessage message)
    {
        message = default;
        if (!PayloadCodec.TryRead(payload, _read) || _read.BodyCase != ClusterMessage.BodyOneofCase.OutdatedMarkRequest)
        {
            return false;
        }

        var q = _read.OutdatedMarkRequest;
        if (q.Group.Length == 0 || q.Node.Length == 0 || q.Epoch < 0 || q.Index < 0
            || q.Op is not (OutdatedMarkOp.Get or OutdatedMarkOp.Set or OutdatedMarkOp.Clear))
        {
            return false;
        }

        var operation = q.Op switch
        {
            OutdatedMarkOp.Set => OutdatedMarkOperation.Set,
            OutdatedMarkOp.Clear => OutdatedMarkOperation.Clear,
            _ => OutdatedMarkOperation.Get,
        };
        message = new OutdatedMarkMessage(operation, q.Group, q.Node, q.Epoch, q.Index, q.RequestId);
        return true;
    }

    /// <summary>Writes the payload of the answer to an outdated-mark request. The reason is dropped when it would not fit.</summary>
    /// <param name="request">The request answered.</param>
    /// <param name="outcome">What was done.</param>
    /// <param name="mark">Get: the node's mark, or <see langword="null"/> for none; otherwise ignored.</param>
    /// <param name="reason">Not done: why, in words.</param>
    /// <param name="destination">Receives the payload.</param>
    /// <param name="maxPayloadLength">The largest payload the envelope can carry (<see cref="EnvelopeCodec.MaxPayloadLength"/>).</param>
    /// <returns>The payload length, or 0 when even the answer without its reason does not fit.</returns>
    public int WriteMarkReply(in OutdatedMarkMessage request, OutdatedMarkOutcome outcome, OutdatedMark? mark, string reason, Span<byte> destination, int maxPayloadLength)
    {
        var answer = new OutdatedMarkReply
        {
            RequestId = request.RequestId,
            Group = request.Group,
            Node = request.Node,
            Status = outcome switch
            {
                OutdatedMarkOutcome.Done => OutdatedMarkStatus.Done,
                OutdatedMarkOutcome.NotHolder => OutdatedMarkStatus.NotHolder,
                _ => OutdatedMarkStatus.Failed,
            },
            Reason = outcome == OutdatedMarkOutcome.Done ? "" : reason ?? "",
        };
        if (outcome == OutdatedMarkOutcome.Done && request.Operation == OutdatedMarkOperation.Get && mark is not null)
        {
            answer.Present = true;
            answer.Epoch = mark.Epoch;
            answer.Index = mark.Index;
            answer.MarkedBy = mark.MarkedBy;
        }

        _reply.OutdatedMarkReply = answer;
        if (_reply.CalculateSize() > maxPayloadLength)
        {
            answer.Reason = "";
            if (_reply.CalculateSize() > maxPayloadLength)
            {
                return 0;
            }
        }

        return PayloadCodec.Write(_reply, destination);
    }
}
