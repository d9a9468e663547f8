using HaKit.Fencing;
using HaKit.Ownership;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// Fencing: the core's FenceNode runs the real FenceCoordinator over simulated agents whose durations and failures are drawn;
// a fence that succeeds powers the target off (it restarts after a drawn delay).
public sealed partial class Simulation
{
    /// <summary>The fence in progress: its agents add up the time they take (they run inline, one after another).</summary>
    private FenceAttempt? _fenceAttempt;

    /// <summary>The executor's fence: the real coordinator decides at once (its agents' drawn durations add up); the result,
    /// and the power-off it means, come after that time, as a step of this process.</summary>
    private Task<FenceResult> Fence(SimulatedNode n, string node)
    {
        var agents = Options.FenceLevels.Count;
        var attempt = new FenceAttempt();
        _fenceAttempt = attempt;
        var task = n.Fencing.FenceAsync(node, CancellationToken.None);
        _fenceAttempt = null;
        if (!task.IsCompleted)
        {
            throw new InvalidOperationException("the simulated fence agents must answer synchronously");
        }

        var result = task.Result;
        var duration = agents == 0 ? TimeSpan.Zero : attempt.Duration;
        Record(n.Name, "cmd", $"fence {node}: {(result.Succeeded ? "will succeed" : "will fail")} after {Ms(duration)} ({result.Explanation})");
        var done = new TaskCompletionSource<FenceResult>();
        Later(n, duration, () =>
        {
            if (result.Succeeded && _byName.TryGetValue(node, out var target))
            {
                if (target.IsUp)
                {
                    Crash(target.Name);
                    Record(target.Name, "fault", $"powered off by {n.Name}'s fence");
                    var restartAt = Now + Draw(_faults.RestartDelay);
                    var generation = target.Generation;
                    ScheduleGlobal(restartAt, () =>
                    {
                        if (!target.IsUp && target.Generation == generation)
                        {
                            Boot(target);
                        }
                    });
                }
            }

            Observe(new FenceObserved(Now, n.Name, node, result.Succeeded));
            done.TrySetResult(result);
        });
        return done.Task;
    }

    private sealed class FenceAttempt
    {
        public TimeSpan Duration { get; set; }
    }

    private sealed class SimulatedFenceAgent(Simulation sim, SimulatedNode node, string level) : IFenceAgent
    {
        public string Name => level;

        public ValueTask<FenceResult> FenceAsync(string target, CancellationToken cancellationToken)
        {
            var d = sim.Draw(sim.Options.FenceDuration);
            var timeout = sim.Options.Cluster.Fencing.Timeout;
            if (sim._fenceAttempt is { } a)
            {
                a.Duration += d < timeout ? d : timeout;
            }

            var fail = sim._faultsOn && sim.Chance(sim._faults.FenceFailure);
            return ValueTask.FromResult(fail
                ? new FenceResult(false, $"{level} on {node.Name}: simulated failure (BMC did not answer)")
                : new FenceResult(true, $"powered off {target}"));
        }
    }
}
