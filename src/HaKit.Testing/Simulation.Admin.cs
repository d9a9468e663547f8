using HaKit.Ownership;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// Operator commands on a node's core, and the graceful shutdown with ClusterNode.StopAsync's semantics.
public sealed partial class Simulation
{
    /// <summary>Runs an operator command on a node (like <see cref="ClusterNode.ExecuteAsync"/>).</summary>
    /// <param name="node">The node.</param>
    /// <param name="command">The command.</param>
    /// <returns>The core's answer (refused when the node is down).</returns>
    /// <remarks>A <see cref="ShutdownCommand"/> begins a graceful shutdown (see <see cref="Shutdown"/>).</remarks>
    public AdminResult Admin(string node, AdminCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command is ShutdownCommand)
        {
            return Shutdown(node);
        }

        return AdminCore(this[node], command);
    }

    /// <summary>
    /// Graceful shutdown with the semantics of <see cref="ClusterNode.StopAsync"/>: the node's core gets a <see cref="ShutdownCommand"/>
    /// and the process keeps running (ticks, heartbeats, resource actions) while it releases every group and announces each
    /// handoff until the target took it (bounded by <see cref="CoreConfig.HandoffConfirmTimeout"/>); when the core reports
    /// <see cref="ShutdownReady"/>, the process exits after the current batch of commands. If that takes longer than
    /// <see cref="SimulationOptions.ShutdownTimeout"/>, the process exits anyway. Durable state is kept; while faults are
    /// injected the node starts again after <see cref="FaultProfile.RestartDelay"/> (a new incarnation), after them at once.
    /// </summary>
    /// <param name="node">The node.</param>
    /// <returns>The core's answer (refused when the node is down or already shutting down).</returns>
    public AdminResult Shutdown(string node)
    {
        var n = this[node];
        if (!n.IsUp)
        {
            return new AdminResult(false, $"node {node} is down");
        }

        if (n.IsShuttingDown)
        {
            return new AdminResult(false, $"node {node} is already shutting down");
        }

        n.IsShuttingDown = true;
        var generation = n.Generation;
        var timeout = Options.ShutdownTimeout ?? HostShutdownTimeout(Options.Cluster);
        ScheduleGlobal(Now + n.Clock.ToGlobalDuration(timeout), () =>
        {
            if (n.IsUp && n.Generation == generation && n.IsShuttingDown)
            {
                Observe(new ShutdownTimedOut(Now, n.Name, timeout));
                Exit(n, $"the host's shutdown time-out ({Ms(timeout)}) passed before every group was handed over: the process exits anyway");
            }
        });
        return AdminCore(n, new ShutdownCommand());
    }

    /// <summary>What the hosting layer sets <c>HostOptions.ShutdownTimeout</c> to at least: every group's stop time-outs + 2 × dead time + 5 s.</summary>
    internal static TimeSpan HostShutdownTimeout(HaKitOptions cluster) =>
        cluster.Groups.Aggregate(TimeSpan.Zero, (sum, g) => sum + (g.StopTimeout * Math.Max(1, g.Resources.Count))) + (2 * cluster.Timing.DeadTime) + TimeSpan.FromSeconds(5);

    /// <summary>Runs an operator command on the node's core now (refused when the node is down) and executes what it issues.</summary>
    internal AdminResult AdminCore(SimulatedNode n, AdminCommand command)
    {
        var node = n.Name;
        if (!n.IsUp)
        {
            return new AdminResult(false, $"node {node} is down");
        }

        var result = n.Core.Admin(n.Clock.LocalNow, command);
        if (result.Accepted)
        {
            switch (command)
            {
                case SetStandbyCommand standby:
                    n.InStandby = standby.Standby;
                    break;
                case SetMaintenanceCommand { Maintenance: true } m:
                    n.MaintenanceGroups.Add(m.Group);
                    break;
                case SetMaintenanceCommand m:
                    n.MaintenanceGroups.Remove(m.Group);
                    break;
            }
        }

        Observe(new AdminObserved(Now, n.Name, command, result));
        Record(n.Name, "admin", $"{command} -> {result.Message}");
        Drain(n);
        return result;
    }
}
