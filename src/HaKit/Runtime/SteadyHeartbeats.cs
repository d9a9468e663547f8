using HaKit.Ownership;
using HaKit.Wire;

namespace HaKit.Runtime;

/// <summary>
/// The node's shortcut for a heartbeat that repeats its sender's previous one (<see cref="InboundRouter.Route(ReadOnlySpan{byte}, string, SteadyHeartbeats)"/>, after the envelope's
/// MAC and replay checks): when an authentic payload's bytes equal the sender's last parsed heartbeat in every field but the
/// announcement number (<c>Heartbeat.sequence</c>), the heartbeat is that one with the new number, without the protobuf parse and the
/// mapping (about a sixth of the receive thread's CPU for an idle node's heartbeat, and most of its allocation). Equal bytes parse to
/// equal values, so the core receives exactly what the full path would have given it.
/// </summary>
/// <remarks>
/// Only the plain shape qualifies: a payload that is one <c>ClusterMessage.heartbeat</c> field spanning the whole payload, whose fields
/// are varints or length-delimited, with exactly one announcement number, not zero. Anything else (another message, a second heartbeat
/// field, an unknown wire type, another incarnation) takes the full path, which then records the heartbeat as the sender's latest.
/// Thread-safe: a link's receive thread and the loop's drain of that link can deliver at once (one lock, never contended in practice).
/// The simulator's full-wire delivery routes through it too (one per process, as <see cref="ClusterNode"/> has it); since equal bytes
/// parse to equal values, its traces are the same with it or without it.
/// </remarks>
internal sealed class SteadyHeartbeats
{
    private const byte TagHeartbeat = (1 << 3) | ProtoWire.WireTypeLengthDelimited; // ClusterMessage.heartbeat = 1
    private const ulong TagSequence = (4 << 3) | ProtoWire.WireTypeVarint; // Heartbeat.sequence = 4

    private readonly Dictionary<string, Entry> _bySender = new(StringComparer.Ordinal); // lock: itself

    /// <summary>How many heartbeats took the shortcut (for tests and diagnostics).</summary>
    public long Matched { get; private set; }

    /// <summary>
    /// The heartbeat in <paramref name="payload"/> when it repeats <paramref name="sender"/>'s last recorded one (same incarnation, every
    /// field but the announcement number byte for byte); otherwise <see langword="null"/> (parse it).
    /// </summary>
    public HeartbeatMessage? TryMatch(string sender, ulong incarnation, ReadOnlySpan<byte> payload)
    {
        if (!TrySplit(payload, out var before, out var after, out var sequence))
        {
            return null;
        }

        lock (_bySender)
        {
            if (!_bySender.TryGetValue(sender, out var entry) || entry.Incarnation != incarnation || entry.Template is not { } template
                || !before.SequenceEqual(entry.Rest.AsSpan(0, entry.Split)) || !after.SequenceEqual(entry.Rest.AsSpan(entry.Split, entry.Length - entry.Split)))
            {
                return null;
            }

            Matched++;
            return template.Sequence == sequence ? template : template with { Sequence = sequence };
        }
    }

    /// <summary>Records <paramref name="heartbeat"/>, parsed from <paramref name="payload"/>, as <paramref name="sender"/>'s latest (after the full path).</summary>
    public void Remember(string sender, ulong incarnation, ReadOnlySpan<byte> payload, HeartbeatMessage heartbeat)
    {
        var plain = TrySplit(payload, out var before, out var after, out _);
        lock (_bySender)
        {
            if (!_bySender.TryGetValue(sender, out var entry))
            {
                entry = new Entry();
                _bySender.Add(sender, entry);
            }

            if (!plain)
            {
                entry.Template = null; // nothing to compare the next one with
                return;
            }

            var length = before.Length + after.Length;
            if (entry.Rest.Length < length)
            {
                entry.Rest = new byte[Math.Max(length, 2 * entry.Rest.Length)];
            }

            before.CopyTo(entry.Rest);
            after.CopyTo(entry.Rest.AsSpan(before.Length));
            entry.Split = before.Length;
            entry.Length = length;
            entry.Incarnation = incarnation;
            entry.Template = heartbeat;
        }
    }

    /// <summary>
    /// Splits a plain heartbeat payload around its announcement number: the heartbeat's fields before it and after it, and its value.
    /// <see langword="false"/> for any other shape (see the class remarks).
    /// </summary>
    internal static bool TrySplit(ReadOnlySpan<byte> payload, out ReadOnlySpan<byte> before, out ReadOnlySpan<byte> after, out ulong sequence)
    {
        before = after = default;
        sequence = 0;
        var pos = 0;
        if (payload.Length < 2 || payload[0] != TagHeartbeat)
        {
            return false;
        }

        pos = 1;
        if (ProtoWire.TryReadVarint(payload, ref pos, out var length) != ReadStatus.Ok || length != (ulong)(payload.Length - pos))
        {
            return false;
        }

        var inner = payload[pos..];
        var at = 0;
        int start = -1, end = -1;
        while (at < inner.Length)
        {
            var fieldStart = at;
            if (ProtoWire.TryReadVarint(inner, ref at, out var tag) != ReadStatus.Ok || tag >> 3 == 0)
            {
                return false;
            }

            switch ((int)(tag & 7))
            {
                case ProtoWire.WireTypeVarint:
                    if (ProtoWire.TryReadVarint(inner, ref at, out var value) != ReadStatus.Ok)
                    {
                        return false;
                    }

                    if (tag == TagSequence)
                    {
                        if (start >= 0)
                        {
                            return false; // a second announcement number: the parser's last-one-wins rule is not worth copying here
                        }

                        (start, end, sequence) = (fieldStart, at, value);
                    }

                    break;
                case ProtoWire.WireTypeLengthDelimited:
                    if (ProtoWire.TryReadVarint(inner, ref at, out var size) != ReadStatus.Ok || size > (ulong)(inner.Length - at))
                    {
                        return false;
                    }

                    at += (int)size;
                    break;
                default:
                    return false;
            }
        }

        if (start < 0 || sequence == 0)
        {
            return false;
        }

        before = inner[..start];
        after = inner[end..];
        return true;
    }

    private sealed class Entry
    {
        public ulong Incarnation;
        public HeartbeatMessage? Template;
        public byte[] Rest = new byte[256]; // the heartbeat's fields without the announcement number
        public int Split; // where the announcement number was in Rest
        public int Length;
    }
}
