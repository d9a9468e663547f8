using System.Text;
using HaKit.Replication.Protocol;

namespace HaKit.Replication.Tests;

/// <summary>One node's protocol core with a minimal, synchronous driver: what the core asks is recorded (and, for durability,
/// done only when the test says so).</summary>
internal sealed class CoreNode
{
    public CoreNode(string name, ReplicationMode mode = ReplicationMode.Durable, long seenEpoch = 0, long maxInFlight = 1 << 20, long maxBatch = 1 << 16)
        : this(name, mode, seenEpoch, maxInFlight, maxBatch, [], default)
    {
    }

    /// <summary>A node restarted over <paramref name="entries"/> (durable) with the persisted <paramref name="owned"/> marker.</summary>
    public CoreNode(string name, ReplicationMode mode, long seenEpoch, long maxInFlight, long maxBatch, IEnumerable<LogEntry> entries, OwnedEpochs owned)
    {
        Name = name;
        Core = new ReplicationCore(mode, LogPosition.Zero, entries, seenEpoch, maxBatch, maxInFlight, owned);
        Written = Core.Durable;
        Drain();
    }

    /// <summary>A node restarted over a snapshot at <paramref name="snapshot"/> and its log from <paramref name="logBase"/> on (the
    /// compaction point; <paramref name="entries"/> follow it), waiting for the owner's snapshot if <paramref name="awaiting"/> is set.</summary>
    public CoreNode(string name, ReplicationMode mode, long seenEpoch, IEnumerable<LogEntry> entries, OwnedEpochs owned, LogPosition snapshot, LogPosition logBase,
        LogPosition awaiting = default)
    {
        Name = name;
        Core = new ReplicationCore(mode, snapshot, entries, seenEpoch, 1 << 16, 1 << 20, owned, logBase: logBase);
        Core.RestoreAwaitingSnapshot(awaiting);
        Written = Core.Durable;
        Drain();
    }

    public string Name { get; }

    public ReplicationCore Core { get; }

    public CoreNode? Peer { get; set; }

    public bool Connected { get; set; }

    /// <summary>Disk writes complete at once after each step.</summary>
    public bool AutoDurable { get; set; } = true;

    public long Written { get; private set; }

    public List<ReplicationMessage> Inbox { get; } = [];

    public List<ReplicationMessage> Sent { get; } = [];

    public List<DivergedEntries> Diverged { get; } = [];

    public List<long> Acknowledged { get; } = [];

    public List<string> Failed { get; } = [];

    public List<LogEntry> AppliedEntries { get; } = [];

    public int Restores { get; private set; }

    public long PersistedEpoch { get; private set; }

    /// <summary>The outdated marks the core asked to persist, by file name (<see cref="LogPosition.Zero"/>: deleted).</summary>
    public Dictionary<string, LogPosition> Marks { get; } = [];

    /// <summary>Marks and acknowledgements in the order the core asked for them.</summary>
    public List<string> Log { get; } = [];

    /// <summary>The last owned-epoch marker the core asked to persist.</summary>
    public (long Epoch, long From) PersistedOwned { get; private set; }

    /// <summary>The earlier owned epochs persisted with <see cref="PersistedOwned"/>.</summary>
    public (long Epoch, long From)[] PersistedEarlierOwned { get; private set; } = [];

    public LogPosition Append(string text)
    {
        var position = Core.Append(Encoding.UTF8.GetBytes(text));
        return position;
    }

    /// <summary>Delivers the inbox, pumps, executes the outputs.</summary>
    public void Step()
    {
        var inbox = Inbox.ToList();
        Inbox.Clear();
        foreach (var message in inbox)
        {
            Core.Receive(message);
            Drain();
        }

        Core.Pump();
        Drain();
        if (AutoDurable && Written > Core.Durable)
        {
            Core.LocalDurable(Written);
            Drain();
            Core.Pump();
            Drain();
        }
    }

    public void MakeDurable()
    {
        Core.LocalDurable(Written);
        Drain();
        Core.Pump();
        Drain();
    }

    /// <summary>Owner: snapshot transfers started (chunks sent at offset 0).</summary>
    public int SnapshotsSent { get; private set; }

    /// <summary>Owner: snapshot chunks sent.</summary>
    public List<SnapshotChunkMessage> ChunksSent { get; } = [];

    /// <summary>Owner: the next chunk sent is damaged on the way (its checksum no longer matches).</summary>
    public bool CorruptNextChunk { get; set; }

    /// <summary>Standby: the incoming snapshot file (what the chunk writes left), or null when none is open.</summary>
    public byte[]? Incoming { get; private set; }

    /// <summary>Standby: the next install finds the whole file's checksum wrong.</summary>
    public bool FailNextInstall { get; set; }

    /// <summary>Standby: snapshots installed, with their sizes.</summary>
    public List<(LogPosition Position, long Bytes)> Installed { get; } = [];

    /// <summary>Standby: snapshot chunks written.</summary>
    public int ChunksWritten { get; private set; }

    /// <summary>The byte lag last persisted with the known lag.</summary>
    public long PersistedLagBytes { get; private set; }

    /// <summary>Standby: partial snapshot files discarded.</summary>
    public int Discards { get; private set; }

    /// <summary>Owner: snapshot files closed after a transfer.</summary>
    public int SendsEnded { get; private set; }

    /// <summary>The bytes of the test's snapshot file at <paramref name="offset"/> (deterministic).</summary>
    public static byte[] ChunkBytes(long offset, int count) => [.. Enumerable.Range(0, count).Select(i => (byte)((offset + i) * 31 % 251))];

    public void Drain()
    {
        while (Core.Outputs.Count > 0)
        {
            var commands = Core.Outputs.ToList();
            Core.Outputs.Clear();
            foreach (var command in commands)
            {
                Execute(command);
            }
        }
    }

    private void Execute(ReplicationCommand command)
    {
        {
            switch (command)
            {
                case PersistEntriesCommand persist:
                    Written = persist.ToIndex;
                    break;
                case TruncateLogCommand truncate:
                    Written = Math.Min(Written, truncate.NewLast.Index);
                    break;
                case SendCommand send:
                    Sent.Add(send.Message);
                    if (Connected && Peer is not null)
                    {
                        Peer.Inbox.Add(send.Message);
                    }

                    break;
                case AcknowledgeCommand ack:
                    Acknowledged.Add(ack.UpToIndex);
                    Log.Add($"ack {ack.UpToIndex}");
                    break;
                case FailPendingCommand fail:
                    Failed.Add(fail.Reason);
                    break;
                case DivergedCommand diverged:
                    Diverged.Add(diverged.Diverged);
                    break;
                case ApplyCommand apply:
                    var from = AppliedEntries.Count == 0 ? Math.Max(Core.Log.Base.Index, Core.Snapshot.Index) + 1 : AppliedEntries[^1].Index + 1;
                    for (var i = Math.Max(from, Core.Log.Base.Index + 1); i <= apply.UpToIndex; i++)
                    {
                        AppliedEntries.Add(Core.Log.Get(i));
                    }

                    break;
                case RestoreLocalSnapshotCommand restore:
                    Restores++;
                    AppliedEntries.RemoveAll(e => e.Index > restore.UpToIndex);
                    break;
                case SendSnapshotChunkCommand chunk:
                    if (chunk.Offset == 0)
                    {
                        SnapshotsSent++;
                    }

                    var data = ChunkBytes(chunk.Offset, chunk.Count);
                    var crc = HaKit.Replication.Storage.Crc32C.Compute(data);
                    if (CorruptNextChunk)
                    {
                        CorruptNextChunk = false;
                        data[0] ^= 0xFF;
                    }

                    var message = new SnapshotChunkMessage(chunk.Epoch, chunk.Position, chunk.Offset, chunk.TotalBytes, data, crc);
                    ChunksSent.Add(message);
                    Sent.Add(message);
                    if (Connected && Peer is not null)
                    {
                        Peer.Inbox.Add(message);
                    }

                    break;
                case EndSnapshotSendCommand:
                    SendsEnded++;
                    break;
                case WriteSnapshotChunkCommand write:
                    if (write.Offset == 0 || Incoming is null)
                    {
                        Incoming = [];
                    }

                    var incoming = Incoming;
                    if (incoming.Length < write.Offset + write.Data.Length)
                    {
                        Array.Resize(ref incoming, (int)(write.Offset + write.Data.Length));
                    }

                    write.Data.Span.CopyTo(incoming.AsSpan((int)write.Offset));
                    Incoming = incoming;
                    ChunksWritten++;
                    break;
                case DiscardSnapshotCommand:
                    Discards++;
                    Incoming = null;
                    break;
                case InstallSnapshotCommand install:
                    var file = Incoming;
                    Incoming = null;
                    if (FailNextInstall || file is null || file.Length != install.TotalBytes || !file.AsSpan().SequenceEqual(ChunkBytes(0, file.Length)))
                    {
                        FailNextInstall = false;
                        Core.SnapshotInstallFailed();
                        break;
                    }

                    // ReplicatedLog's order: what the snapshot replaces is reported first, the log cut (or started over after it).
                    var plan = Core.PlanSnapshotInstall(install.Position);
                    if (plan.Diverged is { } replaced)
                    {
                        Diverged.Add(replaced);
                    }

                    AppliedEntries.Clear();
                    Written = plan.KeepsLog ? Math.Max(install.Position.Index, Math.Min(Written, plan.KeepThrough.Index)) : install.Position.Index;
                    Installed.Add((install.Position, install.TotalBytes));
                    Core.SnapshotInstalled(plan, install.TotalBytes);
                    break;
                case PersistEpochCommand epoch:
                    PersistedEpoch = epoch.Epoch;
                    break;
                case PersistOwnedEpochCommand owned:
                    PersistedOwned = (owned.Epoch, owned.From);
                    PersistedEarlierOwned = [.. owned.Earlier ?? []];
                    break;
                case PersistMarkCommand mark:
                    Marks[mark.Name] = mark.Position;
                    Log.Add($"mark {mark.Name} {mark.Position.Epoch}/{mark.Position.Index}");
                    break;
                case PersistKnownLagCommand knownLag:
                    Marks[HaKit.Replication.Storage.OutdatedFile.KnownLag] = knownLag.OwnerAcknowledged;
                    PersistedLagBytes = knownLag.LagBytes;
                    break;
                case PublishMarkCommand publish:
                    Log.Add($"publish {publish.Position.Epoch}/{publish.Position.Index}");
                    break;
            }
        }
    }

    public long AckedUpTo => Acknowledged.Count == 0 ? 0 : Acknowledged.Max();

    public static string Text(LogEntry e) => Encoding.UTF8.GetString(e.Data.Span);
}

/// <summary>Two core nodes on a lossless in-order link.</summary>
internal sealed class CorePair
{
    private readonly ReplicationMode _mode;
    private readonly long _maxInFlight;
    private readonly long _maxBatch;

    public CorePair(ReplicationMode mode = ReplicationMode.Durable, long maxInFlight = 1 << 20, long maxBatch = 1 << 16)
    {
        (_mode, _maxInFlight, _maxBatch) = (mode, maxInFlight, maxBatch);
        A = new CoreNode("a", mode, maxInFlight: maxInFlight, maxBatch: maxBatch);
        B = new CoreNode("b", mode, maxInFlight: maxInFlight, maxBatch: maxBatch);
        A.Peer = B;
        B.Peer = A;
    }

    public CoreNode A { get; private set; }

    public CoreNode B { get; }

    /// <summary>A's disk is replaced by an empty one (the same node name, a fresh core), disconnected from B.</summary>
    public void ReplaceA()
    {
        Disconnect();
        A = new CoreNode("a", _mode, maxInFlight: _maxInFlight, maxBatch: _maxBatch) { Peer = B };
        B.Peer = A;
    }

    public void Connect()
    {
        A.Connected = B.Connected = true;
        A.Core.PeerUp();
        B.Core.PeerUp();
    }

    public void Disconnect()
    {
        A.Connected = B.Connected = false;
        A.Inbox.Clear();
        B.Inbox.Clear();
        A.Core.PeerDown();
        B.Core.PeerDown();
    }

    /// <summary>Steps both nodes until nothing moves (bounded).</summary>
    public void Settle(int maxRounds = 1000)
    {
        for (var i = 0; i < maxRounds; i++)
        {
            A.Step();
            B.Step();
            if (A.Inbox.Count == 0 && B.Inbox.Count == 0)
            {
                A.Step();
                B.Step();
                if (A.Inbox.Count == 0 && B.Inbox.Count == 0)
                {
                    return;
                }
            }
        }

        Assert.Fail("the pair did not settle");
    }
}
