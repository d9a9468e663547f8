namespace HaKit.Ownership;

/// <summary>What the runtime's freeze guard reads after every step (no allocation: it runs at every heartbeat).</summary>
internal sealed partial class OwnershipCore
{
    /// <summary>How many groups the core has (indexes for <see cref="GetGuardView"/>).</summary>
    public int GroupCount => _groups.Length;

    /// <summary>When a verified heartbeat of a peer was last taken in (<see cref="TimeSpan.MinValue"/>: never).</summary>
    public TimeSpan LastPeerHeardAt { get; private set; } = TimeSpan.MinValue;

    /// <summary>The name of the group at <paramref name="index"/>.</summary>
    /// <param name="index">0 to <see cref="GroupCount"/> − 1.</param>
    public string GroupNameAt(int index) => _groups[index].Name;

    /// <summary>Whether the group at <paramref name="index"/> is owned here with resources allowed to act (Starting or Active), its epoch, and its lease's safe end (null: no lease, TwoNode).</summary>
    /// <param name="index">0 to <see cref="GroupCount"/> − 1.</param>
    /// <param name="epoch">The epoch owned.</param>
    /// <param name="leaseSafeEnd">The lease's end minus the drift margin, in core time; null without a lease.</param>
    public bool GetGuardView(int index, out ulong epoch, out TimeSpan? leaseSafeEnd)
    {
        var g = _groups[index];
        epoch = g.Epoch;
        leaseSafeEnd = g.Lease.ExpiresAt;
        return g.Role is GroupRole.Starting or GroupRole.Active;
    }
}
