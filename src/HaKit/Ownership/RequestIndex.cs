namespace HaKit.Ownership;

/// <summary>
/// The core's outstanding requests (fence, arbiter acquisition, lease renewal) by request id, so that feedback finds its group
/// directly instead of scanning every group.
/// </summary>
/// <typeparam name="TOwner">What a request belongs to (a group's state).</typeparam>
/// <remarks>
/// <para>Ids start at 1 and only grow, so an id is never reused: an answer to a request that was given up (a takeover abandoned,
/// a lease dropped by a stop) finds nothing once the request is retired, and at worst finds the group that issued it, whose
/// own request fields still decide whether the answer is current.</para>
/// <para>Invariant kept by the core: an id is in the index exactly while some group's state holds it as its pending request
/// (<see cref="AcquireAttempt.PendingRequest"/> or <see cref="LeaseState.RenewRequest"/>); every place that clears or
/// replaces one of those retires the old id.</para>
/// </remarks>
internal sealed class RequestIndex<TOwner>
    where TOwner : class
{
    private readonly Dictionary<long, TOwner> _owners = [];
    private long _nextId = 1;

    /// <summary>How many requests are outstanding.</summary>
    public int Count => _owners.Count;

    /// <summary>Allocates the next request id for <paramref name="owner"/> and records it.</summary>
    /// <param name="owner">Who issues the request.</param>
    /// <returns>The new id (never 0, never reused).</returns>
    public long Issue(TOwner owner)
    {
        var id = _nextId++;
        _owners.Add(id, owner);
        return id;
    }

    /// <summary>Finds who issued an outstanding request.</summary>
    /// <param name="id">The request id from the feedback.</param>
    /// <param name="owner">The issuer, when the request is outstanding.</param>
    /// <returns>Whether the request is outstanding.</returns>
    public bool TryFind(long id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TOwner? owner) => _owners.TryGetValue(id, out owner);

    /// <summary>Forgets a request (answered or given up). Id 0 (no request) and unknown ids are ignored.</summary>
    /// <param name="id">The request id.</param>
    public void Retire(long id) => _owners.Remove(id);
}
