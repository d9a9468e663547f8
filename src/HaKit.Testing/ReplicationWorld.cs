using Google.Protobuf;
using HaKit.Arbitration;
using HaKit.Replication;
using HaKit.Replication.Arbiter;
using HaKit.Replication.Protocol;
using HaKit.Replication.Transport;
using HaKit.Replication.V1;
using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>
/// Replication in a <see cref="Simulation"/> (<see cref="SimulationOptions.Replication"/>): the two nodes' simulated disks (kept
/// across processes), their current replicas, the stream between them and what the replication invariants read (every
/// acknowledged entry, every apply and divergence callback, every promotion).
/// </summary>
/// <remarks>
/// The stream is a gRPC stream in production: reliable and ordered while it is up. Here it is up while both processes run and
/// the heartbeats' first link is not cut either way (checked every <see cref="StreamCheck"/>); it breaks when a process dies or
/// the link is cut, and both replicas see it go down; messages are encoded and decoded with the real frame codec (protobuf and
/// record checksums) and arrive in order after the link's drawn delay (a lost packet costs a retransmission, 200 ms).
/// </remarks>
internal sealed class ReplicationWorld
{
    private static readonly TimeSpan StreamCheck = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan Retransmission = TimeSpan.FromMilliseconds(200);
    private readonly Simulation _sim;
    private readonly SimulatedReplicaDisk[] _disks = [new(), new()];
    private readonly SimulatedReplica?[] _replicas = new SimulatedReplica?[2];
    private readonly Queue<(TimeSpan At, int Stream, byte[] Frame)>[] _queues = [new(), new()];
    private readonly TimeSpan[] _lastArrival = new TimeSpan[2];
    private readonly int[] _streamGenerations = new int[2];
    private readonly IOutdatedMarkStore?[] _markStores = new IOutdatedMarkStore?[2];
    private readonly HaKitOptions _cluster;
    private readonly bool _quorum;
    private int _nextStream;

    public ReplicationWorld(Simulation sim, ReplicationSimulationOptions options, HaKitOptions cluster)
    {
        _sim = sim;
        _cluster = cluster;
        Options = options;
        _quorum = OutdatedNeverPromotedInvariant.IsQuorum(cluster.Arbiter.Mode);
        Group = options.Group ?? cluster.Groups[0].Name;
        if (cluster.Nodes.Count != 2 || !cluster.Groups.Any(g => g.Name == Group))
        {
            throw new HaKitConfigurationException([$"SimulationOptions.Replication = (set): replication runs between exactly two nodes on a configured group; the cluster has {cluster.Nodes.Count} nodes and groups {string.Join(", ", cluster.Groups.Select(g => g.Name))} (group '{Group}')"]);
        }
    }

    public ReplicationSimulationOptions Options { get; }

    /// <summary>The replicated group.</summary>
    public string Group { get; }

    /// <summary>Whether the owner's mark on its peer goes through the arbiter (Etcd and Witness modes, as
    /// <c>ReplicationHostSetup</c> binds it in production): <see cref="MarksOf"/>.</summary>
    public bool ArbiterMarks => _quorum && !PlantNoArbiterMarks;

    /// <summary>Planted bug (PlantedBugTests): the mark is not carried through the arbiter at all (the owner's mark stays in its
    /// own directory, the standby reads nothing before it is promoted), as the simulator's driver had it before.</summary>
    public bool PlantNoArbiterMarks { get; set; }

    /// <summary>Witness mode: the marks the witness holds (its marks file: they survive the witness's crashes).</summary>
    public Dictionary<(string Group, string Node), ArbiterOutdatedMark> WitnessMarks { get; } = [];

    /// <summary>Planted bug (PlantedBugTests): the owner's mark publisher takes a refused or unanswered write at the arbiter as
    /// done, so the owner acknowledges alone although the arbiter does not hold its mark on the peer.</summary>
    public bool PlantMarkNotAtArbiter { get; set; }

    /// <summary>The stream up now (0: none).</summary>
    public int Stream { get; private set; }

    /// <summary>Planted bug (PlantedBugTests): a write reports itself durable before any fdatasync covers it, so a standby
    /// acknowledges Durable entries it may still lose in a crash.</summary>
    public bool PlantAckBeforeFsync { get; set; }

    /// <summary>Planted bug (PlantedBugTests): the driver drops the entries cut from the log instead of handing them to the
    /// divergence callback (as if <c>ReplicatedLog.ReportDiverged</c> skipped the callback).</summary>
    public bool PlantDropDivergence { get; set; }

    /// <summary>Planted bug (PlantedBugTests): the resource's start skips the promotion refusal (an outdated node takes over).</summary>
    public bool PlantIgnoreRefusal { get; set; }

    /// <summary>Every entry acknowledged to an appender, in order.</summary>
    public List<AcknowledgedEntry> AcknowledgedEntries { get; } = [];

    /// <summary>Per node: what its state machine applied, what the divergence callback got and what a crash took, since the
    /// invariant last read it (it clears the list).</summary>
    public List<StateMachineEvent>[] StateMachineEvents { get; } = [[], []];

    /// <summary>Every promotion of a standby to owner, in order.</summary>
    public List<Promotion> Promotions { get; } = [];

    /// <summary>Snapshots installed from the owner in this run (for tests: the chunked transfer ran).</summary>
    public int SnapshotsInstalled { get; set; }

    /// <summary>The highest epoch any node owned so far.</summary>
    public long HighestOwnedEpoch { get; private set; }

    /// <summary>A node's current replica (null while the node is down).</summary>
    public SimulatedReplica? ReplicaOf(SimulatedNode n) => n.IsUp ? _replicas[n.Index] : null;

    /// <summary>Quorum modes: a node's outdated marks at the arbiter (Etcd: the production <see cref="LeaseStoreOutdatedMarks"/>
    /// over the node's view of the simulated store; Witness: the simulated witness's marks); <see langword="null"/> in TwoNode mode.</summary>
    public IOutdatedMarkStore? MarksOf(SimulatedNode n)
    {
        if (!ArbiterMarks)
        {
            return null;
        }

        return _markStores[n.Index] ??= _sim.LeaseStoreViewOf(n) is { } view
            ? new LeaseStoreOutdatedMarks(view, _cluster.Arbiter.Etcd.KeyPrefix, _cluster.ClusterName, n.Name)
            : new SimulatedWitnessMarks(_sim, n, WitnessMarks);
    }

    /// <summary>The other node's name.</summary>
    public string PeerOf(SimulatedNode n) => _sim.NodeList[1 - n.Index].Name;

    /// <summary>A node's disk.</summary>
    public SimulatedReplicaDisk DiskOf(SimulatedNode n) => _disks[n.Index];

    /// <summary>A new process: its replica recovers from the disk.</summary>
    public void Boot(SimulatedNode n)
    {
        var replica = new SimulatedReplica(_sim, this, n, _disks[n.Index]);
        _replicas[n.Index] = replica;
        replica.Start();
    }

    /// <summary>The replication resource of a new process (first in the group).</summary>
    public IResource ResourceFor(SimulatedNode n) => new SimulatedReplicationResource(_replicas[n.Index]!);

    /// <summary>The process died.</summary>
    public void Crash(SimulatedNode n)
    {
        _replicas[n.Index]?.Crash();
        _replicas[n.Index] = null;
    }

    /// <summary>Starts the stream's checks.</summary>
    public void Start() => _sim.ScheduleGlobal(_sim.Now, CheckStream);

    private void CheckStream()
    {
        var nodes = _sim.NodeList;
        var (a, b) = (nodes[0], nodes[1]);
        var linkUp = !_sim.IsCut(a.Name, b.Name, _sim.Links[0]) && !_sim.IsCut(b.Name, a.Name, _sim.Links[0]);
        if (Stream != 0 && (!a.IsUp || !b.IsUp || a.Generation != _streamGenerations[0] || b.Generation != _streamGenerations[1] || !linkUp))
        {
            var down = Stream;
            Stream = 0;
            _queues[0].Clear();
            _queues[1].Clear();
            _sim.Record("-", "repl", $"stream {down} breaks");
            foreach (var n in nodes)
            {
                if (ReplicaOf(n) is { } r)
                {
                    _sim.Post(n, () => r.PeerDown(down));
                }
            }
        }

        if (Stream == 0 && a.IsUp && b.IsUp && linkUp)
        {
            var up = ++_nextStream;
            Stream = up;
            _streamGenerations[0] = a.Generation;
            _streamGenerations[1] = b.Generation;
            _lastArrival[0] = _lastArrival[1] = _sim.Now;
            foreach (var n in nodes)
            {
                var r = ReplicaOf(n)!;
                _sim.Post(n, () => r.PeerUp(up));
            }
        }

        _sim.ScheduleGlobal(_sim.Now + StreamCheck, CheckStream);
    }

    /// <summary>A replica sends on its stream: the frame arrives in order after the link's delay, unless the stream breaks first.</summary>
    public void Send(SimulatedNode from, int stream, ReplicationMessage message)
    {
        if (stream != Stream)
        {
            return;
        }

        var frame = FrameCodec.Encode(message).ToByteArray();
        var to = _sim.NodeList[1 - from.Index];
        var delay = _sim.Draw(_sim.Faults.NetworkDelay);
        if (_sim.FaultsActive)
        {
            if (_sim.Chance(_sim.Faults.Delay))
            {
                delay += _sim.Draw(_sim.Faults.Jitter);
            }

            if (_sim.Chance(_sim.Faults.Loss))
            {
                delay += Retransmission;
            }
        }

        var direction = to.Index;
        var at = _sim.Now + delay;
        if (at < _lastArrival[direction])
        {
            at = _lastArrival[direction];
        }

        _lastArrival[direction] = at;
        _queues[direction].Enqueue((at, stream, frame));
        _sim.Later(to, at - _sim.Now, () => Deliver(to));
    }

    private void Deliver(SimulatedNode to)
    {
        var queue = _queues[to.Index];
        while (queue.Count > 0 && queue.Peek().At <= _sim.Now)
        {
            var (_, stream, bytes) = queue.Dequeue();
            if (stream != Stream || ReplicaOf(to) is not { } replica || replica.StreamId != stream)
            {
                continue;
            }

            var message = FrameCodec.Decode(Frame.Parser.ParseFrom(bytes))
                ?? throw new InvalidOperationException($"a replication frame to {to.Name} did not decode");
            replica.Receive(message);
        }
    }

    public void Acknowledged(SimulatedNode n, LogPosition position, byte[] data, bool alone)
    {
        AcknowledgedEntries.Add(new AcknowledgedEntry(n.Name, position, data, alone, _sim.Now));
        _sim.Record(n.Name, "repl", $"acknowledged {position}{(alone ? " (without the peer)" : "")}");
    }

    public void Applied(SimulatedNode n, in LogEntry entry) => StateMachineEvents[n.Index].Add(new StateMachineEvent(StateMachineEventKind.Applied, entry));

    public void Diverged(SimulatedNode n, DivergedEntries diverged)
    {
        if (diverged.UnavailableThrough is { } through)
        {
            // Entries compacted into the node's snapshot: the callback got their range (from an unknown index: everything up to
            // the last one), not their data; an entry applied in that range was handed over as far as the host can know.
            StateMachineEvents[n.Index].Add(new StateMachineEvent(StateMachineEventKind.DivergedUnavailable,
                new LogEntry(new LogPosition(diverged.UnavailableFrom ?? 1, through.Index), default)));
        }

        foreach (var entry in diverged.Entries)
        {
            StateMachineEvents[n.Index].Add(new StateMachineEvent(StateMachineEventKind.Diverged, entry));
        }
    }

    public void Recovered(SimulatedNode n, long lastIndex) =>
        StateMachineEvents[n.Index].Add(new StateMachineEvent(StateMachineEventKind.Recovered, new LogEntry(new LogPosition(0, lastIndex), default)));

    /// <summary>
    /// Ground truth for the outdated rule: the position the peer marked this node outdated at, on the peer's disk, when the mark
    /// belongs to the newest ownership so far and the peer acknowledged to its appenders, without this node, an entry of that
    /// ownership that this node's log does not hold (null: not outdated). A mark the owner wrote on its own disk but acted on for
    /// nothing (it crashed, or lost the arbiter, before the arbiter held the mark, so it acknowledged nothing alone) outdates no one.
    /// </summary>
    public (LogPosition Mark, LogPosition Missing)? OutdatedByPeer(SimulatedNode n, ReplicationCore core)
    {
        var mark = _disks[1 - n.Index].PeerOutdated;
        if (mark == LogPosition.Zero || mark.Epoch < HighestOwnedEpoch)
        {
            return null;
        }

        var peer = PeerOf(n);
        for (var i = AcknowledgedEntries.Count - 1; i >= 0; i--)
        {
            var acked = AcknowledgedEntries[i];
            if (acked.Alone && acked.Node == peer && acked.Position.Epoch == mark.Epoch && !Holds(_disks[n.Index], core, acked.Position))
            {
                return (mark, acked.Position);
            }
        }

        return null;
    }

    /// <summary>Whether the node holds the entry at <paramref name="position"/>: in its log, or at or below the log's base in its
    /// snapshot (compacted into it, or installed from the owner).</summary>
    private static bool Holds(SimulatedReplicaDisk disk, ReplicationCore core, LogPosition position)
    {
        if (position.Index > core.Log.Base.Index)
        {
            return position.Index <= core.Log.Last.Index && core.Log.Get(position.Index).Position == position;
        }

        return disk.Snapshot is { } s && position.Index <= s.Position.Index
            && SimulatedReplicaDisk.DecodeSnapshot(s.File, s.Position) is { } state && state[(int)position.Index - 1].Position == position;
    }

    public void Promoted(SimulatedNode n, long epoch, (LogPosition Mark, LogPosition Missing)? outdatedByPeer)
    {
        HighestOwnedEpoch = Math.Max(HighestOwnedEpoch, epoch);
        Promotions.Add(new Promotion(n.Name, epoch, _disks[n.Index].Outdated, outdatedByPeer, _sim.Now));
    }
}

/// <summary>An entry acknowledged to its appender on <paramref name="Node"/>; <paramref name="Alone"/>: acknowledged without the
/// peer (degraded, or the peer marked outdated).</summary>
internal sealed record AcknowledgedEntry(string Node, LogPosition Position, byte[] Data, bool Alone, TimeSpan At);

/// <summary>A standby became owner: its own outdated mark before (zero: none; it refuses to own while one is set) and the peer's
/// mark on it with an entry the peer acknowledged without it that its log lacks (null: none).</summary>
internal sealed record Promotion(string Node, long Epoch, LogPosition OwnMark, (LogPosition Mark, LogPosition Missing)? PeerMark, TimeSpan At);

internal enum StateMachineEventKind : byte
{
    Applied,
    Diverged,
    Recovered,
    DivergedUnavailable,
}

/// <summary>What a node's state machine saw (<see cref="StateMachineEventKind.Recovered"/>: a new process recovered its log up to
/// the entry's index; what a crash took from the disk, and so from memory, is forgotten; <see cref="StateMachineEventKind.DivergedUnavailable"/>:
/// the divergence callback was told that the entries from the entry's epoch field (an index) to its index were compacted away).</summary>
internal readonly record struct StateMachineEvent(StateMachineEventKind Kind, LogEntry Entry);

/// <summary>The replication resource of a simulated node (<see cref="ReplicationResource"/>'s behaviour).</summary>
internal sealed class SimulatedReplicationResource(SimulatedReplica replica) : IResource
{
    public string Name => "replication";

    public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(replica.BecomeOwner(checked((long)context.Epoch)));

    public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(replica.BecomeStandby());

    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(replica.Monitor());
}
