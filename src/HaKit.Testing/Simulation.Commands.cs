using System.Globalization;
using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.Wire;
using HaKit.Wire.Proto;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// The simulator's executor of the core's commands (the contract every executor implements: HaKit.Ownership.ICoreCommandHandler).
public sealed partial class Simulation
{
    // ------------------------------------------------------------------ command executor (ClusterNode semantics)

    private readonly Dictionary<SimulatedNode, NodeCommands> _executors = [];

    private NodeCommands Executor(SimulatedNode n)
    {
        if (!_executors.TryGetValue(n, out var executor))
        {
            executor = new NodeCommands(this, n);
            _executors[n] = executor;
        }

        return executor;
    }

    /// <summary>One node's executor of its core's commands; every method completes synchronously (results are scheduled).</summary>
    private sealed class NodeCommands(Simulation sim, SimulatedNode n) : ICoreCommandHandler
    {
        public ValueTask SendHeartbeatAsync(SendHeartbeat command, CancellationToken cancellationToken)
        {
            sim.SendHeartbeat(n, command.Message);
            return default;
        }

        public ValueTask PersistEpochAsync(PersistEpoch command, CancellationToken cancellationToken)
        {
            sim.Persist(n, command);
            return default;
        }

        public ValueTask AskArbiterAsync(AskArbiter command, CancellationToken cancellationToken)
        {
            sim.AskArbiter(n, command);
            return default;
        }

        public ValueTask ReleaseArbiterAsync(ReleaseArbiter command, CancellationToken cancellationToken)
        {
            sim.ReleaseArbiter(n, command);
            return default;
        }

        public ValueTask FenceNodeAsync(FenceNode command, CancellationToken cancellationToken)
        {
            sim.Fence(n, command);
            return default;
        }

        public ValueTask StartGroupAsync(StartGroup command, CancellationToken cancellationToken)
        {
            sim.StartGroup(n, command);
            return default;
        }

        public ValueTask StopGroupAsync(StopGroup command, CancellationToken cancellationToken)
        {
            sim.StopGroup(n, command);
            return default;
        }

        public ValueTask MonitorGroupAsync(MonitorGroup command, CancellationToken cancellationToken)
        {
            sim.MonitorGroup(n, command);
            return default;
        }

        public ValueTask EmitEventAsync(EmitEvent command, CancellationToken cancellationToken)
        {
            if (command.Event is ShutdownReady && n.IsShuttingDown)
            {
                n.ExitPending = true; // ClusterNode.StopAsync resumes; the rest of this batch (the final heartbeat) still goes out
            }

            sim.Observe(new CoreEventObserved(sim.Now, n.Name, command.Event));
            if (sim.Options.RecordTrace || command.Event is RoleChanged)
            {
                sim.Record(n.Name, "event", Describe(command.Event));
            }

            return default;
        }
    }
}
