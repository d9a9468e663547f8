using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// A node in standby or in a graceful shutdown takes nothing: it never begins a takeover (Acquiring) nor starts a group until it is
/// online again or a new process starts.
/// </summary>
public sealed class StandbyTakesNothingInvariant : IInvariant
{
    private readonly Dictionary<string, string> _why = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public string Name => "standby-takes-nothing";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEventList)
        {
            switch (e)
            {
                case NodeStarted s:
                    _why.Remove(s.Node);
                    break;
                case AdminObserved { Command: SetStandbyCommand { Standby: true }, Result.Accepted: true } a:
                    _why.TryAdd(a.Node, $"in standby since {Invariants.S(a.At)}");
                    break;
                case AdminObserved { Command: SetStandbyCommand { Standby: false }, Result.Accepted: true } a:
                    if (_why.TryGetValue(a.Node, out var reason) && reason.StartsWith("in standby", StringComparison.Ordinal))
                    {
                        _why.Remove(a.Node);
                    }

                    break;
                case AdminObserved { Command: ShutdownCommand, Result.Accepted: true } a:
                    _why[a.Node] = $"shutting down since {Invariants.S(a.At)}";
                    break;
                case CoreEventObserved { Event: RoleChanged { From: GroupRole.Standby, To: GroupRole.Acquiring } r } c when _why.TryGetValue(c.Node, out var acquiring):
                    return $"node {c.Node} began a takeover of group {r.Group} (epoch {r.Epoch}) while {acquiring}";
                case GroupStartIssued st when _why.TryGetValue(st.Node, out var starting):
                    return $"node {st.Node} started group {st.Group} (epoch {st.Epoch}) while {starting}";
            }
        }

        return null;
    }
}
