using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// Maintenance is hands-off: while a group is in maintenance on a node (<see cref="SetMaintenanceCommand"/>), that node neither
/// starts nor stops it, whatever happens (a takeover in progress, standby, shutdown, a split brain, an operator's switchover). The
/// one exception is the operator's explicit cleanup of a blocked group (<see cref="ClearFailuresCommand"/> retries its stop).
/// </summary>
public sealed class MaintenanceHandsOffInvariant : IInvariant
{
    private readonly HashSet<(string Node, string Group)> _maintenance = [];

    /// <inheritdoc />
    public string Name => "maintenance-hands-off";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEventList)
        {
            switch (e)
            {
                case NodeStarted s:
                    Forget(s.Node);
                    break;
                case AdminObserved { Command: SetMaintenanceCommand m, Result.Accepted: true } a:
                    if (m.Maintenance)
                    {
                        _maintenance.Add((a.Node, m.Group));
                    }
                    else
                    {
                        _maintenance.Remove((a.Node, m.Group));
                    }

                    break;
                case GroupStartIssued st when _maintenance.Contains((st.Node, st.Group)):
                    return $"node {st.Node} started group {st.Group} (epoch {st.Epoch}) while the group was in maintenance there";
                case GroupStopIssued sp when sp.Reason != StopReason.Cleanup && _maintenance.Contains((sp.Node, sp.Group)):
                    return $"node {sp.Node} stopped group {sp.Group} (epoch {sp.Epoch}, {sp.Reason}) while the group was in maintenance there";
            }
        }

        return null;
    }

    // Out of Check: a lambda capturing the event there made every Check allocate its closure.
    private void Forget(string node) => _maintenance.RemoveWhere(k => k.Node == node);
}
