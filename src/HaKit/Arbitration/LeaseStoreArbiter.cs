using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Arbitration;

/// <summary>
/// Group ownership as a lease-bound key in a distributed store (<see cref="ILeaseStore"/>: etcd, or its in-memory twin
/// in the simulator), the way Patroni and Kubernetes leader election do it. To own group <c>g</c> a node grants itself a
/// lease and creates <c>{prefix}/{cluster}/groups/g</c> = its name, bound to that lease, only if the key is absent; the
/// key's create revision is the epoch (fencing token). The holder keeps the lease alive on every renewal; when it dies
/// the store deletes the key once the lease expires, and only then can another node create it. A release deletes the
/// key and revokes the lease so the next owner need not wait.
/// </summary>
/// <remarks>
/// Answers: a grant carries the store's time to live as <see cref="ArbiterDecision.LeaseDuration"/> (the core stops the
/// group that long after it sent the request, minus its drift margin, unless a renewal was granted meanwhile) and the
/// create revision as <see cref="ArbiterDecision.Epoch"/>. A store that cannot be reached yields
/// <see cref="ArbiterDecision.Unreachable"/>: an acquisition waits, a holder keeps serving until its lease can have
/// expired and then stops (<c>no-quorum-policy=stop</c>). <see cref="RequestAsync"/> never throws: the caller's cancellation also yields
/// <see cref="ArbiterDecision.Unreachable"/> (an unknown answer). Thread-safe.
/// </remarks>
public sealed partial class LeaseStoreArbiter : IArbiter, IArbiterWatch
{
    private readonly ILeaseStore _store;
    private readonly string _keyPrefix;
    private readonly TimeSpan _ttl;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, long> _leases = new(StringComparer.Ordinal);

    /// <summary>Creates the arbiter.</summary>
    /// <param name="store">The lease store.</param>
    /// <param name="cluster">The cluster name (keys are per cluster, so one store serves many clusters).</param>
    /// <param name="ttl">The lease time to live asked for.</param>
    /// <param name="keyPrefix">The key prefix. <value>Default <c>/hakit</c>.</value></param>
    /// <param name="logger">Logs grants, refusals and store failures. <value>Default: none.</value></param>
    /// <exception cref="ArgumentNullException"><paramref name="store"/> or <paramref name="cluster"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> is not positive.</exception>
    public LeaseStoreArbiter(ILeaseStore store, string cluster, TimeSpan ttl, string keyPrefix = "/hakit", ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(cluster);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        _store = store;
        _ttl = ttl;
        _keyPrefix = $"{(keyPrefix ?? "/hakit").TrimEnd('/')}/{cluster}/groups/";
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string Name => "lease store " + _store.Name;

    /// <summary>The key that holds ownership of <paramref name="group"/>.</summary>
    /// <param name="group">The group.</param>
    /// <returns>The key.</returns>
    public string KeyOf(string group) => _keyPrefix + group;

    /// <summary>The lease this arbiter holds for <paramref name="group"/> (what a renewal keeps alive), or <see langword="null"/>.</summary>
    /// <param name="group">The group.</param>
    internal long? LeaseOf(string group) => _leases.TryGetValue(group, out var lease) ? lease : null;

    /// <inheritdoc />
    public async ValueTask<ArbiterDecision> RequestAsync(ArbiterRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            var decision = request.Reason == AcquireReason.Renew
                ? await RenewAsync(request, cancellationToken).ConfigureAwait(false)
                : await AcquireAsync(request, cancellationToken).ConfigureAwait(false);
            if (decision.Unavailable)
            {
                LogUnreachable(_logger, request.Group, request.Reason, decision.Explanation);
            }
            else if (!decision.Granted)
            {
                LogRefused(_logger, request.Group, request.Reason, decision.Explanation);
            }

            return decision;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return ArbiterDecision.Unreachable($"request to {_store.Name} cancelled");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var explanation = $"{_store.Name} unreachable: {ex.Message}";
            LogUnreachable(_logger, request.Group, request.Reason, explanation);
            return ArbiterDecision.Unreachable(explanation);
        }
    }

    /// <inheritdoc />
    public async ValueTask ReleaseAsync(string group, string node, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(group);
        if (!_leases.TryRemove(group, out var lease))
        {
            return;
        }

        try
        {
            await _store.DeleteIfLeaseAsync(KeyOf(group), lease, cancellationToken).ConfigureAwait(false);
            await _store.RevokeLeaseAsync(lease, cancellationToken).ConfigureAwait(false);
            LogReleased(_logger, group, KeyOf(group));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // The lease expires at the store on its own; the next owner waits for it.
            LogReleaseFailed(_logger, group, ex.Message);
        }
    }

    /// <inheritdoc />
    public Task WatchAsync(Action<string> onFreed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onFreed);
        return _store.WatchDeletionsAsync(_keyPrefix, key =>
        {
            if (key.StartsWith(_keyPrefix, StringComparison.Ordinal) && key.Length > _keyPrefix.Length)
            {
                onFreed(key[_keyPrefix.Length..]);
            }
        }, cancellationToken);
    }

    private async ValueTask<ArbiterDecision> AcquireAsync(ArbiterRequest request, CancellationToken cancellationToken)
    {
        var key = KeyOf(request.Group);

        // A lease from an earlier attempt whose answer was lost may already hold the key: adopt it rather than wait for it.
        if (_leases.TryGetValue(request.Group, out var earlier))
        {
            var holder = await _store.GetAsync(key, cancellationToken).ConfigureAwait(false);
            if (holder is not null && holder.LeaseId == earlier && holder.Value == request.Node
                && await _store.KeepAliveAsync(earlier, cancellationToken).ConfigureAwait(false) is { } left)
            {
                return Granted(request.Group, holder, left, "re-confirmed");
            }

            _leases.TryRemove(request.Group, out _);
            await RevokeQuietlyAsync(earlier, cancellationToken).ConfigureAwait(false);
        }

        var (lease, ttl) = await _store.GrantLeaseAsync(_ttl, cancellationToken).ConfigureAwait(false);
        _leases[request.Group] = lease; // before the put: if its answer is lost, the next attempt finds and adopts the key
        var claim = await _store.PutIfAbsentAsync(key, request.Node, lease, cancellationToken).ConfigureAwait(false);
        if (claim.Created)
        {
            return Granted(request.Group, claim.Holder, ttl, "created");
        }

        _leases.TryRemove(request.Group, out _);
        await RevokeQuietlyAsync(lease, cancellationToken).ConfigureAwait(false);
        var h = claim.Holder;
        return ArbiterDecision.Deny(h.Value == request.Node
            ? string.Create(CultureInfo.InvariantCulture, $"{key} is still held by an earlier lease of this node ({h.LeaseId:x}, revision {h.CreateRevision}); it is free once that lease expires")
            : string.Create(CultureInfo.InvariantCulture, $"{key} is held by node {h.Value} (lease {h.LeaseId:x}, revision {h.CreateRevision}): its lease has not expired"));
    }

    private async ValueTask<ArbiterDecision> RenewAsync(ArbiterRequest request, CancellationToken cancellationToken)
    {
        var key = KeyOf(request.Group);
        if (!_leases.TryGetValue(request.Group, out var lease))
        {
            return ArbiterDecision.Deny($"no lease is held for {key}");
        }

        if (await _store.KeepAliveAsync(lease, cancellationToken).ConfigureAwait(false) is not { } left)
        {
            _leases.TryRemove(request.Group, out _);
            return ArbiterDecision.Deny(string.Create(CultureInfo.InvariantCulture, $"lease {lease:x} expired at {_store.Name}; {key} is gone"));
        }

        var holder = await _store.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (holder is null || holder.LeaseId != lease)
        {
            _leases.TryRemove(request.Group, out _);
            await RevokeQuietlyAsync(lease, cancellationToken).ConfigureAwait(false);
            return ArbiterDecision.Deny(holder is null
                ? $"{key} was deleted at {_store.Name}"
                : string.Create(CultureInfo.InvariantCulture, $"{key} is now held by node {holder.Value} (lease {holder.LeaseId:x})"));
        }

        return Granted(request.Group, holder, left, "renewed");
    }

    private ArbiterDecision Granted(string group, LeaseHolder holder, TimeSpan ttl, string how)
    {
        var explanation = string.Create(CultureInfo.InvariantCulture, $"{KeyOf(group)} {how} at {_store.Name}: lease {holder.LeaseId:x}, ttl {ttl.TotalSeconds:0.###} s, revision {holder.CreateRevision}");
        LogGranted(_logger, group, explanation);
        return new ArbiterDecision(true, explanation, ttl, (ulong)holder.CreateRevision);
    }

    private async ValueTask RevokeQuietlyAsync(long lease, CancellationToken cancellationToken)
    {
        try
        {
            await _store.RevokeLeaseAsync(lease, cancellationToken).ConfigureAwait(false);
        }
        catch (LeaseStoreUnavailableException)
        {
            // It expires on its own.
        }
    }

    [LoggerMessage(EventId = 2110, Level = LogLevel.Debug, Message = "lease arbiter: group {Group}: {Explanation}")]
    private static partial void LogGranted(ILogger logger, string group, string explanation);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Information, Message = "lease arbiter refuses {Reason} of group {Group}: {Explanation}")]
    private static partial void LogRefused(ILogger logger, string group, AcquireReason reason, string explanation);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Warning, Message = "lease arbiter cannot answer {Reason} of group {Group}: {Explanation}")]
    private static partial void LogUnreachable(ILogger logger, string group, AcquireReason reason, string explanation);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Information, Message = "lease arbiter: group {Group} released ({Key} deleted, lease revoked)")]
    private static partial void LogReleased(ILogger logger, string group, string key);

    [LoggerMessage(EventId = 2114, Level = LogLevel.Warning, Message = "lease arbiter: releasing group {Group} failed ({Error}); its lease expires at the store on its own")]
    private static partial void LogReleaseFailed(ILogger logger, string group, string error);
}
