using HaKit.Ownership;

namespace HaKit.Testing;

// ipfail: every node with Arbiter:Ipfail on probes its ping targets in rounds on its own clock; a target-loss fault (or a ping outage)
// makes a node's targets unreachable. A lost target answers only after Arbiter:PingTimeout, as a real probe would.
public sealed partial class Simulation
{
    /// <summary>Scripted fault: only <paramref name="node"/> loses its ping targets (its uplink) for <paramref name="duration"/>; its
    /// heartbeat links are untouched.</summary>
    /// <param name="node">The node.</param>
    /// <param name="duration">How long.</param>
    public void LoseTargets(string node, TimeSpan duration)
    {
        var n = this[node];
        if (Now + duration > n.TargetLossUntil)
        {
            n.TargetLossUntil = Now + duration;
            Record(n.Name, "fault", $"ping targets lost until {TraceFormat.Ms(n.TargetLossUntil)}");
        }
    }

    /// <summary>Whether a node reaches its ping targets now (no target loss and no ping outage).</summary>
    internal bool ReachesTargets(SimulatedNode n) => n.TargetLossUntil <= Now && n.PingOutageUntil <= Now;

    /// <summary>Starts the probe rounds of a node's process (when ipfail is on): the first at once, then every interval of its clock.</summary>
    private void ScheduleReachability(SimulatedNode n)
    {
        var arbiter = n.Options.Arbiter;
        if (!arbiter.Ipfail.Enabled || arbiter.PingTargets.Count == 0)
        {
            return;
        }

        var targets = arbiter.PingTargets.Select(t => HaKit.Arbitration.ReachabilityTarget.Create(t, arbiter.PingTimeout, TimeProvider.System).Target).ToArray();
        void Round()
        {
            var reached = ReachesTargets(n);
            var answer = reached ? TimeSpan.FromMilliseconds(1) : arbiter.PingTimeout;
            Later(n, n.Clock.ToGlobalDuration(answer), () =>
            {
                var round = new ReachabilityRound(targets, targets.Select(_ => reached).ToArray());
                if (Options.RecordTrace)
                {
                    Record(n.Name, "ipfail", $"probe round: {round.Score} of {targets.Length} targets reached");
                }

                n.Core.OnReachability(n.Clock.LocalNow, round);
            });
            Later(n, n.Clock.ToGlobalDuration(arbiter.Ipfail.Interval), Round);
        }

        Later(n, TimeSpan.Zero, Round);
    }
}
