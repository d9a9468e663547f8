using System.Globalization;

namespace HaKit.Testing;

/// <summary>
/// Etcd mode: a renewal is granted only while the group's key is still bound to the very lease the renewing node holds. A key
/// deleted by an operator, gone with a revoked lease, or re-created under another lease (even one carrying the same node name)
/// must end the node's ownership at its next renewal, not be renewed over: the name in the key says who wrote it, only the lease
/// id says that this process still holds it. Seen at the store, at the instant it answers (<see cref="LeaseRenewalGranted"/>).
/// </summary>
public sealed class RenewalHoldsKeyInvariant : IInvariant
{
    /// <inheritdoc />
    public string Name => "renewal-holds-key";

    /// <inheritdoc />
    public string? Check(Simulation simulation)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        foreach (var e in simulation.StepEventList)
        {
            if (e is LeaseRenewalGranted r && (r.LeaseId is not { } lease || r.Holder is null || r.Holder.LeaseId != lease))
            {
                return string.Create(CultureInfo.InvariantCulture,
                    $"{r.Node}'s renewal of {r.Group} was granted at {Invariants.S(r.At)} for lease {(r.LeaseId is { } l ? l.ToString("x", CultureInfo.InvariantCulture) : "(none)")}, but {r.Key} is {(r.Holder is { } h ? $"held by {h.Value} under lease {h.LeaseId:x} (revision {h.CreateRevision})" : "gone")}");
            }
        }

        return null;
    }
}
