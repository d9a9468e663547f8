using System.Buffers.Binary;
using Google.Protobuf;
using Grpc.Core;
using HaKit.Replication.V1;

namespace HaKit.Replication.Transport;

/// <summary>
/// The replication stream's frames over one TCP connection (<see cref="ReplicationProtocol.Tcp"/>), plain or inside TLS: each
/// direction starts with the 8-byte preamble <c>HAKITRP1</c> (a connection from anything else, an HTTP client or a port scan,
/// is refused at its first bytes), then carries frames as a 4-byte big-endian length and the <see cref="Frame"/>'s protobuf
/// bytes, the same messages the gRPC stream carries. It offers gRPC's stream interfaces so that one session loop serves both
/// protocols. One reader and one writer at a time, as a gRPC stream allows.
/// </summary>
internal sealed class TcpFrameStream : IAsyncStreamReader<Frame>, IAsyncStreamWriter<Frame>
{
    private const int HeaderBytes = 4;
    // Small until the stream carries batches (a connection that never says hello holds little); grown to the largest frame seen.
    private const int InitialBufferBytes = 4 << 10;

    private readonly Stream _stream;
    private byte[] _read = new byte[InitialBufferBytes];
    private byte[] _write = new byte[InitialBufferBytes];
    private int _start;
    private int _end;
    private bool _preambleRead;
    private long _framesRead;
    private bool _preambleWritten;

    /// <summary>Frames over <paramref name="stream"/> (a connected socket's stream, or the TLS stream over it).</summary>
    /// <param name="stream">The connection.</param>
    /// <param name="maxFrameBytes">The largest frame accepted or sent; a larger length prefix ends the connection.</param>
    public TcpFrameStream(Stream stream, int maxFrameBytes)
    {
        _stream = stream;
        MaxFrameBytes = maxFrameBytes;
    }

    /// <summary>The largest frame accepted or sent: small until the peer's hello is accepted (a connection that has not said
    /// who it is cannot make the node allocate a large buffer), then the transport's message limit.</summary>
    public int MaxFrameBytes { get; set; }

    /// <summary>The bytes each side sends first.</summary>
    public static ReadOnlySpan<byte> Preamble => "HAKITRP1"u8;

    /// <inheritdoc />
    public Frame Current { get; private set; } = null!;

    /// <summary>Frames read so far, pings included (for the idle watchdog).</summary>
    public long FramesRead => Volatile.Read(ref _framesRead);

    /// <summary>Not used (gRPC write options do not apply to a TCP stream).</summary>
    public WriteOptions? WriteOptions { get; set; }

    /// <summary>Reads the next frame.</summary>
    /// <param name="cancellationToken">Cancels the read (the connection is then unusable).</param>
    /// <returns><see langword="false"/> when the peer closed the connection between two frames.</returns>
    /// <exception cref="IOException">The peer closed or reset the connection inside a frame, sent something other than the
    /// preamble, a frame longer than allowed, or a frame that is not a valid protobuf <see cref="Frame"/>.</exception>
    public async Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        while (true)
        {
            var available = _end - _start;
            if (!_preambleRead)
            {
                if (available >= Preamble.Length)
                {
                    if (!_read.AsSpan(_start, Preamble.Length).SequenceEqual(Preamble))
                    {
                        throw new IOException("the peer is not a HaKit replication node (no HAKITRP1 preamble)");
                    }

                    _start += Preamble.Length;
                    _preambleRead = true;
                    continue;
                }
            }
            else if (available >= HeaderBytes)
            {
                var length = BinaryPrimitives.ReadInt32BigEndian(_read.AsSpan(_start));
                if (length < 0 || length > MaxFrameBytes)
                {
                    throw new IOException($"the peer sent a frame of {length} bytes (at most {MaxFrameBytes} are accepted)");
                }

                if (available - HeaderBytes >= length)
                {
                    // Parsing copies what the frame keeps (a ByteString owns its bytes), so the buffer is reused at once.
                    var frame = Frame.Parser.ParseFrom(_read.AsSpan(_start + HeaderBytes, length));
                    _start += HeaderBytes + length;
                    if (_start == _end)
                    {
                        _start = _end = 0;
                    }

                    Volatile.Write(ref _framesRead, _framesRead + 1); // one reader at a time
                    if (frame.KindCase == Frame.KindOneofCase.Ping)
                    {
                        continue; // a keep-alive: counted, nothing to deliver
                    }

                    Current = frame;
                    return true;
                }

                MakeRoom(HeaderBytes + length);
            }

            if (_end == _read.Length)
            {
                MakeRoom(_end - _start + 1);
            }

            var read = await _stream.ReadAsync(_read.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                if (_start == _end && _preambleRead)
                {
                    return false;
                }

                throw new EndOfStreamException("the peer closed the connection in the middle of a frame");
            }

            _end += read;
        }
    }

    /// <inheritdoc />
    public Task WriteAsync(Frame message) => WriteAsync(message, CancellationToken.None);

    /// <summary>Writes one frame (the first write sends the preamble before it).</summary>
    /// <param name="message">The frame.</param>
    /// <param name="cancellationToken">Cancels the write (the connection is then unusable).</param>
    /// <returns>A task that completes when the socket took the bytes.</returns>
    public Task WriteAsync(Frame message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var size = message.CalculateSize();
        if (size > MaxFrameBytes)
        {
            throw new InvalidOperationException($"a frame of {size} bytes is larger than the {MaxFrameBytes} bytes allowed");
        }

        var offset = _preambleWritten ? 0 : Preamble.Length;
        var total = offset + HeaderBytes + size;
        if (_write.Length < total)
        {
            _write = new byte[Math.Max(total, Math.Min(2 * _write.Length, offset + HeaderBytes + MaxFrameBytes))];
        }

        if (!_preambleWritten)
        {
            Preamble.CopyTo(_write);
            _preambleWritten = true;
        }

        BinaryPrimitives.WriteInt32BigEndian(_write.AsSpan(offset), size);
        message.WriteTo(_write.AsSpan(offset + HeaderBytes, size));
        var write = _stream.WriteAsync(_write.AsMemory(0, total), cancellationToken);
        return write.IsCompletedSuccessfully ? Task.CompletedTask : write.AsTask();
    }

    /// <summary>Room for <paramref name="bytes"/> unread bytes from <see cref="_start"/>: the unread bytes moved to the front,
    /// the buffer grown when it is too small.</summary>
    private void MakeRoom(int bytes)
    {
        if (_read.Length - _start >= bytes)
        {
            return;
        }

        var unread = _end - _start;
        var target = _read.Length >= bytes ? _read : new byte[Math.Max(bytes, Math.Min(2 * _read.Length, HeaderBytes + MaxFrameBytes))];
        _read.AsSpan(_start, unread).CopyTo(target);
        _read = target;
        _start = 0;
        _end = unread;
    }
}
