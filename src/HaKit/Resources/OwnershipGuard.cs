using HaKit.Diagnostics;

namespace HaKit.Resources;

/// <summary>
/// One group's ownership as the clock sees it, for <see cref="ResourceContext.IsOwned"/>: the epoch owned here and the monotonic
/// timestamp (<see cref="TimeProvider.GetTimestamp"/>) until which that ownership is safe. The node loop publishes it after every
/// step with plain volatile writes; resource code reads it on any thread, without locks or allocations.
/// </summary>
/// <remarks>
/// The deadline is a fact about time, not about the last step: in lease modes it is the lease's safe end (the lease end minus the
/// drift margin), in TwoNode mode the last loop step plus what is left of the peer's dead time. A process frozen past it (SIGSTOP,
/// a long GC pause, a suspended VM) reads <see langword="false"/> the instant it wakes, before its loop has run again.
/// </remarks>
internal sealed class OwnershipGuard(TimeProvider time)
{
    private const long None = long.MinValue;
    private long _epoch;
    private long _deadline = None;
    private int _basis;

    /// <summary>What the deadline is based on.</summary>
    public enum Basis
    {
        /// <summary>Not owned here.</summary>
        NotOwned = 0,

        /// <summary>The arbiter lease's safe end (Etcd, Witness).</summary>
        Lease = 1,

        /// <summary>The node loop's liveness (TwoNode): the last step plus the dead time left.</summary>
        Liveness = 2,

        /// <summary>TwoNode after a local stall longer than the dead time: not owned until the peer was heard again.</summary>
        Suspended = 3,
    }

    /// <summary>Whether <paramref name="epoch"/> is owned here now, by the clock.</summary>
    /// <param name="epoch">The epoch the caller acts for.</param>
    public bool IsOwned(ulong epoch) =>
        (ulong)Volatile.Read(ref _epoch) == epoch && time.GetTimestamp() < Volatile.Read(ref _deadline);

    /// <summary>The epoch last published (0: none).</summary>
    public ulong Epoch => (ulong)Volatile.Read(ref _epoch);

    /// <summary>The deadline last published (a <see cref="TimeProvider"/> timestamp; <see cref="long.MinValue"/>: none).</summary>
    public long Deadline => Volatile.Read(ref _deadline);

    /// <summary>What the published deadline is based on.</summary>
    public Basis CurrentBasis => (Basis)Volatile.Read(ref _basis);

    /// <summary>Publishes ownership of <paramref name="epoch"/> until <paramref name="deadline"/> (loop only).</summary>
    /// <param name="epoch">The epoch owned.</param>
    /// <param name="deadline">A <see cref="TimeProvider"/> timestamp.</param>
    /// <param name="basis">What the deadline is based on.</param>
    public void Publish(ulong epoch, long deadline, Basis basis)
    {
        if ((ulong)Volatile.Read(ref _epoch) != epoch)
        {
            // A reader that sees the new epoch must not see the old epoch's deadline: clear it first.
            Volatile.Write(ref _deadline, None);
            Volatile.Write(ref _epoch, (long)epoch);
            TakeoverTrace.Mark("guard.opened"); // a new epoch owned here: resources may act from the deadline's write below
        }

        if (Volatile.Read(ref _basis) != (int)basis)
        {
            Volatile.Write(ref _basis, (int)basis);
        }

        Volatile.Write(ref _deadline, deadline);
    }

    /// <summary>Not owned (any more): the deadline is cleared (loop only).</summary>
    /// <param name="basis"><see cref="Basis.NotOwned"/>, or <see cref="Basis.Suspended"/> for a TwoNode owner after a stall.</param>
    public void Revoke(Basis basis = Basis.NotOwned)
    {
        Volatile.Write(ref _deadline, None);
        if (Volatile.Read(ref _basis) != (int)basis)
        {
            Volatile.Write(ref _basis, (int)basis);
        }
    }

    /// <summary>Why <paramref name="epoch"/> is not owned now, in words (for <see cref="OwnershipLostException"/>).</summary>
    /// <param name="epoch">The epoch the caller acts for.</param>
    public string Explain(ulong epoch)
    {
        var owned = Epoch;
        if (owned != epoch)
        {
            return $"this node no longer holds epoch {epoch} (its latest ownership here is epoch {owned})";
        }

        var deadline = Deadline;
        var late = deadline == None ? (TimeSpan?)null : time.GetElapsedTime(deadline);
        var ago = late is { } l ? $" {l.TotalMilliseconds:0} ms ago" : string.Empty;
        return CurrentBasis switch
        {
            Basis.Lease => $"the arbiter lease's safe end passed{ago} (the process was frozen, or the renewal did not come in time)",
            Basis.Liveness => $"the node loop has not run for longer than the peer's dead time allows (its deadline passed{ago}): the peer may have taken over",
            Basis.Suspended => "the node was stalled for longer than the peer's dead time; ownership counts again once the peer was heard again and the node still owns the group",
            _ => "this node does not own the group now",
        };
    }
}
