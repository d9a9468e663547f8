using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

// Process faults on one node: crash (SIGKILL), restart as a new incarnation, stall (GC pause, stopped VM).
public sealed partial class Simulation
{
    /// <summary>Kills a node's process (SIGKILL): no more ticks or messages; its resources die with it; durable state is kept.</summary>
    /// <param name="node">The node.</param>
    public void Crash(string node) => TakeDown(this[node], "crash (process killed, resources die with it)");

    private void TakeDown(SimulatedNode n, string why)
    {
        if (!n.IsUp)
        {
            return;
        }

        n.IsUp = false;
        n.Generation++;
        n.StalledUntil = TimeSpan.Zero;
        n.IsShuttingDown = false;
        n.ExitPending = false;
        foreach (var g in n.Groups.Values)
        {
            Array.Clear(g.Running);
            g.Machine.Abandon();
            g.Ownership?.Cancel();
            g.Action?.Cancel();
        }

        _replication?.Crash(n);
        n.WatchStop?.Cancel();
        n.WatchStop?.Dispose();
        n.WatchStop = null;
        ForgetHeard(n.Index);
        Observe(new NodeCrashed(Now, n.Name));
        Record(n.Name, "fault", why);
    }

    /// <summary>Starts a new process for a node (new incarnation, epochs from its durable state); crashes the old one first if it runs.</summary>
    /// <param name="node">The node.</param>
    public void Restart(string node)
    {
        var n = this[node];
        Crash(node);
        Boot(n);
    }

    /// <summary>Pauses a node's process (GC pause, stopped VM): it handles no tick, packet or result until the pause ends.</summary>
    /// <param name="node">The node.</param>
    /// <param name="duration">How long.</param>
    public void Stall(string node, TimeSpan duration)
    {
        var n = this[node];
        if (n.IsUp && Now + duration > n.StalledUntil)
        {
            n.StalledUntil = Now + duration;
            Record(n.Name, "fault", $"stall for {Ms(duration)}");
        }
    }
}
