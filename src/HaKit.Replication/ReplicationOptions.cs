namespace HaKit.Replication;

/// <summary>The settings of one replicated group on one node.</summary>
public sealed class ReplicationOptions
{
    /// <summary>The group's name (the same on both nodes; one replication stream per group).</summary>
    public string Group { get; set; } = "";

    /// <summary>The directory that holds this group's segment files, snapshots and epoch file (one directory per group).</summary>
    public string Directory { get; set; } = "";

    /// <summary>When the owner's appends complete. Default <see cref="ReplicationMode.Durable"/>.</summary>
    public ReplicationMode Mode { get; set; } = ReplicationMode.Durable;

    /// <summary>A segment file is closed and a new one started once it reaches this size. Default 64 MiB.</summary>
    public long SegmentBytes { get; set; } = 64L << 20;

    /// <summary>
    /// Write the log into segment files prepared ahead of need at their full <see cref="SegmentBytes"/>, zero-filled and synced
    /// (on a background thread), so that each group commit's fdatasync flushes only data and not a new file size through the
    /// file system's journal (ext4, XFS: the cost of a Durable write). Turn it off on file systems where it does not help and
    /// only costs space and writes: tmpfs, and copy-on-write file systems (btrfs, ZFS) where an overwrite allocates anyway.
    /// Default <see langword="true"/>.
    /// </summary>
    public bool PreallocateSegments { get; set; } = true;

    /// <summary>A snapshot is written automatically once this many entries were applied since the last one; 0 turns automatic
    /// snapshots off (<see cref="ReplicatedLog.TakeSnapshotAsync"/> still works). Default 100,000.</summary>
    public long SnapshotEveryEntries { get; set; } = 100_000;

    /// <summary>
    /// Most bytes of a snapshot in one message when the owner sends its snapshot to a standby (a standby it compacted past, or one
    /// that diverged below its own snapshot). The snapshot goes in chunks of this size, each acknowledged before the next, so a
    /// snapshot of any size can be sent and neither node holds it whole in memory. Between 4096 and 67108864 (64 MiB). Default 1 MiB.
    /// </summary>
    public int SnapshotChunkBytes { get; set; } = 1 << 20;

    /// <summary>Most entry bytes in one message to the peer. Default 1 MiB.</summary>
    public int MaxBatchBytes { get; set; } = 1 << 20;

    /// <summary>Most entry bytes sent to the peer and not yet acknowledged as received (flow control). Default 8 MiB.</summary>
    public long MaxInFlightBytes { get; set; } = 8L << 20;

    /// <summary>
    /// Called with entries cut from this node's log because the group's history went another way (never dropped silently).
    /// Runs on the replica's loop: keep it short (hand the entries to another thread for slow work). <see langword="null"/>: the
    /// entries are only logged (as an error, with their positions) and counted.
    /// </summary>
    public Action<DivergedEntries>? OnDiverged { get; set; }

    /// <summary>
    /// How long a <see cref="ReplicationMode.Received"/>/<see cref="ReplicationMode.Durable"/> owner waits for a peer that confirms
    /// nothing (disconnected or stalled) before it goes on acknowledging alone ("degraded"), after marking the peer outdated
    /// durably (file <c>peer-outdated</c>); in <see cref="ReplicationMode.Async"/> it is how long a connected peer may confirm
    /// nothing while it lags before it is marked outdated. <see langword="null"/> (the default): never degrade (appends wait for
    /// the peer).
    /// </summary>
    public TimeSpan? DegradeAfter { get; set; }

    /// <summary>
    /// Most entries this node may be behind the owner's acknowledged index it last heard and still take the group over
    /// automatically (Patroni's <c>maximum_lag_on_failover</c>); beyond it <see cref="ReplicationResource.StartAsync"/> fails
    /// (PermanentOnNode) until an operator forces it. <see langword="null"/> (the default): no limit.
    /// </summary>
    public long? MaxLagOnFailover { get; set; }

    /// <summary>
    /// Most bytes of entries (their data, as appended) this node may be behind the owner's acknowledged position it last heard and
    /// still take the group over automatically: Patroni's <c>maximum_lag_on_failover</c>, which counts bytes. With
    /// <see cref="MaxLagOnFailover"/> both limits apply. <see langword="null"/> (the default): no limit in bytes.
    /// </summary>
    public long? MaxLagOnFailoverBytes { get; set; }

    /// <summary>
    /// How long a graceful handover (a switchover, a failback, a shutdown or standby of the owner) waits for the peer to hold every
    /// entry durably before the owner gives the group up (<see cref="ReplicatedLog.DrainAsync"/>): the old owner stops accepting
    /// writes first, so the new owner starts with everything it acknowledged. A peer that is not connected is not waited for; one
    /// that is still behind when the time is up is logged with how many entries it lacks (in Async mode those writes then live
    /// only in the old owner's log, and reach the divergence callback when it rejoins). Default 10 s.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// <see cref="ReplicationMode.Received"/> only: the shortest time from the start of one group-commit fdatasync to the start of
    /// the next, on each node. Received does not wait for the fdatasync (an append is acknowledged once written on the owner and
    /// held by the peer), so spacing them out costs no latency and saves CPU under load: one fdatasync per batch (hundreds per
    /// second, each also a durable ack from the standby and a wake-up of each loop) cost about a quarter of the CPU of a pipelined
    /// run on 2 cores. The cost is durability lag: what is lost when both hosts lose power at once grows to about this long of
    /// acknowledged writes, and the standby applies (and the owner counts as durable on the peer) up to this much later. Does not
    /// apply to a degraded owner (it acknowledges after its own fdatasync), nor to Async and Durable, whose acknowledgements wait
    /// for the fdatasync. <see cref="TimeSpan.Zero"/>: each fdatasync starts as soon as the previous one ended (group commit only).
    /// Default 1 ms.
    /// </summary>
    public TimeSpan ReceivedFlushInterval { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>The clock for <see cref="DegradeAfter"/> (tests use a fake one).</summary>
    internal TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>Where the outdated mark is published besides the group's directory (the node's arbiter; set by
    /// <c>UseReplication()</c> in Etcd and Witness mode); <see langword="null"/>: only the two nodes' directories.</summary>
    internal Arbiter.ArbiterMarkBinding? ArbiterMarks { get; set; }

    /// <summary>Checks the settings.</summary>
    /// <param name="key">The configuration key prefix for messages (for example <c>Replication</c>).</param>
    /// <exception cref="HaKitConfigurationException">A setting is invalid; the message names the key, the value and the fix.</exception>
    public void Validate(string key = "Replication")
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(Group))
        {
            errors.Add($"{key}:Group = '{Group}': empty; name the group (the same name on both nodes)");
        }

        if (string.IsNullOrWhiteSpace(Directory))
        {
            errors.Add($"{key}:Directory = '{Directory}': empty; give a directory on a local disk for this group's log");
        }

        if (!Enum.IsDefined(Mode))
        {
            errors.Add($"{key}:Mode = '{Mode}': unknown; use Async, Received or Durable");
        }

        if (SegmentBytes < 4096)
        {
            errors.Add($"{key}:SegmentBytes = {SegmentBytes}: too small; use at least 4096 (default 67108864)");
        }

        if (SnapshotEveryEntries < 0)
        {
            errors.Add($"{key}:SnapshotEveryEntries = {SnapshotEveryEntries}: negative; use 0 (manual snapshots) or a positive count");
        }

        if (MaxBatchBytes < 1024)
        {
            errors.Add($"{key}:MaxBatchBytes = {MaxBatchBytes}: too small; use at least 1024 (default 1048576)");
        }

        if (MaxInFlightBytes < MaxBatchBytes)
        {
            errors.Add($"{key}:MaxInFlightBytes = {MaxInFlightBytes}: below MaxBatchBytes ({MaxBatchBytes}); use at least MaxBatchBytes");
        }

        if (DegradeAfter is { } degradeAfter && (degradeAfter <= TimeSpan.Zero || degradeAfter > TimeSpan.FromDays(1)))
        {
            errors.Add($"{key}:DegradeAfter = '{degradeAfter}': out of range; use a positive duration up to a day (for example 00:00:10), or leave it unset to never degrade");
        }

        if (DrainTimeout < TimeSpan.Zero || DrainTimeout > TimeSpan.FromHours(1))
        {
            errors.Add($"{key}:DrainTimeout = '{DrainTimeout}': out of range; use a duration from 00:00:00 (no drain) up to an hour (default 00:00:10), and keep it below the group's stop timeout");
        }

        if (ReceivedFlushInterval < TimeSpan.Zero || ReceivedFlushInterval > TimeSpan.FromSeconds(1))
        {
            errors.Add($"{key}:ReceivedFlushInterval = '{ReceivedFlushInterval}': out of range; use a duration from 00:00:00 (an fdatasync after each batch) up to a second (default 00:00:00.001)");
        }

        if (SnapshotChunkBytes is < 4096 or > 64 << 20)
        {
            errors.Add($"{key}:SnapshotChunkBytes = {SnapshotChunkBytes}: out of range; use 4096 to 67108864 bytes (default 1048576)");
        }

        if (MaxLagOnFailoverBytes < 0)
        {
            errors.Add($"{key}:MaxLagOnFailoverBytes = {MaxLagOnFailoverBytes}: negative; use 0 or a positive number of bytes, or leave it unset for no limit in bytes");
        }

        if (MaxLagOnFailover < 0)
        {
            errors.Add($"{key}:MaxLagOnFailover = {MaxLagOnFailover}: negative; use 0 or a positive number of entries, or leave it unset for no limit");
        }

        if (errors.Count > 0)
        {
            throw new HaKitConfigurationException(errors);
        }
    }
}
