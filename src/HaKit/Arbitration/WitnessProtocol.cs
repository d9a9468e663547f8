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
}
