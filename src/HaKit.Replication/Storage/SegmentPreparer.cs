using Microsoft.Win32.SafeHandles;

namespace HaKit.Replication.Storage;

/// <summary>
/// Prepares the next segment file of a <see cref="SegmentLog"/> ahead of need, on its own thread (as PostgreSQL pre-creates WAL
/// segments): a file of the segment's full size, filled with written zeros and fdatasynced, so that writing records into it later
/// changes neither its size nor its block allocation and an fdatasync of it flushes only data (no journal commit of the file's
/// metadata). <c>fallocate</c> alone is not enough: ext4 marks such blocks unwritten and converts them, a metadata change, on
/// their first write. The file is built as <c>next.prealloc.tmp</c> and renamed to <c>next.prealloc</c> once durable;
/// <see cref="TryTake"/> renames it to the new segment's name. A compacted segment can be recycled: renamed to the temporary
/// name and its used part re-zeroed (its blocks are already written). A file left by a crash is reused when it is complete
/// (<c>next.prealloc</c> of the right size) and deleted otherwise (<c>next.prealloc.tmp</c>). Errors (a full disk) are kept in
/// <see cref="Failures"/>; the log then goes on in append-grown files.
/// </summary>
internal sealed class SegmentPreparer : IDisposable
{
    /// <summary>The name of a prepared file, ready to become a segment.</summary>
    public const string ReadyName = "next.prealloc";

    /// <summary>The name of a file being prepared.</summary>
    public const string TempName = "next.prealloc.tmp";

    private const int Idle = 0;
    private const int Busy = 1;
    private const int Ready = 2;

    private const int Chunk = 1 << 20;
    private const int SyncEvery = 8 << 20;

    private static readonly byte[] Zeros = new byte[Chunk];

    private readonly string _directory;
    private readonly long _bytes;
    private readonly Lock _gate = new();
    private Task? _task;
    private volatile int _state;
    private volatile bool _stopping;
    private long _prepared;
    private long _failures;

    /// <summary>Starts idle, or ready when a complete prepared file of <paramref name="bytes"/> was left in the directory.</summary>
    public SegmentPreparer(string directory, long bytes)
    {
        _directory = directory;
        _bytes = bytes;
        ReadyPath = Path.Combine(directory, ReadyName);
        TempPath = Path.Combine(directory, TempName);
        File.Delete(TempPath);
        if (File.Exists(ReadyPath))
        {
            if (new FileInfo(ReadyPath).Length == bytes)
            {
                _state = Ready;
            }
            else
            {
                File.Delete(ReadyPath);
            }
        }
    }

    /// <summary>The prepared file's path.</summary>
    public string ReadyPath { get; }

    /// <summary>The path of the file being prepared (a compacted segment to recycle is renamed to it first).</summary>
    public string TempPath { get; }

    /// <summary>A prepared file is ready to take.</summary>
    public bool IsReady => _state == Ready;

    /// <summary>Nothing is prepared nor being prepared.</summary>
    public bool IsIdle => _state == Idle;

    /// <summary>Files prepared since the log opened.</summary>
    public long Prepared => Interlocked.Read(ref _prepared);

    /// <summary>Preparations that failed (an I/O error; the file was deleted).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>
    /// Starts preparing a file when none is ready or under way. With <paramref name="recycledBytes"/> the file at
    /// <see cref="TempPath"/> (a compacted segment the caller renamed there) is reused: only its first
    /// <paramref name="recycledBytes"/> bytes (what its records used) are zeroed.
    /// </summary>
    /// <returns><see langword="false"/> when a file is already ready or under way (a recycled file is then left to the caller).</returns>
    public bool Start(long? recycledBytes = null)
    {
        lock (_gate)
        {
            if (_stopping || _state != Idle)
            {
                return false;
            }

            _state = Busy;
            _task = Task.Factory.StartNew(() => Prepare(recycledBytes), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            return true;
        }
    }

    /// <summary>Renames the prepared file to <paramref name="path"/> (replacing an empty file there; the caller syncs the
    /// directory) when one is ready.</summary>
    public bool TryTake(string path)
    {
        if (_state != Ready)
        {
            return false;
        }

        _state = Idle;
        try
        {
            File.Move(ReadyPath, path, overwrite: true);
            return true;
        }
        catch (IOException)
        {
            // The file went away (removed by hand): the caller falls back to an append-grown file.
            Interlocked.Increment(ref _failures);
            return false;
        }
    }

    /// <summary>Waits until a prepared file is ready or nothing is under way (benchmarks and tests), at most <paramref name="timeout"/>.</summary>
    /// <returns>Whether a prepared file is ready.</returns>
    public bool WaitReady(TimeSpan timeout)
    {
        Task? task;
        lock (_gate)
        {
            task = _task;
        }

        task?.Wait(timeout);
        return IsReady;
    }

    /// <summary>Stops a preparation under way (its temporary file is deleted) and waits for its thread; a ready file stays for the
    /// next open.</summary>
    public void Dispose()
    {
        Task? task;
        lock (_gate)
        {
            _stopping = true;
            task = _task;
        }

        try
        {
            task?.Wait();
        }
        catch (AggregateException)
        {
            // Prepare catches its own errors; nothing else to report here.
        }
    }

    private void Prepare(long? recycledBytes)
    {
        try
        {
            using (var handle = File.OpenHandle(TempPath, recycledBytes is null ? FileMode.Create : FileMode.Open, FileAccess.ReadWrite, FileShare.None))
            {
                var end = recycledBytes is { } used ? Math.Min(used, _bytes) : _bytes;
                var sinceSync = 0L;
                for (long offset = 0; offset < end; offset += Chunk)
                {
                    if (_stopping)
                    {
                        throw new OperationCanceledException();
                    }

                    var n = (int)Math.Min(Chunk, end - offset);
                    RandomAccess.Write(handle, Zeros.AsSpan(0, n), offset);
                    sinceSync += n;
                    if (sinceSync >= SyncEvery)
                    {
                        // Spread the flush: one 64 MiB fdatasync at the end would hold the disk (and the log's own fdatasyncs) for
                        // a long moment.
                        DurableFile.DataSync(handle, null, TempPath);
                        sinceSync = 0;
                    }
                }

                if (RandomAccess.GetLength(handle) != _bytes)
                {
                    // A recycled file longer than a segment (a record bigger than the rest of it) is cut; a shorter one (the
                    // size changed) is extended with zeros: written above only up to what was used, so write the rest too.
                    ExtendOrCut(handle, _bytes);
                }

                DurableFile.DataSync(handle, null, TempPath);
            }

            File.Move(TempPath, ReadyPath, overwrite: true);
            DurableFile.SyncDirectory(_directory);
            Interlocked.Increment(ref _prepared);
            _state = Ready;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            if (e is not OperationCanceledException)
            {
                Interlocked.Increment(ref _failures);
            }

            try
            {
                File.Delete(TempPath);
            }
            catch (IOException)
            {
                // Deleted at the next open.
            }

            _state = Idle;
        }
    }

    private static void ExtendOrCut(SafeFileHandle handle, long bytes)
    {
        var length = RandomAccess.GetLength(handle);
        if (length > bytes)
        {
            RandomAccess.SetLength(handle, bytes);
            return;
        }

        for (var offset = length; offset < bytes; offset += Chunk)
        {
            RandomAccess.Write(handle, Zeros.AsSpan(0, (int)Math.Min(Chunk, bytes - offset)), offset);
        }
    }
}
