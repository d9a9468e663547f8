using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// Once faults stop, every group that has an eligible node is Active on exactly one node (and Standby everywhere else) within
/// <see cref="SimulationBounds.Convergence"/>, and stays so. A group in maintenance on any node is skipped: the core leaves it as
/// it is by contract (the end of faults takes every group out of maintenance, so this only matters for scripted scenarios).
/// </summary>
public sealed class ConvergenceInvariant : IInvariant
{
    /// <inheritdoc />
    public string Name => "converges-after-faults";

    // Whether the previous check, past the bound, found every group settled (Active on one node, Standby elsewhere) without an excuse.
    private bool _settled;

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        if (simulation.FaultsActive || simulation.Now < simulation.FaultsEndAt + simulation.Bounds.Convergence)
        {
            return null;
        }

        if (simulation.QuietStep && _settled)
        {
            return null; // no role or process changed since: every group is still settled
        }

        _settled = false;
        var all = true;
        var groups = simulation.GroupNameArray;
        for (var gi = 0; gi < groups.Length; gi++)
        {
            var g = groups[gi];
            var active = 0;
            var settled = true;
            foreach (var n in simulation.NodeList)
            {
                var role = n.RoleAt(gi);
                if (role == GroupRole.Active)
                {
                    active++;
                }
                else if (role != GroupRole.Standby)
                {
                    settled = false;
                }
            }

            if (active == 1 && settled)
            {
                continue;
            }

            all = false;
            if (simulation.Nodes.Any(n => n.InMaintenance(g)))
            {
                continue; // an operator keeps the group as it is: nothing the core may converge
            }

            if (!simulation.Nodes.Any(n => n.IsUp && n.Core.GetStatus().Groups.Any(x => x.Group == g && x.Eligible)))
            {
                continue; // no eligible node: nothing to converge to
            }

            var roles = string.Join(", ", simulation.Nodes.Select(n => n.IsUp ? $"{n.Name}={n.Role(g)} e{n.Epoch(g)}" : $"{n.Name}=down"));
            return $"group {g} is not Active on exactly one node {Invariants.S(simulation.Now - simulation.FaultsEndAt)} after faults ended (bound {Invariants.S(simulation.Bounds.Convergence)}: {simulation.Bounds.Derivation}): {roles}";
        }

        _settled = all;
        return null;
    }
}
