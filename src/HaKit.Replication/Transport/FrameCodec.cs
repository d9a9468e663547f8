using Google.Protobuf;
using HaKit.Replication.Protocol;
using HaKit.Replication.V1;

namespace HaKit.Replication.Transport;

/// <summary>Maps protocol messages to and from the wire's frames. Entries travel as one buffer of records per batch.</summary>
internal static class FrameCodec
{
    /// <summary>The frame for <paramref name="message"/>.</summary>
    public static Frame Encode(ReplicationMessage message)
    {
        switch (message)
        {
            case AppendMessage append:
                var appendFrame = new Append
                {
                    Epoch = append.Epoch,
                    PrevEpoch = append.Prev.Epoch,
                    PrevIndex = append.Prev.Index,
                    Records = UnsafeByteOperations.UnsafeWrap(append.Batch.Records),
                    OwnerAcknowledged = append.OwnerAcknowledged,
                    PeerOutdated = append.PeerOutdated,
                    AcknowledgedBytesAhead = append.AcknowledgedBytesAhead,
                };
                if (append.OwnerDurable >= 0)
                {
                    appendFrame.OwnerDurable = append.OwnerDurable;
                }

                if (append.OwnerEarlierEpochs is { Count: > 0 } earlier)
                {
                    appendFrame.OwnerEarlierEpochs.AddRange(earlier);
                }

                return new Frame { Append = appendFrame };
            case AckMessage ack:
                return new Frame { Ack = new Ack { Epoch = ack.Epoch, Received = ack.Received, Durable = ack.Durable } };
            case RejectMessage reject:
                return new Frame
                {
                    Reject = new Reject
                    {
                        Epoch = reject.Epoch,
                        Reason = (V1.RejectReason)(int)reject.Reason,
                        LastIndex = reject.LastIndex,
                        ConflictEpoch = reject.ConflictEpoch,
                        ConflictFirstIndex = reject.ConflictFirstIndex,
                    },
                };
            case SnapshotChunkMessage chunk:
                return new Frame
                {
                    SnapshotChunk = new SnapshotChunk
                    {
                        Epoch = chunk.Epoch,
                        SnapshotEpoch = chunk.Position.Epoch,
                        SnapshotIndex = chunk.Position.Index,
                        Offset = chunk.Offset,
                        TotalBytes = chunk.TotalBytes,
                        Data = UnsafeByteOperations.UnsafeWrap(chunk.Data),
                        Crc32C = chunk.Crc,
                    },
                };
            case SnapshotChunkAckMessage chunkAck:
                return new Frame
                {
                    SnapshotChunkAck = new SnapshotChunkAck
                    {
                        Epoch = chunkAck.Epoch,
                        SnapshotEpoch = chunkAck.Position.Epoch,
                        SnapshotIndex = chunkAck.Position.Index,
                        NextOffset = chunkAck.NextOffset,
                    },
                };
            default:
                throw new ArgumentException($"unknown message {message.GetType().Name}", nameof(message));
        }
    }

    /// <summary>The message in <paramref name="frame"/>, or <see langword="null"/> if it is malformed (it is then dropped; the protocol resends).</summary>
    public static ReplicationMessage? Decode(Frame frame)
    {
        switch (frame.KindCase)
        {
            case Frame.KindOneofCase.Append:
                var append = frame.Append;
                if (!RecordBatch.TryDecode(append.Records.Memory, append.PrevIndex, out var batch))
                {
                    return null;
                }

                return new AppendMessage(append.Epoch, new LogPosition(append.PrevEpoch, append.PrevIndex), batch, append.OwnerAcknowledged, append.PeerOutdated,
                    append.OwnerEarlierEpochs.Count > 0 ? [.. append.OwnerEarlierEpochs] : null, append.AcknowledgedBytesAhead,
                    append.HasOwnerDurable ? append.OwnerDurable : -1);
            case Frame.KindOneofCase.Ack:
                return new AckMessage(frame.Ack.Epoch, frame.Ack.Received, frame.Ack.Durable);
            case Frame.KindOneofCase.Reject:
                var reject = frame.Reject;
                return new RejectMessage(reject.Epoch, (Protocol.RejectReason)(int)reject.Reason, reject.LastIndex, reject.ConflictEpoch, reject.ConflictFirstIndex);
            case Frame.KindOneofCase.SnapshotChunk:
                var chunk = frame.SnapshotChunk;
                return new SnapshotChunkMessage(chunk.Epoch, new LogPosition(chunk.SnapshotEpoch, chunk.SnapshotIndex), chunk.Offset, chunk.TotalBytes,
                    chunk.Data.Memory, chunk.Crc32C);
            case Frame.KindOneofCase.SnapshotChunkAck:
                var chunkAck = frame.SnapshotChunkAck;
                return new SnapshotChunkAckMessage(chunkAck.Epoch, new LogPosition(chunkAck.SnapshotEpoch, chunkAck.SnapshotIndex), chunkAck.NextOffset);
            default:
                return null;
        }
    }
}
