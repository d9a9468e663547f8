namespace HaKit.Testing;

// The end of the fault period: every fault heals, crashed nodes restart, operator state is reset and failures are cleared.
public sealed partial class Simulation
{
    /// <summary>Ends every fault now: links heal, outages and stalls end, crashed and shut-down nodes restart (a node in the middle of a
    /// graceful shutdown finishes it and restarts at once), operator actions stop and their state is reset (standby off on every
    /// node, maintenance off for every group), and an operator clears failures of every group on every node, now and again once
    /// every action that began during faults has finished (<see cref="SimulationBounds.InFlight"/>).</summary>
    public void StopFaults()
    {
        var wasOn = _faultsOn;
        _faultsOn = false;
        if (FaultsEndAt > Now || wasOn)
        {
            FaultsEndAt = Now;
        }

        _cuts.Clear();
        if (_leaseStore is { Available: false } store)
        {
            _storeDownUntil = Now;
            StoreBack(store);
        }

        if (_witness is { IsUp: false } witness)
        {
            _storeDownUntil = Now;
            BootWitness(witness);
        }

        foreach (var n in _nodes)
        {
            n.PingOutageUntil = TimeSpan.Zero;
            n.TargetLossUntil = TimeSpan.Zero;
            n.StoreCutUntil = TimeSpan.Zero;
            n.WatchLostUntil = TimeSpan.Zero;
            n.WitnessRequestsCutUntil = TimeSpan.Zero;
            n.WitnessRepliesCutUntil = TimeSpan.Zero;
            if (n.StalledUntil > Now)
            {
                n.StalledUntil = Now;
            }
        }

        Record("-", "fault", "faults end: links healed, outages over, crashed nodes restart, failures cleared");
        foreach (var n in _nodes.Where(n => !n.IsUp))
        {
            Boot(n);
        }

        _operators.ResetState();
        _operators.ClearFailuresEverywhere();

        // An action drawn while faults were on (a hanging stop) may still fail after they end: clean up once more after it.
        ScheduleGlobal(Now + Bounds.InFlight, _operators.ClearFailuresEverywhere);
    }
}
