using Google.Protobuf;
using HaKit.Wire.Proto;

namespace HaKit.Wire;

/// <summary>Serializes <see cref="ClusterMessage"/> payloads into spans and parses them into reused instances.</summary>
internal static class PayloadCodec
{
    private const ulong MaxFieldNumber = (1UL << 29) - 1;

    private static readonly byte TagHeartbeat = ProtoWire.Tag(ClusterMessage.HeartbeatFieldNumber, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagVoteRequest = ProtoWire.Tag(ClusterMessage.VoteRequestFieldNumber, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagVoteReply = ProtoWire.Tag(ClusterMessage.VoteReplyFieldNumber, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagVoteRelease = ProtoWire.Tag(ClusterMessage.VoteReleaseFieldNumber, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagAdminRequest = ProtoWire.Tag(ClusterMessage.AdminRequestFieldNumber, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagAdminReply = ProtoWire.Tag(ClusterMessage.AdminReplyFieldNumber, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagMarkRequest = ProtoWire.Tag(ClusterMessage.OutdatedMarkRequestFieldNumber, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagMarkReply = ProtoWire.Tag(ClusterMessage.OutdatedMarkReplyFieldNumber, ProtoWire.WireTypeLengthDelimited);

    /// <summary>Writes <paramref name="message"/> to the start of <paramref name="destination"/> without allocating.</summary>
    /// <returns>The number of bytes written.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public static int Write(ClusterMessage message, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(message);
        int size = message.CalculateSize();
        if (size > destination.Length)
        {
            throw new ArgumentException($"The message needs {size} bytes but the destination holds {destination.Length}.", nameof(destination));
        }

        message.WriteTo(destination[..size]);
        return size;
    }

    /// <summary>
    /// Clears <paramref name="reuse"/> and merges <paramref name="payload"/> into it. Unknown top-level fields (from newer
    /// peers) are skipped rather than kept, so a reused instance never accumulates them. Never throws for any input.
    /// </summary>
    /// <returns><see langword="false"/> when the payload is not a valid <see cref="ClusterMessage"/> (then <paramref name="reuse"/> is left cleared).</returns>
    public static bool TryRead(ReadOnlySpan<byte> payload, ClusterMessage reuse)
    {
        ArgumentNullException.ThrowIfNull(reuse);
        reuse.ClearBody();
        Heartbeat? heartbeat = null;
        IMessage? vote = null; // witness-mode and admin messages are rare: parsed with allocation
        int pos = 0;
        while (pos < payload.Length)
        {
            if (ProtoWire.TryReadVarint(payload, ref pos, out ulong tag) != ReadStatus.Ok || tag >> 3 == 0 || tag >> 3 > MaxFieldNumber)
            {
                reuse.ClearBody();
                return false;
            }

            if (tag == TagHeartbeat || tag == TagVoteRequest || tag == TagVoteReply || tag == TagVoteRelease || tag == TagAdminRequest || tag == TagAdminReply
                || tag == TagMarkRequest || tag == TagMarkReply)
            {
                if (!TryReadLength(payload, ref pos, out ReadOnlySpan<byte> bytes))
                {
                    reuse.ClearBody();
                    return false;
                }

                // Repeated occurrences of a message field merge, as in any protobuf parser; of a oneof, the last one wins.
                try
                {
                    if (tag == TagHeartbeat)
                    {
                        heartbeat ??= new Heartbeat();
                        heartbeat.MergeFrom(bytes);
                        vote = null;
                    }
                    else
                    {
                        IMessage target = tag == TagVoteRequest ? vote as VoteRequest ?? new VoteRequest()
                            : tag == TagVoteReply ? vote as VoteReply ?? new VoteReply()
                            : tag == TagVoteRelease ? vote as VoteRelease ?? new VoteRelease()
                            : tag == TagAdminRequest ? vote as AdminRequest ?? new AdminRequest()
                            : tag == TagAdminReply ? vote as AdminReply ?? new AdminReply()
                            : tag == TagMarkRequest ? vote as OutdatedMarkRequest ?? new OutdatedMarkRequest()
                            : vote as OutdatedMarkReply ?? new OutdatedMarkReply();
                        target.MergeFrom(bytes);
                        vote = target;
                        heartbeat = null;
                    }
                }
                catch (InvalidProtocolBufferException)
                {
                    reuse.ClearBody();
                    return false;
                }

                continue;
            }

            if (!TrySkip(payload, ref pos, (int)(tag & 7)))
            {
                reuse.ClearBody();
                return false;
            }
        }

        switch (vote)
        {
            case VoteRequest request:
                reuse.VoteRequest = request;
                break;
            case VoteReply reply:
                reuse.VoteReply = reply;
                break;
            case VoteRelease release:
                reuse.VoteRelease = release;
                break;
            case AdminRequest adminRequest:
                reuse.AdminRequest = adminRequest;
                break;
            case AdminReply adminReply:
                reuse.AdminReply = adminReply;
                break;
            case OutdatedMarkRequest markRequest:
                reuse.OutdatedMarkRequest = markRequest;
                break;
            case OutdatedMarkReply markReply:
                reuse.OutdatedMarkReply = markReply;
                break;
            default:
                if (heartbeat is not null)
                {
                    reuse.Heartbeat = heartbeat;
                }

                break;
        }

        return true;
    }

    private static bool TryReadLength(ReadOnlySpan<byte> payload, ref int pos, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (ProtoWire.TryReadVarint(payload, ref pos, out ulong length) != ReadStatus.Ok || length > (ulong)(payload.Length - pos))
        {
            return false;
        }

        bytes = payload.Slice(pos, (int)length);
        pos += (int)length;
        return true;
    }

    private static bool TrySkip(ReadOnlySpan<byte> payload, ref int pos, int wireType)
    {
        switch (wireType)
        {
            case 0:
                return ProtoWire.TryReadVarint(payload, ref pos, out _) == ReadStatus.Ok;
            case 1:
                pos += 8;
                return pos <= payload.Length;
            case 2:
                return TryReadLength(payload, ref pos, out _);
            case 5:
                pos += 4;
                return pos <= payload.Length;
            default:
                return false; // groups (3, 4) are not used by proto3; 6 and 7 are invalid
        }
    }
}
