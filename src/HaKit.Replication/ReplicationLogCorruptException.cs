namespace HaKit.Replication;

/// <summary>
/// A replication file holds a record that fails its checksum or breaks the log's order somewhere other than its torn tail. The
/// node refuses to start rather than skip it: nothing is silently dropped. The message names the file, the offset and the fix.
/// </summary>
public sealed class ReplicationLogCorruptException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="filePath">The file.</param>
    /// <param name="offset">The byte offset of the bad record in it.</param>
    /// <param name="reason">What is wrong.</param>
    public ReplicationLogCorruptException(string filePath, long offset, string reason)
        : base($"{filePath} at offset {offset}: {reason}; the replication log is corrupt there and nothing after it is trusted. " +
               "Restore the node from its peer: stop it, move the group's replication directory aside and start it again (it resyncs from the owner)")
    {
        FilePath = filePath;
        Offset = offset;
    }

    /// <summary>The file that holds the bad record.</summary>
    public string FilePath { get; }

    /// <summary>The byte offset of the bad record in <see cref="FilePath"/>.</summary>
    public long Offset { get; }
}
