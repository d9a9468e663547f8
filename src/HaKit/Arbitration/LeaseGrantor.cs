using System.Globalization;

namespace HaKit.Arbitration;

/// <summary>One voter's answer to a lease request.</summary>
/// <param name="Granted">Whether the voter granted (or renewed) the lease.</param>
/// <param name="HighestEpoch">The highest epoch the voter knows for the group (after this vote).</param>
/// <param name="Holder">Refused: the node holding an unexpired lease from this voter, or <see langword="null"/>.</param>
/// <param name="Remaining">Refused: how long that lease still runs at the voter.</param>
/// <param name="Reason">Why, in words an operator understands.</param>
public sealed record LeaseVote(bool Granted, ulong HighestEpoch, string? Holder, TimeSpan Remaining, string Reason)
{
    /// <summary>Whether the refusal is only about the epoch (the voter knows an epoch at least as high): asking again with a higher one may succeed.</summary>
    public bool StaleEpoch { get; init; }
}

/// <summary>
/// One voter of Witness mode (a node for itself and its peer, or the witness for many clusters): it grants at most one
/// unexpired lease per group, never below the highest epoch it knows, and after it (re)starts it grants nothing for one
/// maximum lease time, since it may have granted a lease before it started that it no longer remembers. A pure state
/// machine: time is an input (the voter's own monotonic clock), no I/O; not thread-safe (callers serialize).
/// </summary>
/// <remarks>
/// Leases run at the voter from when it receives the request (<c>now + ttl</c>); the holder counts from when it sent the
/// request and stops a drift margin before the end, so the holder is always done before any voter's lease can expire.
/// </remarks>
public sealed class LeaseGrantor
{
    private readonly Dictionary<(string Cluster, string Group), Entry> _entries = [];
    private readonly TimeSpan _quietUntil;

    /// <summary>Creates a voter.</summary>
    /// <param name="name">The voter's name (for reasons).</param>
    /// <param name="startedAt">When the voter's process started, on <paramref name="name"/>'s clock.</param>
    /// <param name="maxTtl">The longest lease it grants; also how long it stays quiet after it starts.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxTtl"/> is not positive.</exception>
    public LeaseGrantor(string name, TimeSpan startedAt, TimeSpan maxTtl)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(maxTtl, TimeSpan.Zero);
        Name = name;
        MaxTtl = maxTtl;
        _quietUntil = startedAt + maxTtl;
    }

    /// <summary>The voter's name.</summary>
    public string Name { get; }

    /// <summary>The longest lease granted.</summary>
    public TimeSpan MaxTtl { get; }

    /// <summary>Raised when a vote raises the highest epoch of a group (cluster, group, epoch): a voter that keeps epochs across restarts persists it.</summary>
    public event Action<string, string, ulong>? EpochRaised;

    /// <summary>Makes the voter know an epoch (from durable state at start, or one seen in heartbeats): it never grants at or below it to a new holder.</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="group">The group.</param>
    /// <param name="epoch">The epoch.</param>
    public void Observe(string cluster, string group, ulong epoch)
    {
        var e = EntryOf(cluster, group);
        e.HighestEpoch = Math.Max(e.HighestEpoch, epoch);
    }

    /// <summary>The highest epoch known for a group (0 when none).</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="group">The group.</param>
    public ulong HighestEpoch(string cluster, string group) => _entries.TryGetValue((cluster, group), out var e) ? e.HighestEpoch : 0;

    /// <summary>The current holder of an unexpired lease on a group, if any.</summary>
    /// <param name="now">The voter's monotonic time.</param>
    /// <param name="cluster">The cluster.</param>
    /// <param name="group">The group.</param>
    /// <returns>The holder, its epoch and when its lease ends, or <see langword="null"/>.</returns>
    public (string Holder, ulong Epoch, TimeSpan ExpiresAt)? HolderOf(TimeSpan now, string cluster, string group) =>
        _entries.TryGetValue((cluster, group), out var e) && e.Holder is { } h && e.ExpiresAt > now ? (h, e.Epoch, e.ExpiresAt) : null;

    /// <summary>Answers a lease request.</summary>
    /// <param name="now">The voter's monotonic time when the request arrived.</param>
    /// <param name="cluster">The requester's cluster.</param>
    /// <param name="group">The group.</param>
    /// <param name="requester">The requesting node.</param>
    /// <param name="epoch">The epoch it will own the group with.</param>
    /// <param name="ttl">The lease asked for (refused above <see cref="MaxTtl"/>).</param>
    /// <param name="renew">Whether the requester already owns the group with <paramref name="epoch"/>.</param>
    /// <param name="requestId">The request's id, remembered with a grant so that <see cref="Release"/> can name exactly that grant. <value>Default 0.</value></param>
    /// <returns>The vote.</returns>
    public LeaseVote Vote(TimeSpan now, string cluster, string group, string requester, ulong epoch, TimeSpan ttl, bool renew, ulong requestId = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(group);
        ArgumentException.ThrowIfNullOrEmpty(requester);
        var e = EntryOf(cluster, group);
        if (now < _quietUntil)
        {
            return new LeaseVote(false, e.HighestEpoch, null, TimeSpan.Zero, Invariant($"voter {Name} started {Ms(now - (_quietUntil - MaxTtl))} ago and grants nothing for one lease time ({Ms(MaxTtl)}): it may have granted a lease it no longer remembers"));
        }

        if (ttl <= TimeSpan.Zero || ttl > MaxTtl)
        {
            // Never shorten a lease silently: the holder would count on the time it asked for.
            return new LeaseVote(false, e.HighestEpoch, null, TimeSpan.Zero, Invariant($"voter {Name} grants leases of up to {Ms(MaxTtl)}, not {Ms(ttl)}: lower Arbiter:LeaseTtl or raise the voter's maximum"));
        }

        if (e.Holder is { } holder && e.ExpiresAt > now && holder != requester)
        {
            return new LeaseVote(false, e.HighestEpoch, holder, e.ExpiresAt - now, Invariant($"voter {Name} granted group {group} to {holder} (epoch {e.Epoch}) until {Ms(e.ExpiresAt - now)} from now"));
        }

        var same = e.Holder == requester && e.Epoch == epoch && e.ExpiresAt > now;
        var fresh = renew ? epoch >= e.HighestEpoch && epoch > 0 : epoch > e.HighestEpoch || same;
        if (!fresh)
        {
            return new LeaseVote(false, e.HighestEpoch, null, TimeSpan.Zero, Invariant($"voter {Name} knows epoch {e.HighestEpoch} for group {group}; {(renew ? "a renewal" : "an acquisition")} with epoch {epoch} is stale")) { StaleEpoch = !renew };
        }

        e.Holder = requester;
        e.Epoch = epoch;
        e.GrantId = requestId;
        e.ExpiresAt = now + ttl;
        if (epoch > e.HighestEpoch)
        {
            e.HighestEpoch = epoch;
            EpochRaised?.Invoke(cluster, group, epoch);
        }

        return new LeaseVote(true, e.HighestEpoch, requester, e.ExpiresAt - now, Invariant($"voter {Name} {(renew || same ? "renewed" : "granted")} group {group} to {requester} with epoch {epoch} for {Ms(e.ExpiresAt - now)}"));
    }

    /// <summary>Ends a lease early (the holder stopped, or its vote did not reach a majority). Ignored unless the requester holds it with that epoch.</summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="group">The group.</param>
    /// <param name="requester">The releasing node.</param>
    /// <param name="epoch">The epoch of the lease given back.</param>
    /// <param name="requestId">When not 0: only if the lease was last granted or renewed for this request (a vote that failed gives back
    /// exactly what it got, never a later grant the requester counts on). <value>Default 0: whatever the requester holds with <paramref name="epoch"/>.</value></param>
    /// <returns>Whether a lease was released.</returns>
    public bool Release(string cluster, string group, string requester, ulong epoch, ulong requestId = 0)
    {
        if (_entries.TryGetValue((cluster, group), out var e) && e.Holder == requester && e.Epoch == epoch && (requestId == 0 || e.GrantId == requestId))
        {
            e.Holder = null;
            e.ExpiresAt = TimeSpan.Zero;
            return true;
        }

        return false;
    }

    /// <summary>
    /// Ends a holder's lease whatever its epoch: for a voter that learned, from the holder's own authenticated word, that it
    /// stopped the group (a node handed the group over to this voter's node and announced it).
    /// </summary>
    /// <param name="cluster">The cluster.</param>
    /// <param name="group">The group.</param>
    /// <param name="holder">The node that gave the group up.</param>
    /// <returns>Whether a lease was ended.</returns>
    public bool Forget(string cluster, string group, string holder)
    {
        if (_entries.TryGetValue((cluster, group), out var e) && e.Holder == holder)
        {
            e.Holder = null;
            e.ExpiresAt = TimeSpan.Zero;
            return true;
        }

        return false;
    }

    private Entry EntryOf(string cluster, string group)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(group);
        if (!_entries.TryGetValue((cluster, group), out var e))
        {
            e = new Entry();
            _entries.Add((cluster, group), e);
        }

        return e;
    }

    private static string Ms(TimeSpan t) => Invariant($"{t.TotalMilliseconds:0} ms");

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private sealed class Entry
    {
        public string? Holder { get; set; }

        public ulong Epoch { get; set; }

        public TimeSpan ExpiresAt { get; set; }

        public ulong HighestEpoch { get; set; }

        public ulong GrantId { get; set; }
    }
}
