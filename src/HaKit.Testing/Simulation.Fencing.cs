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

    private void Fence(SimulatedNode n, FenceNode fence)
    {
        var agents = Options.FenceLevels.Count;
        var attempt = new FenceAttempt();
        _fenceAttempt = attempt;
        var task = n.Fencing.FenceAsync(fence.Node, CancellationToken.None);
        _fenceAttempt = null;
        if (!task.IsCompleted)
        {
            throw new InvalidOperationException("the simulated fence agents must answer synchronously");
        }

        var result = task.Result;
        var duration = agents == 0 ? TimeSpan.Zero : attempt.Duration;
        Record(n.Name, "cmd", $"fence {fence.Node}: {(result.Succeeded ? "will succeed" : "will fail")} after {Ms(duration)} ({result.Explanation})");
        Later(n, duration, () =>
        {
            if (result.Succeeded && _byName.TryGetValue(fence.Node, out var target))
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

            Observe(new FenceObserved(Now, n.Name, fence.Node, result.Succeeded));
            n.Core.OnFenceCompleted(n.Clock.LocalNow, fence.RequestId, result);
        });
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
