using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// A graceful shutdown completes on its own: the core reports <see cref="ShutdownReady"/> (every group released, each handoff
/// confirmed or timed out) before the host's shutdown time-out (<see cref="SimulationOptions.ShutdownTimeout"/>, by default what
/// the hosting layer requires) makes the process exit anyway.
/// </summary>
public sealed class GracefulShutdownCompletesInvariant : IInvariant
{
    /// <inheritdoc />
    public string Name => "graceful-shutdown-completes";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEventList)
        {
            if (e is ShutdownTimedOut t)
            {
                return Describe(simulation, t);
            }
        }

        return null;
    }

    // Out of Check: a lambda capturing the event there made every Check allocate its closure.
    private static string Describe(Simulation simulation, ShutdownTimedOut t)
    {
        var n = simulation[t.Node];
        var groups = string.Join(", ", simulation.GroupNames.Select(g => $"{g} {n.Core.GetRole(g)}{(n.InMaintenance(g) ? " (maintenance)" : "")}"));
        return $"node {t.Node}: the graceful shutdown did not complete within the host's time-out {Invariants.S(t.Timeout)}: {groups}";
    }
}
