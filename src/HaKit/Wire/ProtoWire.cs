using System.Numerics;

namespace HaKit.Wire;

/// <summary>Outcome of reading one protobuf primitive.</summary>
internal enum ReadStatus : byte
{
    /// <summary>The value was read.</summary>
    Ok = 0,

    /// <summary>The value runs past the end of the input.</summary>
    Truncated = 1,

    /// <summary>The value is not valid (for example a varint longer than 64 bits).</summary>
    Malformed = 2,
}

/// <summary>Hand-written, allocation-free protobuf wire primitives (varints and tags) over spans.</summary>
internal static class ProtoWire
{
    /// <summary>Longest varint encoding of a 64-bit value.</summary>
    public const int MaxVarintLength = 10;

    /// <summary>Wire type of varint fields.</summary>
    public const int WireTypeVarint = 0;

    /// <summary>Wire type of length-delimited fields.</summary>
    public const int WireTypeLengthDelimited = 2;

    /// <summary>The encoded length of <paramref name="value"/> as a varint.</summary>
    public static int VarintLength(ulong value) => value < 0x80 ? 1 : (BitOperations.Log2(value) / 7) + 1;

    /// <summary>A field tag (field number and wire type) as a single-byte varint; valid for field numbers 1..15.</summary>
    public static byte Tag(int fieldNumber, int wireType) => (byte)((fieldNumber << 3) | wireType);

    /// <summary>Writes <paramref name="value"/> as a varint at the start of <paramref name="destination"/>.</summary>
    /// <returns>The number of bytes written.</returns>
    public static int WriteVarint(Span<byte> destination, ulong value)
    {
        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Reads a varint at <paramref name="position"/>, advancing it. Never throws.</summary>
    public static ReadStatus TryReadVarint(ReadOnlySpan<byte> source, ref int position, out ulong value)
    {
        value = 0;
        int pos = position;
        for (int i = 0; i < MaxVarintLength; i++)
        {
            if ((uint)pos >= (uint)source.Length)
            {
                return ReadStatus.Truncated;
            }

            byte b = source[pos++];
            if (i == MaxVarintLength - 1 && b > 1)
            {
                // The tenth byte may only carry bit 63; anything else overflows 64 bits or continues further.
                return ReadStatus.Malformed;
            }

            value |= (ulong)(b & 0x7F) << (7 * i);
            if (b < 0x80)
            {
                position = pos;
                return ReadStatus.Ok;
            }
        }

        return ReadStatus.Malformed;
    }
}
