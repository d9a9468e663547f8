namespace HaKit.Ownership;

/// <summary>
/// The arbiter lease a group's owner holds (lease-based arbiters only; a TwoNode grant has no duration and leaves this empty).
/// </summary>
/// <remarks>
/// Invariants:
/// <list type="bullet">
/// <item>Both times count from when the granting request was sent, not answered: <see cref="ExpiresAt"/> = sent + lease −
/// drift margin, <see cref="RenewAt"/> = sent + lease / 3. The holder stops the group at <see cref="ExpiresAt"/> unless a
/// renewal was granted by then.</item>
/// <item>At most one renewal is outstanding: <see cref="RenewRequest"/> is non-zero exactly while one is, and is then in the
/// core's request index for this group. Clearing the lease (a stop, an abandoned takeover) retires it.</item>
/// <item>A null <see cref="RenewAt"/> means no renewal is due (no lease, or maintenance after a refused renewal).</item>
/// </list>
/// </remarks>
internal sealed class LeaseState
{
    /// <summary>When the lease runs out for this node (null: no lease).</summary>
    public TimeSpan? ExpiresAt { get; set; }

    /// <summary>When to ask for a renewal (null: none due).</summary>
    public TimeSpan? RenewAt { get; set; }

    /// <summary>The outstanding renewal request (0: none).</summary>
    public long RenewRequest { get; set; }

    /// <summary>When the outstanding (or last) renewal was sent.</summary>
    public TimeSpan RenewSentAt { get; set; }

    /// <summary>Whether the lease has run out at <paramref name="now"/>.</summary>
    /// <param name="now">Monotonic time.</param>
    public bool Expired(TimeSpan now) => ExpiresAt is { } expires && now >= expires;

    /// <summary>Drops the lease and any renewal in flight (the caller retires the renewal's request id first).</summary>
    public void Clear()
    {
        ExpiresAt = null;
        RenewAt = null;
        RenewRequest = 0;
    }
}
