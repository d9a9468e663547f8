using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace HaKit.Wire;

/// <summary>
/// Encodes and opens HaKit envelopes (see <c>hakit.proto</c>): cluster, sender, incarnation, sequence, key id, payload,
/// then a 32-byte HMAC-SHA256 over every preceding byte as the last field. Opening checks the size, the structure,
/// the cluster, the sender, the key, the MAC and finally replay, and counts every outcome in <see cref="Stats"/>.
/// </summary>
/// <remarks>
/// Thread-safe: one instance may encode on a send thread while several receive threads open packets.
/// Both directions are allocation-free. The encoding is the canonical protobuf one (fields in number order, fields
/// with default values omitted), byte for byte what Google.Protobuf writes for the same envelope; an incarnation of 0
/// and an empty payload are therefore absent from the packet, while cluster, sender, sequence, key id and mac are
/// required when opening.
/// </remarks>
public sealed class EnvelopeCodec
{
    private const int ReplayWindowSize = 64;
    private const int MacFieldLength = 2 + AuthKeyRing.MacLength;
    private const uint RequiredFields = (1u << 1) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 7);

    private static readonly byte TagCluster = ProtoWire.Tag(1, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagSender = ProtoWire.Tag(2, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagIncarnation = ProtoWire.Tag(3, ProtoWire.WireTypeVarint);
    private static readonly byte TagSequence = ProtoWire.Tag(4, ProtoWire.WireTypeVarint);
    private static readonly byte TagKeyId = ProtoWire.Tag(5, ProtoWire.WireTypeVarint);
    private static readonly byte TagPayload = ProtoWire.Tag(6, ProtoWire.WireTypeLengthDelimited);
    private static readonly byte TagMac = ProtoWire.Tag(7, ProtoWire.WireTypeLengthDelimited);

    private readonly byte[] _clusterUtf8;
    private readonly byte[] _localUtf8;
    private readonly string[] _knownNodes;
    private readonly byte[][] _knownUtf8;
    private readonly ReplayWindow[] _windows;
    private readonly byte[] _prefix;
    private readonly byte[] _keyIdField;
    private readonly uint _sendKeyId;
    private readonly AuthKeyRing _keys;
    private ulong _lastSequence;

    /// <summary>Creates a codec for one local node.</summary>
    /// <param name="clusterName">The cluster name; packets of other clusters are dropped.</param>
    /// <param name="localNode">The local node's name, written as the sender; packets from it are dropped as <see cref="DropReason.FromSelf"/>.</param>
    /// <param name="knownNodes">Every node whose packets are accepted (the local node may be among them); names must be distinct and non-empty.</param>
    /// <param name="incarnation">The local incarnation (grows at every process start).</param>
    /// <param name="keys">The shared keys; outgoing packets are signed with <see cref="AuthKeyRing.SendKeyId"/>.</param>
    /// <param name="maxPacketSize">Largest packet written or accepted, in bytes.</param>
    /// <param name="stats">Where outcomes are counted.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A name is empty, or a known node is empty or listed twice.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxPacketSize"/> cannot hold an envelope with an empty payload.</exception>
    public EnvelopeCodec(string clusterName, string localNode, IReadOnlyList<string> knownNodes, ulong incarnation, AuthKeyRing keys, int maxPacketSize, WireStats stats)
    {
        ArgumentException.ThrowIfNullOrEmpty(clusterName);
        ArgumentException.ThrowIfNullOrEmpty(localNode);
        ArgumentNullException.ThrowIfNull(knownNodes);
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(stats);

        _knownNodes = new string[knownNodes.Count];
        _knownUtf8 = new byte[knownNodes.Count][];
        _windows = new ReplayWindow[knownNodes.Count];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < knownNodes.Count; i++)
        {
            string node = knownNodes[i];
            if (string.IsNullOrEmpty(node))
            {
                throw new ArgumentException($"Known node {i.ToString(CultureInfo.InvariantCulture)} has an empty name.", nameof(knownNodes));
            }

            if (!seen.Add(node))
            {
                throw new ArgumentException($"Known node '{node}' is listed twice.", nameof(knownNodes));
            }

            _knownNodes[i] = node;
            _knownUtf8[i] = Encoding.UTF8.GetBytes(node);
            _windows[i] = new ReplayWindow();
        }

        ClusterName = clusterName;
        LocalNode = localNode;
        KnownNodes = Array.AsReadOnly(_knownNodes);
        Incarnation = incarnation;
        Stats = stats;
        _keys = keys;
        _clusterUtf8 = Encoding.UTF8.GetBytes(clusterName);
        _localUtf8 = Encoding.UTF8.GetBytes(localNode);
        _sendKeyId = keys.SendKeyId;

        // Fields 1..3 never change: encode them once.
        int prefixLength = LengthDelimitedSize(_clusterUtf8.Length) + LengthDelimitedSize(_localUtf8.Length)
            + (incarnation == 0 ? 0 : 1 + ProtoWire.VarintLength(incarnation));
        _prefix = new byte[prefixLength];
        int pos = WriteLengthDelimited(_prefix, TagCluster, _clusterUtf8);
        pos += WriteLengthDelimited(_prefix.AsSpan(pos), TagSender, _localUtf8);
        if (incarnation != 0)
        {
            _prefix[pos++] = TagIncarnation;
            ProtoWire.WriteVarint(_prefix.AsSpan(pos), incarnation);
        }

        _keyIdField = new byte[1 + ProtoWire.VarintLength(_sendKeyId)];
        _keyIdField[0] = TagKeyId;
        ProtoWire.WriteVarint(_keyIdField.AsSpan(1), _sendKeyId);

        // Worst case without payload: the longest sequence, and a payload tag plus the longest length for this packet size.
        int fixedOverhead = _prefix.Length + 1 + ProtoWire.MaxVarintLength + _keyIdField.Length + 1 + MacFieldLength;
        int available = maxPacketSize - fixedOverhead;
        int maxPayload = available - ProtoWire.VarintLength((ulong)Math.Max(available, 0));
        if (maxPacketSize <= 0 || maxPayload < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxPacketSize), maxPacketSize, $"The maximum packet size must be at least {(fixedOverhead + 1).ToString(CultureInfo.InvariantCulture)} bytes for this cluster name, node name and key.");
        }

        MaxPacketSize = maxPacketSize;
        MaxPayloadLength = maxPayload;
    }

    /// <summary>The cluster name.</summary>
    public string ClusterName { get; }

    /// <summary>The local node's name.</summary>
    public string LocalNode { get; }

    /// <summary>The nodes whose packets are accepted; <see cref="OpenedEnvelope.SenderIndex"/> indexes this list.</summary>
    public IReadOnlyList<string> KnownNodes { get; }

    /// <summary>The local incarnation written in every packet.</summary>
    public ulong Incarnation { get; }

    /// <summary>Largest packet written or accepted, in bytes.</summary>
    public int MaxPacketSize { get; }

    /// <summary>A payload of at most this many bytes always fits in <see cref="MaxPacketSize"/>.</summary>
    public int MaxPayloadLength { get; }

    /// <summary>The counters this codec updates.</summary>
    public WireStats Stats { get; }

    /// <summary>The sequence number of the last packet encoded (0 before the first).</summary>
    public ulong LastSequence => Interlocked.Read(ref _lastSequence);

    /// <summary>
    /// Writes one signed envelope carrying <paramref name="payload"/>, with the next sequence number (1, 2, ...).
    /// A call that throws still consumes a sequence number, which receivers see as a harmless gap.
    /// </summary>
    /// <param name="payload">The serialized <c>ClusterMessage</c>. Must not overlap <paramref name="destination"/>.</param>
    /// <param name="destination">Where the packet is written.</param>
    /// <returns>The packet length in bytes.</returns>
    /// <exception cref="ArgumentException">
    /// The packet would exceed <see cref="MaxPacketSize"/>, or <paramref name="destination"/> is too small for it.
    /// </exception>
    /// <exception cref="ObjectDisposedException">The key ring was disposed.</exception>
    public int Encode(ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        ulong sequence = Interlocked.Increment(ref _lastSequence);
        long payloadField = payload.IsEmpty ? 0 : 1L + ProtoWire.VarintLength((ulong)payload.Length) + payload.Length;
        long size = _prefix.Length + 1L + ProtoWire.VarintLength(sequence) + _keyIdField.Length + payloadField + MacFieldLength;
        if (size > MaxPacketSize)
        {
            throw TooLarge(payload.Length, size);
        }

        int total = (int)size;

        if (total > destination.Length)
        {
            throw new ArgumentException($"The destination holds {destination.Length.ToString(CultureInfo.InvariantCulture)} bytes but the packet needs {total.ToString(CultureInfo.InvariantCulture)}.", nameof(destination));
        }

        _prefix.CopyTo(destination);
        int pos = _prefix.Length;
        destination[pos++] = TagSequence;
        pos += ProtoWire.WriteVarint(destination[pos..], sequence);
        _keyIdField.CopyTo(destination[pos..]);
        pos += _keyIdField.Length;
        if (!payload.IsEmpty)
        {
            pos += WriteLengthDelimited(destination[pos..], TagPayload, payload);
        }

        destination[pos] = TagMac;
        destination[pos + 1] = AuthKeyRing.MacLength;
        if (!_keys.TryComputeMac(_sendKeyId, destination[..pos], destination.Slice(pos + 2, AuthKeyRing.MacLength)))
        {
            throw new InvalidOperationException("The send key is missing from the key ring.");
        }

        return total;
    }

    /// <summary>
    /// Checks one received packet and, when it is authentic, for this cluster, from a known peer and not replayed,
    /// returns its contents. Never throws for any input and never allocates; every outcome is counted in <see cref="Stats"/>.
    /// </summary>
    /// <param name="packet">The received datagram.</param>
    /// <param name="envelope">The opened envelope when the result is <see langword="true"/>; otherwise default.</param>
    /// <param name="reason">Why the packet was dropped when the result is <see langword="false"/>.</param>
    /// <returns><see langword="true"/> when the packet is accepted.</returns>
    /// <exception cref="ObjectDisposedException">The key ring was disposed (a shutdown ordering bug, not an input problem).</exception>
    public bool TryOpen(ReadOnlySpan<byte> packet, out OpenedEnvelope envelope, out DropReason reason)
    {
        envelope = default;
        if (packet.Length > MaxPacketSize)
        {
            return Drop(DropReason.Oversized, out reason);
        }

        ReadStatus status = Parse(packet, out ParsedEnvelope parsed);
        if (status != ReadStatus.Ok)
        {
            return Drop(status == ReadStatus.Truncated ? DropReason.Truncated : DropReason.Malformed, out reason);
        }

        if (!parsed.Cluster.SequenceEqual(_clusterUtf8))
        {
            return Drop(DropReason.WrongCluster, out reason);
        }

        if (parsed.Sender.SequenceEqual(_localUtf8))
        {
            return Drop(DropReason.FromSelf, out reason);
        }

        int senderIndex = FindSender(parsed.Sender);
        if (senderIndex < 0)
        {
            return Drop(DropReason.UnknownSender, out reason);
        }

        Span<byte> expected = stackalloc byte[AuthKeyRing.MacLength];
        if (!_keys.TryComputeMac(parsed.KeyId, packet[..parsed.SignedLength], expected))
        {
            return Drop(DropReason.UnknownKey, out reason);
        }

        if (!CryptographicOperations.FixedTimeEquals(expected, parsed.Mac))
        {
            return Drop(DropReason.BadMac, out reason);
        }

        // Only now, with the MAC verified, may the packet move the replay window.
        if (!_windows[senderIndex].TryAccept(parsed.Incarnation, parsed.Sequence))
        {
            return Drop(DropReason.Replayed, out reason);
        }

        Stats.RecordAccepted();
        reason = default;
        envelope = new OpenedEnvelope(senderIndex, _knownNodes[senderIndex], parsed.Incarnation, parsed.Sequence, parsed.KeyId, parsed.Payload);
        return true;
    }

    /// <summary>
    /// Consumes the next sequence number exactly as <see cref="Encode"/> does, without writing a packet: the simulator's typed
    /// delivery (HaKit.Testing) hands the message itself to the receiver with this sequence number and skips the bytes and the MAC.
    /// </summary>
    /// <returns>The sequence number the envelope would have carried.</returns>
    internal ulong NextSequence() => Interlocked.Increment(ref _lastSequence);

    /// <summary>
    /// The checks of <see cref="TryOpen"/> that do not depend on the packet's bytes, for an envelope whose bytes and MAC the caller
    /// vouches for (the simulator's typed delivery, where the sender's codec stamped it in the same process): from self, unknown sender
    /// and replay, in that order, counted in <see cref="Stats"/> as <see cref="TryOpen"/> counts them.
    /// </summary>
    /// <param name="sender">The sender's name.</param>
    /// <param name="incarnation">The sender's incarnation.</param>
    /// <param name="sequence">The envelope's sequence number (<see cref="NextSequence"/> of the sender's codec).</param>
    /// <param name="knownSender">The sender's name as the codec's known-nodes list holds it (the instance <see cref="TryOpen"/> returns).</param>
    /// <param name="reason">Why the envelope was dropped when the result is <see langword="false"/>.</param>
    /// <returns><see langword="true"/> when the envelope is accepted.</returns>
    internal bool TryAcceptVouched(string sender, ulong incarnation, ulong sequence, out string? knownSender, out DropReason reason)
    {
        knownSender = null;
        if (string.Equals(sender, LocalNode, StringComparison.Ordinal))
        {
            return Drop(DropReason.FromSelf, out reason);
        }

        int senderIndex = Array.IndexOf(_knownNodes, sender);
        if (senderIndex < 0)
        {
            return Drop(DropReason.UnknownSender, out reason);
        }

        if (!_windows[senderIndex].TryAccept(incarnation, sequence))
        {
            return Drop(DropReason.Replayed, out reason);
        }

        Stats.RecordAccepted();
        reason = default;
        knownSender = _knownNodes[senderIndex];
        return true;
    }

    /// <summary>
    /// Reads the cluster name an envelope claims (its first field) without checking anything else, so that a receiver serving
    /// several clusters (the witness) can pick the codec that will open it. The claim is only trusted once that codec opened the packet.
    /// </summary>
    /// <param name="packet">The received datagram.</param>
    /// <param name="clusterUtf8">The claimed cluster name, UTF-8, a slice of <paramref name="packet"/>.</param>
    /// <returns><see langword="false"/> when the packet does not start with a cluster field.</returns>
    public static bool TryPeekCluster(ReadOnlySpan<byte> packet, out ReadOnlySpan<byte> clusterUtf8)
    {
        clusterUtf8 = default;
        int pos = 0;
        if (ProtoWire.TryReadVarint(packet, ref pos, out ulong tag) != ReadStatus.Ok || tag != TagCluster
            || ProtoWire.TryReadVarint(packet, ref pos, out ulong length) != ReadStatus.Ok || length == 0 || length > (ulong)(packet.Length - pos))
        {
            return false;
        }

        clusterUtf8 = packet.Slice(pos, (int)length);
        return true;
    }

    private bool Drop(DropReason dropReason, out DropReason reason)
    {
        Stats.RecordDropped(dropReason);
        reason = dropReason;
        return false;
    }

    private int FindSender(ReadOnlySpan<byte> sender)
    {
        byte[][] known = _knownUtf8;
        for (int i = 0; i < known.Length; i++)
        {
            if (sender.SequenceEqual(known[i]))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Structural parse: fields 1..7 strictly in order, right wire types, mac last and 32 bytes, required fields present.</summary>
    private static ReadStatus Parse(ReadOnlySpan<byte> packet, out ParsedEnvelope parsed)
    {
        parsed = default;
        int pos = 0;
        int lastField = 0;
        uint present = 0;
        while (pos < packet.Length)
        {
            int tagStart = pos;
            ReadStatus status = ProtoWire.TryReadVarint(packet, ref pos, out ulong tag);
            if (status != ReadStatus.Ok)
            {
                return status;
            }

            ulong fieldNumber = tag >> 3;
            int wireType = (int)(tag & 7);
            if (fieldNumber is 0 or > 7)
            {
                return ReadStatus.Malformed; // unknown field
            }

            int field = (int)fieldNumber;
            if (field <= lastField)
            {
                return ReadStatus.Malformed; // duplicate or out of order
            }

            lastField = field;
            present |= 1u << field;
            bool isVarintField = field is 3 or 4 or 5;
            if (wireType != (isVarintField ? ProtoWire.WireTypeVarint : ProtoWire.WireTypeLengthDelimited))
            {
                return ReadStatus.Malformed;
            }

            status = ProtoWire.TryReadVarint(packet, ref pos, out ulong value);
            if (status != ReadStatus.Ok)
            {
                return status;
            }

            if (isVarintField)
            {
                switch (field)
                {
                    case 3:
                        parsed.Incarnation = value;
                        break;
                    case 4:
                        parsed.Sequence = value;
                        break;
                    default:
                        if (value > uint.MaxValue)
                        {
                            return ReadStatus.Malformed;
                        }

                        parsed.KeyId = (uint)value;
                        break;
                }

                continue;
            }

            if (field == 7 && value != AuthKeyRing.MacLength)
            {
                return ReadStatus.Malformed; // mac must be exactly 32 bytes
            }

            if (value > (ulong)(packet.Length - pos))
            {
                return ReadStatus.Truncated;
            }

            ReadOnlySpan<byte> bytes = packet.Slice(pos, (int)value);
            pos += (int)value;
            switch (field)
            {
                case 1:
                    parsed.Cluster = bytes;
                    break;
                case 2:
                    parsed.Sender = bytes;
                    break;
                case 6:
                    parsed.Payload = bytes;
                    break;
                default:
                    if (pos != packet.Length)
                    {
                        return ReadStatus.Malformed; // mac is not the last field
                    }

                    parsed.Mac = bytes;
                    parsed.SignedLength = tagStart;
                    break;
            }
        }

        if ((present & RequiredFields) != RequiredFields || parsed.Sequence == 0)
        {
            return ReadStatus.Malformed;
        }

        return ReadStatus.Ok;
    }

    private static int LengthDelimitedSize(int length) => 1 + ProtoWire.VarintLength((ulong)length) + length;

    private static int WriteLengthDelimited(Span<byte> destination, byte tag, ReadOnlySpan<byte> value)
    {
        destination[0] = tag;
        int pos = 1 + ProtoWire.WriteVarint(destination[1..], (ulong)value.Length);
        value.CopyTo(destination[pos..]);
        return pos + value.Length;
    }

    private ArgumentException TooLarge(int payloadLength, long packetLength) =>
        new($"A payload of {payloadLength.ToString(CultureInfo.InvariantCulture)} bytes makes a packet of {packetLength.ToString(CultureInfo.InvariantCulture)} bytes, above the maximum packet size of {MaxPacketSize.ToString(CultureInfo.InvariantCulture)} (payloads up to {MaxPayloadLength.ToString(CultureInfo.InvariantCulture)} bytes always fit).", "payload");

    private ref struct ParsedEnvelope
    {
        public ReadOnlySpan<byte> Cluster;
        public ReadOnlySpan<byte> Sender;
        public ulong Incarnation;
        public ulong Sequence;
        public uint KeyId;
        public ReadOnlySpan<byte> Payload;
        public ReadOnlySpan<byte> Mac;
        public int SignedLength;
    }

    /// <summary>
    /// Per-sender replay state: the highest incarnation seen and a 64-entry sliding window of sequence numbers
    /// (bit i of <see cref="_seen"/> set = sequence <see cref="_highest"/> - i was accepted).
    /// </summary>
    private sealed class ReplayWindow
    {
        private readonly Lock _gate = new();
        private bool _any;
        private ulong _incarnation;
        private ulong _highest;
        private ulong _seen;

        public bool TryAccept(ulong incarnation, ulong sequence)
        {
            lock (_gate)
            {
                if (!_any || incarnation > _incarnation)
                {
                    _any = true;
                    _incarnation = incarnation;
                    _highest = sequence;
                    _seen = 1;
                    return true;
                }

                if (incarnation < _incarnation)
                {
                    return false;
                }

                if (sequence > _highest)
                {
                    ulong shift = sequence - _highest;
                    _seen = shift >= ReplayWindowSize ? 1 : (_seen << (int)shift) | 1;
                    _highest = sequence;
                    return true;
                }

                ulong age = _highest - sequence;
                if (age >= ReplayWindowSize)
                {
                    return false; // older than the window
                }

                ulong bit = 1UL << (int)age;
                if ((_seen & bit) != 0)
                {
                    return false; // duplicate
                }

                _seen |= bit;
                return true;
            }
        }
    }
}
