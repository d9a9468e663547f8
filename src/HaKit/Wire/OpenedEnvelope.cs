namespace HaKit.Wire;

/// <summary>
/// An authenticated, non-replayed envelope returned by <see cref="EnvelopeCodec.TryOpen"/>.
/// It points into the received packet: use it (or copy the payload) before the packet buffer is reused.
/// When <see cref="EnvelopeCodec.TryOpen"/> returns <see langword="false"/> the envelope is <see langword="default"/>
/// (its <see cref="Sender"/> is then null) and must not be used.
/// </summary>
public readonly ref struct OpenedEnvelope
{
    internal OpenedEnvelope(int senderIndex, string sender, ulong incarnation, ulong sequence, uint keyId, ReadOnlySpan<byte> payload)
    {
        SenderIndex = senderIndex;
        Sender = sender;
        Incarnation = incarnation;
        Sequence = sequence;
        KeyId = keyId;
        Payload = payload;
    }

    /// <summary>Index of the sender in the codec's known nodes.</summary>
    public int SenderIndex { get; }

    /// <summary>The sender's name: the very string instance from the codec's known nodes (no allocation per packet).</summary>
    public string Sender { get; }

    /// <summary>The sender's incarnation (grows at every process start of the sender).</summary>
    public ulong Incarnation { get; }

    /// <summary>The sender's sequence number within its incarnation (starts at 1).</summary>
    public ulong Sequence { get; }

    /// <summary>The id of the key that signed the packet.</summary>
    public uint KeyId { get; }

    /// <summary>The payload (a serialized <c>ClusterMessage</c>), a slice of the received packet.</summary>
    public ReadOnlySpan<byte> Payload { get; }
}
