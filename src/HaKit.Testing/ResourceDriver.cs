using HaKit.Ownership;
using HaKit.Resources;
using static HaKit.Testing.TraceFormat;

namespace HaKit.Testing;

/// <summary>
/// The resource driver: runs each node's resource groups the way the runtime does. Group actions (start, stop, monitor) queue
/// per group and run one at a time through the real <see cref="ResourceGroupMachine"/>; each resource action takes a drawn
/// duration of virtual time (with drawn slowness, hangs and failures while faults are on), and each group outcome is posted
/// back to the node's core.
/// </summary>
internal sealed class ResourceDriver(Simulation sim)
{
    /// <summary>A new process's groups: its resources (from <see cref="SimulationOptions.ResourceFactory"/> or simulated ones) and
    /// their machines, none running; the old process's tokens are disposed.</summary>
    public void CreateGroups(SimulatedNode n)
    {
        foreach (var old in n.Groups.Values)
        {
            old.Ownership?.Dispose();
            old.Action?.Dispose();
        }

        n.Groups.Clear();
        n.GroupList.Clear();
        foreach (var g in n.Options.Groups)
        {
            var resources = (sim.Options.ResourceFactory?.Invoke(n.Name, g) ?? g.Resources.Select(r => (IResource)new SimulatedResource(r)).ToArray()).ToArray();
            if (sim.Replication is { } replication && replication.Group == g.Name)
            {
                // As ReplicationResource in production: first in its group (the data is there before the resources that serve it).
                resources = [replication.ResourceFor(n), .. resources];
            }

            if (resources.Length == 0)
            {
                throw new HaKitConfigurationException([$"HaKit:Groups:{g.Name}:Resources = (none): group {g.Name} has no resources on node {n.Name}; list them in GroupOptions.Resources or return them from SimulationOptions.ResourceFactory"]);
            }

            var machine = new ResourceGroupMachine(g, resources.Select(r => r.Name).ToArray(), new RestartTracker(g.MaxRestarts, g.FailureWindow, n.Clock));
            var runtime = new GroupRuntime(g, resources, machine) { Context = new ResourceContext(g.Name, n.Name, 0, new CancellationToken(canceled: true)) };
            n.Groups.Add(g.Name, runtime);
            n.GroupList.Add(runtime);
        }
    }

    /// <summary>The core's <see cref="StartGroup"/>: a new ownership token, then the group's start in its queue.</summary>
    public void Start(SimulatedNode n, string group, ulong epoch)
    {
        var g = n.Groups[group];
        sim.Observe(new GroupStartIssued(sim.Now, n.Name, group, epoch));
        sim.Record(n.Name, "cmd", $"start group {group} epoch {epoch}");
        g.Ownership?.Cancel();
        g.Ownership = new CancellationTokenSource();
        g.Action = new CancellationTokenSource();
        g.Context = new ResourceContext(group, n.Name, epoch, g.Ownership.Token);
        Enqueue(n, g, new GroupOp(ResourceAction.Start, epoch, g.Action.Token));
    }

    /// <summary>The core's <see cref="StopGroup"/>: the ownership token is cancelled at once, a start or monitor in flight or waiting is aborted, then the group's stop.</summary>
    public void Stop(SimulatedNode n, StopGroup stop)
    {
        var g = n.Groups[stop.Group];
        sim.Observe(new GroupStopIssued(sim.Now, n.Name, stop.Group, stop.Epoch, stop.Reason));
        sim.Record(n.Name, "cmd", $"stop group {stop.Group} epoch {stop.Epoch} ({stop.Reason})");

        // The instant the node stops owning the group: the ownership token is cancelled, and a start or monitor in flight is aborted.
        g.Ownership?.Cancel();
        g.Action?.Cancel();
        if (g.Current is { Kind: not ResourceAction.Stop } current)
        {
            g.Machine.Abandon();
            g.Current = null;
            Aborted(n, g, current);
        }

        var waiting = g.Waiting.ToArray();
        g.Waiting.Clear();
        foreach (var op in waiting)
        {
            if (op.Token.IsCancellationRequested)
            {
                Aborted(n, g, op);
            }
            else
            {
                g.Waiting.Enqueue(op);
            }
        }

        Enqueue(n, g, new GroupOp(ResourceAction.Stop, stop.Epoch, CancellationToken.None));
    }

    /// <summary>The core's <see cref="MonitorGroup"/>: a monitor of the group in its queue.</summary>
    public void Monitor(SimulatedNode n, string group, ulong epoch)
    {
        var g = n.Groups[group];
        Enqueue(n, g, new GroupOp(ResourceAction.Monitor, epoch, g.Action?.Token ?? CancellationToken.None));
    }

    private void Aborted(SimulatedNode n, GroupRuntime g, GroupOp op)
    {
        if (op.Kind != ResourceAction.Start)
        {
            sim.Record(n.Name, "resource", $"{g.Options.Name}: monitor aborted (group stopping), nothing reported");
            return; // the group is stopping: nothing to report
        }

        var outcome = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, null, $"start aborted: {new OperationCanceledException().Message}", 0);
        g.Ownership?.Cancel();
        sim.Record(n.Name, "resource", $"{g.Options.Name}: start aborted by the stop");
        sim.Post(n, () => n.Core.OnGroupStarted(n.Clock.LocalNow, g.Options.Name, op.Epoch, outcome));
    }

    private void Enqueue(SimulatedNode n, GroupRuntime g, GroupOp op)
    {
        g.Waiting.Enqueue(op);
        if (g.Current is null)
        {
            BeginNext(n, g);
        }
    }

    private void BeginNext(SimulatedNode n, GroupRuntime g)
    {
        while (g.Current is null && g.Waiting.TryDequeue(out var op))
        {
            if (op.Token.IsCancellationRequested)
            {
                Aborted(n, g, op);
                continue;
            }

            g.Current = op;
            op.Serial = ++g.Serial;
            var step = op.Kind switch
            {
                ResourceAction.Start => g.Machine.BeginStart(n.Clock.LocalNow),
                ResourceAction.Stop => g.Machine.BeginStop(n.Clock.LocalNow),
                _ => g.Machine.BeginMonitor(n.Clock.LocalNow),
            };
            Continue(n, g, op, step);
        }
    }

    private void Continue(SimulatedNode n, GroupRuntime g, GroupOp op, ResourceGroupStep step)
    {
        switch (step.Kind)
        {
            case ResourceGroupStepKind.Completed:
                g.Current = null;
                Finish(n, g, op, step.Outcome!);
                BeginNext(n, g);
                break;
            case ResourceGroupStepKind.Delay:
                sim.Record(n.Name, "timer", $"{g.Options.Name}: restart delay {Ms(step.Delay)}");
                sim.Later(n, n.Clock.ToGlobalDuration(step.Delay), () =>
                {
                    if (g.Current == op && op.Serial == g.Serial)
                    {
                        Continue(n, g, op, g.Machine.OnDelayElapsed(n.Clock.LocalNow));
                    }
                });
                break;
            default:
                RunAction(n, g, op, step);
                break;
        }
    }

    private void RunAction(SimulatedNode n, GroupRuntime g, GroupOp op, ResourceGroupStep step)
    {
        var index = step.ResourceIndex;
        var action = step.Action;
        var f = sim.FaultsActive ? sim.Faults.Resources : null;
        var normal = sim.Options.Faults.Resources;
        var duration = sim.Draw(action switch
        {
            ResourceAction.Start => (f ?? normal).StartDuration,
            ResourceAction.Stop => (f ?? normal).StopDuration,
            _ => (f ?? normal).MonitorDuration,
        });
        var hang = false;
        ResourceFailureKind injected = ResourceFailureKind.None;
        if (f is not null)
        {
            if (sim.Chance(f.Slow))
            {
                duration *= 3 + (sim.Random.NextDouble() * 7);
            }

            hang = sim.Chance(f.Hang);
            if (sim.Chance(f.Transient))
            {
                injected = ResourceFailureKind.Transient;
            }
            else if (action != ResourceAction.Stop && sim.Chance(f.PermanentOnNode))
            {
                injected = ResourceFailureKind.PermanentOnNode;
            }
            else if (action != ResourceAction.Stop && sim.Chance(f.Fatal))
            {
                injected = ResourceFailureKind.Fatal;
            }
        }

        var timeout = step.Timeout;
        var hasTimeout = timeout > TimeSpan.Zero && timeout != System.Threading.Timeout.InfiniteTimeSpan;
        var timedOut = hasTimeout && (hang || duration > timeout);
        if (timedOut)
        {
            duration = timeout;
        }
        else if (hang)
        {
            duration = TimeSpan.FromHours(1); // no time-out configured: the action hangs
        }

        var context = g.Context;
        var resource = g.Resources[index];
        sim.Later(n, n.Clock.ToGlobalDuration(duration), () =>
        {
            if (g.Current != op || op.Serial != g.Serial)
            {
                return; // aborted
            }

            ResourceActionResult result;
            if (timedOut)
            {
                result = ResourceActionResult.TimedOutAfter(action, timeout);
                if (action == ResourceAction.Start)
                {
                    g.Running[index] = true; // may be half started
                }
            }
            else if (injected != ResourceFailureKind.None)
            {
                result = action == ResourceAction.Monitor
                    ? ResourceActionResult.FromMonitor(injected == ResourceFailureKind.Transient ? MonitorResult.NotRunning("simulated: the resource died") : MonitorResult.Failed(injected, $"simulated {injected} failure"))
                    : ResourceActionResult.FromResult(ResourceResult.Failure(injected, $"simulated {injected} failure of {ResourceName(action)}"));
                if (action == ResourceAction.Start)
                {
                    g.Running[index] = true; // may be half started
                }
                else if (action == ResourceAction.Monitor && injected == ResourceFailureKind.Transient)
                {
                    g.Running[index] = false;
                    (resource as SimulatedResource)?.StopAsync(context, CancellationToken.None);
                }
            }
            else
            {
                result = Invoke(resource, action, context);
                if (action == ResourceAction.Start)
                {
                    g.Running[index] = true;
                }
                else if (action == ResourceAction.Stop && result.Succeeded)
                {
                    g.Running[index] = false;
                }
                else if (action == ResourceAction.Monitor && result.Status == ResourceStatus.NotRunning)
                {
                    g.Running[index] = false;
                }
            }

            var record = new ResourceActionRecord(g.Options.Name, resource.Name, action, result.Kind, result.Status, result.Message, duration, result.TimedOut);
            sim.Observe(new ResourceActionObserved(sim.Now, n.Name, context.Epoch, record));
            if (sim.Options.RecordTrace || !result.Succeeded || action != ResourceAction.Monitor)
            {
                sim.Record(n.Name, "resource", $"{g.Options.Name}/{resource.Name} {ResourceName(action)} epoch {context.Epoch}: {(result.TimedOut ? "timed out" : result.Succeeded ? result.Status?.ToString() ?? "ok" : $"{result.Kind} ({result.Message})")} after {Ms(duration)}");
            }

            Continue(n, g, op, g.Machine.OnActionCompleted(n.Clock.LocalNow, result, context.OwnershipToken.IsCancellationRequested));
        });
    }

    private static ResourceActionResult Invoke(IResource resource, ResourceAction action, ResourceContext context)
    {
        try
        {
            switch (action)
            {
                case ResourceAction.Start:
                    return ResourceActionResult.FromResult(Wait(resource.StartAsync(context, CancellationToken.None)));
                case ResourceAction.Stop:
                    return ResourceActionResult.FromResult(Wait(resource.StopAsync(context, CancellationToken.None)));
                default:
                    return ResourceActionResult.FromMonitor(Wait(resource.MonitorAsync(context, CancellationToken.None)));
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return ResourceActionResult.FromException(action, ex);
        }
    }

    /// <summary>Resource actions run inline on the simulation thread; an action that does not complete synchronously is waited for (keep it deterministic).</summary>
    private static T Wait<T>(ValueTask<T> pending) => pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();

    private void Finish(SimulatedNode n, GroupRuntime g, GroupOp op, GroupActionOutcome outcome)
    {
        var group = g.Options.Name;
        sim.Record(n.Name, "resource", $"{group}: {ResourceName(op.Kind)} of the group epoch {op.Epoch}: {outcome.Outcome}{(outcome.Resource is null ? "" : $" ({outcome.Resource}: {outcome.FailureKind} {outcome.Message})")}");
        switch (op.Kind)
        {
            case ResourceAction.Start:
                if (outcome.Outcome is GroupOutcome.Blocked or GroupOutcome.Failed)
                {
                    g.Ownership?.Cancel();
                }

                sim.Post(n, () => n.Core.OnGroupStarted(n.Clock.LocalNow, group, op.Epoch, outcome));
                break;
            case ResourceAction.Stop:
                sim.Post(n, () => n.Core.OnGroupStopped(n.Clock.LocalNow, group, op.Epoch, outcome));
                break;
            default:
                if (outcome.Outcome is GroupOutcome.Blocked)
                {
                    g.Ownership?.Cancel();
                }

                sim.Post(n, () => n.Core.OnGroupMonitored(n.Clock.LocalNow, group, op.Epoch, outcome));
                break;
        }
    }
}
