using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// What the simulated operator does while faults are on (switchovers, standby, maintenance, graceful shutdowns: each drawn by
/// the <see cref="ChaosSchedule"/>, each reaching the node's loop as a posted command), and the clean-up when faults end.
/// </summary>
internal sealed class OperatorActions(Simulation sim)
{
    /// <summary>An operator moves a random group: on the node that runs it (as its status shows), else on a random node (which refuses).</summary>
    public void Switchover(FaultProfile f)
    {
        var group = sim.GroupNames[sim.Random.Next(sim.GroupNames.Count)];
        var owner = sim.Nodes.FirstOrDefault(n => n.IsUp && n.Role(group) == GroupRole.Active) ?? sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
        string? target = null;
        if (sim.Chance(f.SwitchoverTargetFraction) && sim.Nodes.Count > 1)
        {
            target = sim.Nodes[(owner.Index + 1 + sim.Random.Next(sim.Nodes.Count - 1)) % sim.Nodes.Count].Name;
        }

        Command(owner, "switchover", () => sim.AdminCore(owner, new SwitchoverCommand(group, target)));
    }

    /// <summary>An operator puts a random node in standby and takes it out again later (unless the process restarted meanwhile: standby is not durable).</summary>
    public void Standby(FaultProfile f)
    {
        var n = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
        var duration = sim.Draw(f.StandbyDuration);
        Command(n, "standby on", () =>
        {
            var generation = n.Generation;
            if (sim.AdminCore(n, new SetStandbyCommand(true)).Accepted)
            {
                sim.Later(n, duration, () =>
                {
                    if (n.Generation == generation && n.InStandby)
                    {
                        sim.AdminCore(n, new SetStandbyCommand(false));
                    }
                });
            }
        });
    }

    /// <summary>An operator puts a random group in maintenance on a random node and manages it again later (unless the process restarted meanwhile).</summary>
    public void Maintenance(FaultProfile f)
    {
        var n = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
        var group = sim.GroupNames[sim.Random.Next(sim.GroupNames.Count)];
        var duration = sim.Draw(f.MaintenanceDuration);
        Command(n, "maintenance on", () =>
        {
            var generation = n.Generation;
            if (sim.AdminCore(n, new SetMaintenanceCommand(group, true)).Accepted)
            {
                sim.Later(n, duration, () =>
                {
                    if (n.Generation == generation && n.InMaintenance(group))
                    {
                        sim.AdminCore(n, new SetMaintenanceCommand(group, false));
                    }
                });
            }
        });
    }

    /// <summary>An operator shuts a random node down gracefully (see <see cref="Simulation.Shutdown"/>).</summary>
    public void Shutdown()
    {
        var victim = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
        Command(victim, "shutdown", () => sim.Shutdown(victim.Name));
    }

    /// <summary>An operator command reaches the node's loop like <see cref="ClusterNode.ExecuteAsync"/> posts it (after a stall, if
    /// the process is stalled); dropped if faults ended meanwhile (the end of faults resets operator state) or the node is down.</summary>
    private void Command(SimulatedNode n, string what, Action command)
    {
        if (!n.IsUp)
        {
            sim.Record(n.Name, "admin", $"{what}: node is down, nothing to do");
            return;
        }

        sim.Post(n, () =>
        {
            if (sim.FaultsActive)
            {
                command();
            }
        });
    }

    /// <summary>Takes every node out of standby and every group out of maintenance (only where they are on: nothing else changes).</summary>
    public void ResetState()
    {
        foreach (var n in sim.Nodes.Where(n => n.IsUp))
        {
            if (n.InStandby)
            {
                sim.AdminCore(n, new SetStandbyCommand(false));
            }

            foreach (var g in sim.GroupNames.Where(n.InMaintenance))
            {
                sim.AdminCore(n, new SetMaintenanceCommand(g, false));
            }
        }
    }

    /// <summary>An operator clears the failures of every group on every node.</summary>
    public void ClearFailuresEverywhere()
    {
        foreach (var n in sim.Nodes)
        {
            foreach (var g in sim.GroupNames)
            {
                sim.Admin(n.Name, new ClearFailuresCommand(g));
            }
        }
    }
}
