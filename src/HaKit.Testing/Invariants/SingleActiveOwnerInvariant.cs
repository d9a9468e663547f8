using HaKit.Ownership;

namespace HaKit.Testing;

/// <summary>
/// Lease modes (Witness, Etcd): never two owners at one instant: at most one node is Starting or Active for a group at any time.
/// Not part of the TwoNode defaults, where a dual-active during a full partition is allowed (see <see cref="TwoNodeDualActiveInvariant"/>).
/// </summary>
public sealed class SingleActiveOwnerInvariant : IInvariant
{
    /// <inheritdoc />
    public string Name => "single-active-owner";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var g in simulation.GroupNameArray)
        {
            var owners = simulation.Nodes.Where(n => n.IsUp && n.Role(g) is GroupRole.Starting or GroupRole.Active).ToArray();
            if (owners.Length > 1)
            {
                return $"group {g} has {owners.Length} owners at once: {string.Join(", ", owners.Select(n => $"{n.Name} {n.Role(g)} epoch {n.Epoch(g)}"))}";
            }
        }

        return null;
    }
}
