namespace HaKit.Replication.Storage;

/// <summary>
/// Where the log keeps its entries' bytes in memory: carved from 1 MiB blocks (the large object heap) rather than one array per
/// entry (the owner's copy of an append) or per received batch (the standby's parsed frame). The in-memory log holds entries
/// until a snapshot covers them (100,000 by default), so those arrays survived young-generation collections and were copied by
/// the GC into the older generations: with 256 pipelined writers, a few collections per 3 s of about 15 ms each, which stopped
/// every writer for that long (the 99th percentile). With blocks the young collections have little to copy: many pauses of
/// about 1 ms, for about the same total. A block is never moved; a full collection frees it once no entry in it is held.
/// Safe for concurrent callers (appenders copy their bytes on their own threads).
/// </summary>
internal sealed class EntryArena
{
    /// <summary>The size of a block.</summary>
    public const int BlockBytes = 1 << 20;

    /// <summary>Larger copies get their own array (from 85,000 B an array is on the large object heap anyway).</summary>
    public const int MaxCarved = 80 << 10;

    private Block _current = new();

    /// <summary>A copy of <paramref name="data"/> in a block.</summary>
    public ReadOnlyMemory<byte> Copy(ReadOnlySpan<byte> data)
    {
        if (data.Length > MaxCarved)
        {
            return data.ToArray();
        }

        while (true)
        {
            var block = Volatile.Read(ref _current);
            var end = Interlocked.Add(ref block.Used, data.Length);
            if (end <= BlockBytes)
            {
                var memory = block.Bytes.AsMemory(end - data.Length, data.Length);
                data.CopyTo(memory.Span);
                return memory;
            }

            // Full: the first caller to see it replaces it (the rest of its space is left unused).
            Interlocked.CompareExchange(ref _current, new Block(), block);
        }
    }

    private sealed class Block
    {
        public readonly byte[] Bytes = GC.AllocateUninitializedArray<byte>(BlockBytes);
        public int Used;
    }
}
