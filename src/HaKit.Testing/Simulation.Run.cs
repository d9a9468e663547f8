namespace HaKit.Testing;

// The public run API: start the cluster, run the clock forward (to the end, for a while, or until a condition holds), schedule
// scripted actions, dispose.
public sealed partial class Simulation
{
    /// <summary>Starts every node (done by <see cref="Run"/> when not yet started) and, when the profile has faults, the fault injector.</summary>
    public void Start()
    {
        if (_witness is { IsUp: false, Starts: 0 } w)
        {
            BootWitness(w);
        }

        if (_started)
        {
            return;
        }

        _started = true;
        _faultsOn = FaultsEndAt > TimeSpan.Zero;
        foreach (var n in _nodes)
        {
            Boot(n);
        }

        _replication?.Start();
        if (_leaseStore is not null)
        {
            ScheduleGlobal(LessorInterval, ExpireStoreLeases);
        }

        if (_faultsOn)
        {
            ScheduleGlobal(TimeSpan.FromMilliseconds(100), _chaos.Tick);
            ScheduleGlobal(FaultsEndAt, StopFaults);
        }

        CheckInvariants();
    }

    /// <summary>Runs the whole scenario: faults until <see cref="SimulationOptions.FaultDuration"/>, then the quiet period.</summary>
    /// <returns>The result, with violations and (if recorded) the trace.</returns>
    public SimulationResult Run()
    {
        Start();
        var quiet = Options.QuietDuration ?? Bounds.Convergence + TimeSpan.FromSeconds(5);
        RunUntil(FaultsEndAt + quiet);
        return new SimulationResult(Options.Seed, Options.Faults.Name, _violations.ToArray(), Steps, Now, _trace.ToArray());
    }

    /// <summary>Runs the clock forward by <paramref name="duration"/>.</summary>
    /// <param name="duration">How long.</param>
    public void RunFor(TimeSpan duration)
    {
        Start();
        RunUntil(Now + duration);
    }

    /// <summary>Runs until <paramref name="condition"/> holds (checked after every step) or <paramref name="limit"/> passes.</summary>
    /// <param name="condition">The condition.</param>
    /// <param name="limit">The longest to run.</param>
    /// <returns>How long it took, or <see langword="null"/> if it did not happen.</returns>
    public TimeSpan? RunUntil(Func<Simulation, bool> condition, TimeSpan limit)
    {
        ArgumentNullException.ThrowIfNull(condition);
        Start();
        var start = Now;
        var until = Now + limit;
        if (condition(this))
        {
            return TimeSpan.Zero;
        }

        while (!Stopped && _queue.TryPeekAt(out var at) && at <= until.Ticks)
        {
            Step();
            if (condition(this))
            {
                return Now - start;
            }
        }

        if (!Stopped)
        {
            Now = until;
        }

        return null;
    }

    /// <summary>Runs <paramref name="action"/> at global time <paramref name="at"/> (a scripted fault or operator action).</summary>
    /// <param name="at">When.</param>
    /// <param name="action">What.</param>
    public void Schedule(TimeSpan at, Action<Simulation> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ScheduleGlobal(at < Now ? Now : at, () => action(this));
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (var n in _nodes)
        {
            n.Keys.Dispose();
            foreach (var g in n.Groups.Values)
            {
                g.Ownership?.Dispose();
                g.Action?.Dispose();
            }
        }
    }
}
