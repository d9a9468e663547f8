using HaKit.Fencing;

namespace HaKit.Ownership;

/// <summary>Operator commands: switchover, standby, maintenance, clear failures, confirm a node down, shutdown.</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>Executes an operator command.</summary>
    /// <param name="now">Monotonic time.</param>
    /// <param name="command">The command.</param>
    /// <returns>Whether it was accepted, and what happens next or why not.</returns>
    public AdminResult Admin(TimeSpan now, AdminCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        Advance(now);
        var result = command switch
        {
            SwitchoverCommand s => Switchover(s),
            SetStandbyCommand s => SetStandby(s.Standby),
            SetMaintenanceCommand m => SetMaintenance(m),
            ClearFailuresCommand c => ClearFailures(c.Group),
            ConfirmNodeDownCommand c => ConfirmNodeDown(c.Node),
            ShutdownCommand => BeginShutdown(),
            _ => new AdminResult(false, $"unknown command {command.GetType().Name}"),
        };
        ReconcileAll();
        Flush();
        return result;
    }

    private AdminResult Switchover(SwitchoverCommand s)
    {
        if (!_groupByName.TryGetValue(s.Group, out var g))
        {
            return new AdminResult(false, $"unknown group '{s.Group}'");
        }

        if (g.Maintenance)
        {
            // Maintenance is hands-off: the core neither stops nor starts the group here, not even on an operator's move.
            return new AdminResult(false, $"group {g.Name} is in maintenance on {LocalNode}: its resources are left as they are; end maintenance (SetMaintenanceCommand with Maintenance = false) before moving it");
        }

        if (g.Role != GroupRole.Active)
        {
            var owner = CurrentOwner(g);
            return new AdminResult(false, owner is null || owner == LocalNode
                ? $"group {g.Name} is {g.Role} on {LocalNode}, not Active: nothing to move"
                : $"group {g.Name} is active on {owner}, not here: run the switchover on {owner}");
        }

        string? target = s.Target;
        if (target is null)
        {
            target = BestOtherCandidate(g);
            if (target is null)
            {
                return new AdminResult(false, $"group {g.Name}: no other node is alive and eligible");
            }
        }
        else if (!_peerByName.TryGetValue(target, out var tp))
        {
            return new AdminResult(false, target == LocalNode ? $"group {g.Name} already runs on {LocalNode}" : $"unknown node '{target}'");
        }
        else if (!IsUp(tp) || !(tp.TryGetAnnouncement(g, out var ann) && ann.Eligible) || tp.Leaving)
        {
            return new AdminResult(false, $"group {g.Name}: node {target} is not alive and eligible ({tp.Health}{(tp.Fenced ? ", fenced" : "")})");
        }

        BeginStop(g, StopReason.Switchover, target, $"switchover to {target} requested by an operator");
        return new AdminResult(true, $"group {g.Name}: stopping here, then starting on {target}");
    }

    private AdminResult SetStandby(bool standby)
    {
        _standby = standby;
        _announce = true;
        return new AdminResult(true, standby ? $"node {LocalNode} in standby: releasing every group" : $"node {LocalNode} online");
    }

    private AdminResult SetMaintenance(SetMaintenanceCommand m)
    {
        if (!_groupByName.TryGetValue(m.Group, out var g))
        {
            return new AdminResult(false, $"unknown group '{m.Group}'");
        }

        g.Maintenance = m.Maintenance;
        g.Monitor.InFlight = false;
        g.Monitor.NextAt = _now;
        _announce = true;
        return new AdminResult(true, m.Maintenance ? $"group {g.Name} in maintenance: resources left as they are, no monitoring or failover" : $"group {g.Name} managed again");
    }

    private AdminResult ClearFailures(string group)
    {
        if (!_groupByName.TryGetValue(group, out var g))
        {
            return new AdminResult(false, $"unknown group '{group}'");
        }

        g.Ban.Clear();
        g.Fatal.Clear();
        g.Acquire.NextAttemptAt = _now;
        g.Acquire.LastDelayReason = null;
        _announce = true;
        if (g.Role == GroupRole.Blocked)
        {
            // Keep the target of the stop that failed (a switchover stays a switchover).
            BeginStop(g, StopReason.Cleanup, g.Handoff.PendingTarget, "operator cleanup: retrying the stop");
            return new AdminResult(true, $"group {g.Name}: failures cleared, retrying the stop of the blocked group");
        }

        return new AdminResult(true, $"group {g.Name}: failures cleared");
    }

    private AdminResult ConfirmNodeDown(string node)
    {
        if (!_peerByName.ContainsKey(node))
        {
            return new AdminResult(false, $"unknown node '{node}'");
        }

        MarkFenced(node);
        Emit(new FenceCompleted(_now, node, new FenceResult(true, "confirmed down by an operator")));
        return new AdminResult(true, $"node {node} treated as fenced until it restarts");
    }

    private AdminResult BeginShutdown()
    {
        _shuttingDown = true;
        _announce = true;
        var kept = _groups.Where(g => g.Maintenance).Select(g => g.Name).ToArray();
        return new AdminResult(true, kept.Length == 0
            ? $"node {LocalNode} shutting down: releasing every group"
            : $"node {LocalNode} shutting down: releasing every group except {string.Join(", ", kept)} (in maintenance: left as it is)");
    }
}
