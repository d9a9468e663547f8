using HaKit.Arbitration;
using HaKit.Fencing;
using HaKit.Ownership;
using HaKit.Runtime;
using HaKit.State;
using Microsoft.Extensions.Logging.Abstractions;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// The core's commands run through the node's own executor (HaKit.Runtime.NodeCommandExecutor, the one ClusterNode runs) over
// virtual-time implementations of its ports: the loop (results posted back as steps of this process), the links (the simulated
// network), durable state (the real DurableNodeState over a simulated disk), the arbiter (the scenario's back-end), fencing (the
// real FenceCoordinator over simulated agents) and the group drivers (ResourceDriver over the real ResourceGroupMachine).
public sealed partial class Simulation
{
    // The executor counts arbiter answers; nobody listens here, so one instance serves every simulation (its counters are thread-safe).
    private static readonly HaKitMetrics Metrics = new();

    /// <summary>A new process's executor: the node's <see cref="NodeCommandExecutor"/> over this process's ports.</summary>
    private NodeCommandExecutor CreateExecutor(SimulatedNode n)
    {
        var loop = new ProcessLoop(this, n);
        var drivers = new Dictionary<string, IGroupDriver>(StringComparer.Ordinal);
        foreach (var g in n.Options.Groups)
        {
            drivers.Add(g.Name, new SimulatedGroupDriver(_resources, n, g.Name));
        }

        return new NodeCommandExecutor(n.Options, loop, new ProcessLinks(this, n), n.State, new ProcessArbiter(this, n), new ProcessFencing(this, n),
            drivers, Metrics, NullLogger.Instance, e => Publish(n, e));
    }

    /// <summary>The executor's <see cref="EmitEvent"/>: what <see cref="ClusterNode"/>'s publisher does that the simulation needs.</summary>
    private void Publish(SimulatedNode n, ClusterEvent e)
    {
        if (e is ShutdownReady && n.IsShuttingDown)
        {
            n.ExitPending = true; // ClusterNode.StopAsync resumes; the rest of this batch (the final heartbeat) still goes out
        }

        Observe(new CoreEventObserved(Now, n.Name, e));
        if (Options.RecordTrace || e is RoleChanged)
        {
            Record(n.Name, "event", Describe(e));
        }
    }

    /// <summary>One process's loop: work posted back runs as a later step of that process (deferred while it is stalled, dropped
    /// once it died); tracked work that faults is a violation (the node would only log it).</summary>
    private sealed class ProcessLoop(Simulation sim, SimulatedNode n) : ICommandLoop
    {
        private readonly int _generation = n.Generation;

        public OwnershipCore Core => n.Core;

        public TimeSpan Now => n.Clock.LocalNow;

        public bool Post(Action work)
        {
            if (Environment.CurrentManagedThreadId != sim._stepThread)
            {
                throw new InvalidOperationException("work posted from another thread: an executor continuation left the simulation's thread");
            }

            if (!n.IsUp || n.Generation != _generation)
            {
                return false;
            }

            sim.Post(n, work);
            return true;
        }

        public void Track(Task task)
        {
            if (task.IsCompletedSuccessfully)
            {
                return;
            }

            _ = task.ContinueWith(
                static (t, s) => ((Simulation)s!).Fault("no-exception", $"tracked work faulted: {t.Exception}"),
                sim, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }

        public void TrackRelease(Task release) => Track(release);

        // No ownership guard runs in the simulator (no FreezeGuard): nothing to publish.
        public void PublishOwnership()
        {
        }
    }

    /// <summary>A violation found outside an invariant's check (an exception in work the runtime tracks).</summary>
    private void Fault(string name, string message) => _violations.Add(new InvariantViolation(name, Now, message));

    private sealed class ProcessLinks(Simulation sim, SimulatedNode n) : IHeartbeatLinks
    {
        public ValueTask SendHeartbeatAsync(HeartbeatMessage message, CancellationToken cancellationToken)
        {
            sim.SendHeartbeat(n, message);
            return default;
        }
    }

    /// <summary>The arbiter port: the scenario's back-end (two-node probes, the lease store, the witness votes) answers in virtual time.</summary>
    private sealed class ProcessArbiter(Simulation sim, SimulatedNode n) : IArbiter
    {
        public string Name => "simulated " + sim.Options.Cluster.Arbiter.Mode;

        public ValueTask<ArbiterDecision> RequestAsync(ArbiterRequest request, CancellationToken cancellationToken)
        {
            var answer = new TaskCompletionSource<ArbiterDecision>();
            sim.AskArbiter(n, request, answer);
            return new ValueTask<ArbiterDecision>(answer.Task);
        }

        public ValueTask ReleaseAsync(string group, string node, CancellationToken cancellationToken)
        {
            sim.ReleaseArbiter(n, group);
            return default;
        }
    }

    private sealed class ProcessFencing(Simulation sim, SimulatedNode n) : IFenceRunner
    {
        public Task<FenceResult> FenceAsync(string node, CancellationToken cancellationToken) => sim.Fence(n, node);
    }

    private sealed class SimulatedGroupDriver(ResourceDriver resources, SimulatedNode n, string group) : IGroupDriver
    {
        public void Start(ICommandLoop loop, ulong epoch, CancellationToken shutdown) => resources.Start(n, group, epoch);

        public void Stop(ICommandLoop loop, StopGroup command) => resources.Stop(n, command);

        public void Monitor(ICommandLoop loop, ulong epoch, CancellationToken shutdown) => resources.Monitor(n, group, epoch);
    }

    /// <summary>A node's disk: what <see cref="DurableNodeState"/> wrote survives crashes; a write fails (disk full) at the fault rate.</summary>
    internal sealed class SimulatedStateStore(Simulation sim, SimulatedNode n) : IStateStore
    {
        /// <summary>While a process starts (its incarnation is written): no fault.</summary>
        public bool Starting { get; set; }

        public PersistedState Load() => new(n.PersistedIncarnation, new Dictionary<string, ulong>(n.Persisted, StringComparer.Ordinal));

        public void Save(PersistedState state)
        {
            if (!Starting && sim._faultsOn && sim.Chance(sim._faults.PersistFailure))
            {
                LastError = "simulated: No space left on device";
                if (!InCommand)
                {
                    sim.Record(n.Name, "cmd", $"persist epochs {Describe(state.Epochs)} (granted to the peer): {LastError}");
                }

                throw new IOException(LastError);
            }

            n.PersistedIncarnation = state.Incarnation;
            n.ReplacePersisted(state.Epochs);
            sim._changes++; // persisted epochs changed: not a quiet step (a witness voter's grant writes outside any command)

            if (!Starting && !InCommand)
            {
                sim.Record(n.Name, "cmd", $"persist epochs {Describe(state.Epochs)} (granted to the peer): ok");
            }
        }

        /// <summary>While the executor runs a <see cref="PersistEpoch"/> (the drain writes its trace line).</summary>
        public bool InCommand { get; set; }

        /// <summary>Why the last write failed, if it did.</summary>
        public string? LastError { get; set; }
    }

    /// <summary>The wall clock <see cref="DurableNodeState.Load"/> reads for its incarnation floor: the Unix epoch, so a process's
    /// incarnation is the stored one plus one (the simulated disk is never lost).</summary>
    private sealed class UnixEpochClock : TimeProvider
    {
        public static readonly UnixEpochClock Instance = new();

        public override DateTimeOffset GetUtcNow() => DateTimeOffset.UnixEpoch;
    }
}
