namespace HaKit.Testing;

/// <summary>
/// The fault injector: every 100 ms of virtual time while faults are on, it draws from the <see cref="FaultProfile"/> which
/// faults begin now (link cuts, partitions, crashes, stalls, ping outages, lease store or witness outages and cuts, operator
/// actions) and when each ends. Every choice is a draw from the simulation's one random source, in a fixed order.
/// </summary>
internal sealed class ChaosSchedule(Simulation sim, OperatorActions operators)
{
    /// <summary>One tick of the schedule; schedules the next one.</summary>
    public void Tick()
    {
        if (!sim.FaultsActive)
        {
            return;
        }

        const double dt = 0.1;
        var f = sim.Faults;
        if (sim.Chance(f.LinkCutRate * dt))
        {
            var a = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
            var b = sim.Nodes[(a.Index + 1 + sim.Random.Next(sim.Nodes.Count - 1)) % sim.Nodes.Count];
            var link = sim.Links[sim.Random.Next(sim.Links.Count)];
            var oneWay = sim.Chance(f.OneWayFraction);
            var until = sim.Now + sim.Draw(f.CutDuration);
            sim.Cut(a.Name, b.Name, link);
            if (!oneWay)
            {
                sim.Cut(b.Name, a.Name, link);
            }

            sim.ScheduleGlobal(until, () => sim.Uncut(a.Name, b.Name, link, oneWay));
        }

        if (sim.Chance(f.PartitionRate * dt) && sim.Nodes.Count > 1)
        {
            var side = sim.Nodes.Where(_ => sim.Chance(0.5)).Select(n => n.Name).ToArray();
            if (side.Length == 0)
            {
                side = [sim.Nodes[0].Name];
            }
            else if (side.Length == sim.Nodes.Count)
            {
                side = side[1..];
            }

            sim.Partition(side);
            var until = sim.Now + sim.Draw(f.PartitionDuration);
            var others = sim.Nodes.Select(n => n.Name).Except(side).ToArray();
            sim.ScheduleGlobal(until, () =>
            {
                foreach (var a in side)
                {
                    foreach (var b in others)
                    {
                        sim.Uncut(a, b, null, oneWay: false);
                    }
                }
            });
        }

        if (sim.Chance(f.CrashRate * dt))
        {
            var up = sim.Nodes.Where(n => n.IsUp).ToArray();
            if (up.Length > 0)
            {
                var victim = up[sim.Random.Next(up.Length)];
                sim.Crash(victim.Name);
                var generation = victim.Generation;
                sim.ScheduleGlobal(sim.Now + sim.Draw(f.RestartDelay), () =>
                {
                    if (!victim.IsUp && victim.Generation == generation)
                    {
                        sim.Boot(victim);
                    }
                });
            }
        }

        if (sim.Chance(f.StallRate * dt))
        {
            var victim = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
            sim.Stall(victim.Name, sim.Draw(f.StallDuration));
        }

        if (sim.Chance(f.PingOutageRate * dt))
        {
            var victim = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
            victim.PingOutageUntil = sim.Now + sim.Draw(f.PingOutageDuration);
            sim.Record(victim.Name, "fault", $"ping targets unreachable until {victim.PingOutageUntil.TotalSeconds:0.000}s");
        }

        if (sim.Options.Cluster.Arbiter.Ipfail.Enabled && sim.Chance(f.TargetLossRate * dt))
        {
            var victim = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
            sim.LoseTargets(victim.Name, sim.Draw(f.TargetLossDuration));
        }

        if ((sim.LeaseStore is not null || sim.Witness is not null) && sim.Chance(f.StoreOutageRate * dt))
        {
            sim.StoreOutage(sim.Now + sim.Draw(f.StoreOutageDuration));
        }

        if ((sim.LeaseStore is not null || sim.Witness is not null) && sim.Chance(f.StoreCutRate * dt))
        {
            var victim = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
            if (sim.Witness is not null && sim.Chance(f.OneWayFraction))
            {
                // Asymmetric: only the node's packets to the witness, or only the witness's replies, are lost.
                sim.CutWitnessOneWay(victim.Name, sim.Now + sim.Draw(f.StoreCutDuration), requests: sim.Random.Next(2) == 0);
            }
            else
            {
                sim.CutFromStore(victim.Name, sim.Now + sim.Draw(f.StoreCutDuration));
            }
        }

        if (sim.LeaseStore is not null && sim.Chance(f.StoreTamperRate * dt))
        {
            sim.TamperWithStore();
        }

        if (sim.LeaseStore is not null && sim.Chance(f.WatchFailureRate * dt))
        {
            var victim = sim.Nodes[sim.Random.Next(sim.Nodes.Count)];
            sim.BreakWatch(victim, sim.Now + sim.Draw(f.StoreCutDuration));
        }

        // Operator actions (Chance draws nothing when a rate is 0: profiles without them replay exactly as before).
        if (sim.Chance(f.SwitchoverRate * dt))
        {
            operators.Switchover(f);
        }

        if (sim.Chance(f.StandbyRate * dt))
        {
            operators.Standby(f);
        }

        if (sim.Chance(f.MaintenanceRate * dt))
        {
            operators.Maintenance(f);
        }

        if (sim.Chance(f.ShutdownRate * dt))
        {
            operators.Shutdown();
        }

        sim.ScheduleGlobal(sim.Now + TimeSpan.FromSeconds(dt), Tick);
    }
}
