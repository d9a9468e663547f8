using System.Globalization;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using HaKit.Arbitration;
using HaKit.Ownership;

namespace HaKit.Etcd;

/// <summary>
/// <see cref="ILeaseStore"/> over an etcd v3 cluster (etcd 3.4 and later), through the dotnet-etcd client
/// (Grpc.Net.Client). Every primitive is one etcd request: <c>LeaseGrant</c>, one <c>LeaseKeepAlive</c> round,
/// <c>LeaseRevoke</c>, a <c>Txn</c> for create-if-absent and delete-if-lease, and <c>Range</c>.
/// </summary>
/// <remarks>
/// <para>Several endpoints form one channel that spreads calls over the endpoints that are connected (round robin,
/// dotnet-etcd's default) and passes over one that is down; any member of the cluster answers every request.</para>
/// <para>Every call runs under <c>RequestTimeout</c> (a gRPC deadline, on the real clock) and the caller's token. A gRPC
/// failure (unavailable, deadline exceeded, connection refused, ...) becomes <see cref="LeaseStoreUnavailableException"/>
/// naming the endpoints; the caller's cancellation stays <see cref="OperationCanceledException"/>. Thread-safe.</para>
/// </remarks>
public sealed class EtcdLeaseStore : ILeaseStore, IDisposable
{
    /// <summary>The longest the channel waits between two attempts to reconnect to an endpoint that is down.</summary>
    /// <remarks>gRPC's default grows to 2 minutes; an arbiter must notice a restarted etcd within a lease.</remarks>
    public static readonly TimeSpan MaxReconnectBackoff = TimeSpan.FromSeconds(1);

    private readonly EtcdClient _client;
    private readonly TimeSpan _requestTimeout;
    private readonly string _endpoints;
    private int _disposed;

    /// <summary>Creates a store for the endpoints and timeout of <paramref name="options"/>.</summary>
    /// <param name="options">The etcd settings (<c>HaKit:Arbiter:Etcd</c>).</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">See <see cref="EtcdLeaseStore(IEnumerable{string}, TimeSpan)"/>.</exception>
    public EtcdLeaseStore(EtcdArbiterOptions options)
        : this((options ?? throw new ArgumentNullException(nameof(options))).Endpoints, options.RequestTimeout)
    {
    }

    /// <summary>Creates a store.</summary>
    /// <param name="endpoints">Client URLs of the etcd cluster (<c>http://10.0.0.5:2379</c>), all <c>http</c> or all <c>https</c>.</param>
    /// <param name="requestTimeout">The deadline of one etcd call.</param>
    /// <exception cref="ArgumentNullException"><paramref name="endpoints"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">No endpoint, an endpoint that is not an absolute http(s) URL, or http and https mixed.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="requestTimeout"/> is not positive.</exception>
    public EtcdLeaseStore(IEnumerable<string> endpoints, TimeSpan requestTimeout)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(requestTimeout, TimeSpan.Zero);
        var uris = new List<Uri>();
        foreach (var endpoint in endpoints)
        {
            if (!Uri.TryCreate(endpoint?.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"etcd endpoint '{endpoint}' must be an absolute http:// or https:// URL, e.g. http://10.0.0.5:2379", nameof(endpoints));
            }

            uris.Add(uri);
        }

        if (uris.Count == 0)
        {
            throw new ArgumentException("at least one etcd endpoint is needed, e.g. http://10.0.0.5:2379", nameof(endpoints));
        }

        var secure = uris[0].Scheme == Uri.UriSchemeHttps;
        if (uris.Exists(u => (u.Scheme == Uri.UriSchemeHttps) != secure))
        {
            throw new ArgumentException("etcd endpoints must be all http:// or all https://", nameof(endpoints));
        }

        Endpoints = uris.Select(u => u.GetLeftPart(UriPartial.Authority)).ToArray();
        _endpoints = string.Join(",", Endpoints);
        _requestTimeout = requestTimeout;

        // dotnet-etcd takes the endpoints as one comma-separated string and balances over them (round robin).
        _client = new EtcdClient(_endpoints, configureChannelOptions: o =>
        {
            if (!secure)
            {
                o.Credentials = ChannelCredentials.Insecure;
            }

            // No retries inside a call: the arbiter asks again at its own pace, and a refused connection is reported
            // as such at once instead of as a timeout after dotnet-etcd's backoff (1 s and more) ate the deadline.
            o.ServiceConfig?.MethodConfigs.Clear();
            o.MaxReconnectBackoff = MaxReconnectBackoff;
            o.InitialReconnectBackoff = TimeSpan.FromMilliseconds(100);
        });
    }

    /// <summary>The endpoints, normalised to <c>scheme://host:port</c>.</summary>
    public IReadOnlyList<string> Endpoints { get; }

    /// <summary>The deadline of one etcd call.</summary>
    public TimeSpan RequestTimeout => _requestTimeout;

    /// <inheritdoc />
    public string Name => "etcd " + _endpoints;

    /// <inheritdoc />
    public ValueTask<(long LeaseId, TimeSpan Ttl)> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ttl, TimeSpan.Zero);
        var seconds = (long)Math.Ceiling(ttl.TotalSeconds);
        return CallAsync("LeaseGrant", async (deadline, token) =>
        {
            var response = await _client.LeaseGrantAsync(new LeaseGrantRequest { TTL = seconds }, deadline: deadline, cancellationToken: token).ConfigureAwait(false);
            if (!string.IsNullOrEmpty(response.Error) || response.ID == 0 || response.TTL <= 0)
            {
                throw new LeaseStoreUnavailableException(string.Create(CultureInfo.InvariantCulture, $"{Name}: LeaseGrant({seconds} s) failed: {(string.IsNullOrEmpty(response.Error) ? $"lease {response.ID:x}, ttl {response.TTL}" : response.Error)}"));
            }

            return (response.ID, TimeSpan.FromSeconds(response.TTL));
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<TimeSpan?> KeepAliveAsync(long leaseId, CancellationToken cancellationToken) =>
        CallAsync<TimeSpan?>("LeaseKeepAlive", async (deadline, token) =>
        {
            // LeaseKeepAlive is a bidirectional stream: one request, one answer, then close.
            using var call = _client.GetConnection().LeaseClient.LeaseKeepAlive(deadline: deadline, cancellationToken: token);
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leaseId }, token).ConfigureAwait(false);
            if (!await call.ResponseStream.MoveNext(token).ConfigureAwait(false))
            {
                throw new LeaseStoreUnavailableException(string.Create(CultureInfo.InvariantCulture, $"{Name}: LeaseKeepAlive({leaseId:x}) closed without an answer"));
            }

            var ttl = call.ResponseStream.Current.TTL;
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            return ttl > 0 ? TimeSpan.FromSeconds(ttl) : null;
        }, cancellationToken);

    /// <inheritdoc />
    public async ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken) =>
        await CallVoidAsync("LeaseRevoke", async (deadline, token) =>
        {
            try
            {
                await _client.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, deadline: deadline, cancellationToken: token).ConfigureAwait(false);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
            {
                // "etcdserver: requested lease not found": expired or revoked already.
            }

            return true;
        }, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public ValueTask<LeaseClaim> PutIfAbsentAsync(string key, string value, long leaseId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        var k = ByteString.CopyFromUtf8(key);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = k, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 });
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = k, Value = ByteString.CopyFromUtf8(value), Lease = leaseId } });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = k } });
        return CallAsync("Txn(put if absent)", async (deadline, token) =>
        {
            var response = await _client.TransactionAsync(txn, deadline: deadline, cancellationToken: token).ConfigureAwait(false);
            if (response.Succeeded)
            {
                // The key was created by this transaction: its create revision is the transaction's revision.
                return new LeaseClaim(true, new LeaseHolder(value, leaseId, response.Header.Revision));
            }

            var holder = response.Responses.Count > 0 ? ToHolder(response.Responses[0].ResponseRange) : null;
            if (holder is null)
            {
                throw new LeaseStoreUnavailableException($"{Name}: Txn(put if absent) on {key} found the key present but the read returned nothing");
            }

            // A retried request whose first attempt was applied finds the key bound to this very lease: that is a creation.
            return new LeaseClaim(holder.LeaseId == leaseId && holder.Value == value, holder);
        }, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<LeaseHolder?> GetAsync(string key, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return CallAsync("Range", async (deadline, token) =>
            ToHolder(await _client.GetAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, deadline: deadline, cancellationToken: token).ConfigureAwait(false)),
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteIfLeaseAsync(string key, long leaseId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var k = ByteString.CopyFromUtf8(key);
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare { Key = k, Target = Compare.Types.CompareTarget.Lease, Result = Compare.Types.CompareResult.Equal, Lease = leaseId });
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = k } });
        return CallAsync("Txn(delete if lease)", async (deadline, token) =>
        {
            var response = await _client.TransactionAsync(txn, deadline: deadline, cancellationToken: token).ConfigureAwait(false);
            return response.Succeeded && response.Responses.Count > 0 && response.Responses[0].ResponseDeleteRange.Deleted > 0;
        }, cancellationToken);
    }

    /// <summary>One <c>Txn</c>: if <paramref name="holderKey"/>'s value is <paramref name="holderValue"/> (compare on value; an absent
    /// key fails the compare), put <paramref name="key"/> without a lease.</summary>
    /// <inheritdoc />
    public ValueTask<bool> PutIfHolderAsync(string holderKey, string holderValue, string key, string value, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(holderKey);
        ArgumentException.ThrowIfNullOrEmpty(holderValue);
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        var txn = HolderGuard(holderKey, holderValue);
        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) } });
        return CallAsync("Txn(put if holder)", async (deadline, token) =>
            (await _client.TransactionAsync(txn, deadline: deadline, cancellationToken: token).ConfigureAwait(false)).Succeeded, cancellationToken);
    }

    /// <summary>One <c>Txn</c>: if <paramref name="holderKey"/>'s value is <paramref name="holderValue"/>, delete <paramref name="key"/>.</summary>
    /// <inheritdoc />
    public ValueTask<bool> DeleteIfHolderAsync(string holderKey, string holderValue, string key, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(holderKey);
        ArgumentException.ThrowIfNullOrEmpty(holderValue);
        ArgumentException.ThrowIfNullOrEmpty(key);
        var txn = HolderGuard(holderKey, holderValue);
        txn.Success.Add(new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(key) } });
        return CallAsync("Txn(delete if holder)", async (deadline, token) =>
            (await _client.TransactionAsync(txn, deadline: deadline, cancellationToken: token).ConfigureAwait(false)).Succeeded, cancellationToken);
    }

    private static TxnRequest HolderGuard(string holderKey, string holderValue)
    {
        var txn = new TxnRequest();
        txn.Compare.Add(new Compare
        {
            Key = ByteString.CopyFromUtf8(holderKey), Target = Compare.Types.CompareTarget.Value, Result = Compare.Types.CompareResult.Equal,
            Value = ByteString.CopyFromUtf8(holderValue),
        });
        return txn;
    }

    /// <summary>
    /// One etcd <c>Watch</c> stream on the prefix range, deletions only (<c>NOPUT</c>); reopened 500 ms after it fails or is
    /// cancelled by etcd (compaction), until <paramref name="cancellationToken"/> is cancelled. A deletion missed while the stream
    /// was down only costs the waiting node its next retry interval.
    /// </summary>
    /// <inheritdoc />
    public async Task WatchDeletionsAsync(string prefix, Action<string> onDeleted, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentNullException.ThrowIfNull(onDeleted);
        var key = ByteString.CopyFromUtf8(prefix);
        var end = key.ToByteArray();
        end[^1]++; // etcd's prefix range end: the prefix with its last byte + 1 (prefixes here end in '/')
        var create = new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = key, RangeEnd = ByteString.CopyFrom(end), Filters = { WatchCreateRequest.Types.FilterType.Noput } },
        };
        while (!cancellationToken.IsCancellationRequested && Volatile.Read(ref _disposed) == 0)
        {
            try
            {
                // A stream opened while etcd goes away can wait forever for its first answer: give it two request time-outs to
                // be created, then open another.
                using var startup = new CancellationTokenSource(_requestTimeout * 2, TimeProvider.System);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, startup.Token);
                using var call = _client.GetConnection().WatchClient.Watch(cancellationToken: linked.Token);
                await call.RequestStream.WriteAsync(create, linked.Token).ConfigureAwait(false);
                while (await call.ResponseStream.MoveNext(linked.Token).ConfigureAwait(false))
                {
                    var response = call.ResponseStream.Current;
                    if (response.Created)
                    {
                        startup.CancelAfter(Timeout.InfiniteTimeSpan);
                    }

                    foreach (var e in response.Events)
                    {
                        if (e.Type == Mvccpb.Event.Types.EventType.Delete)
                        {
                            onDeleted(e.Kv.Key.ToStringUtf8());
                        }
                    }

                    if (response.Canceled)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is OperationCanceledException or RpcException)
            {
                return;
            }
            catch (Exception ex) when (ex is RpcException or ObjectDisposedException or InvalidOperationException or IOException or OperationCanceledException)
            {
                // etcd unreachable, the channel closing, or a stream that was never created: open the stream again shortly.
            }

            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, cancellationToken).ConfigureAwait(false); // real time, like the gRPC deadlines
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Closes the channel to etcd.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _client.Dispose();
        }
    }

    /// <inheritdoc />
    public override string ToString() => Name;

    private static LeaseHolder? ToHolder(RangeResponse? range) =>
        range is { Kvs.Count: > 0 } ? new LeaseHolder(range.Kvs[0].Value.ToStringUtf8(), range.Kvs[0].Lease, range.Kvs[0].CreateRevision) : null;

    private async ValueTask<T> CallAsync<T>(string what, Func<DateTime, CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();

        // The deadline bounds the call at etcd and in the channel (including its retries of an unavailable endpoint);
        // the timer bounds what a deadline does not (a stream's reads, a connection attempt that hangs).
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_requestTimeout);
        var deadline = TimeProvider.System.GetUtcNow().UtcDateTime + _requestTimeout;
        try
        {
            return await call(deadline, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (RpcException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (LeaseStoreUnavailableException)
        {
            throw;
        }
        catch (OperationCanceledException ex)
        {
            throw new LeaseStoreUnavailableException(Describe(what, "no answer within the request timeout"), ex);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.DeadlineExceeded)
        {
            throw new LeaseStoreUnavailableException(Describe(what, "no answer within the request timeout" + Detail(ex)), ex);
        }
        catch (RpcException ex)
        {
            throw new LeaseStoreUnavailableException(Describe(what, $"{ex.StatusCode}{Detail(ex)}"), ex);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or InvalidOperationException)
        {
            throw new LeaseStoreUnavailableException(Describe(what, ex.Message), ex);
        }
    }

    private async ValueTask CallVoidAsync(string what, Func<DateTime, CancellationToken, Task<bool>> call, CancellationToken cancellationToken) =>
        await CallAsync<bool>(what, call, cancellationToken).ConfigureAwait(false);

    private string Describe(string what, string why) =>
        string.Create(CultureInfo.InvariantCulture, $"{Name}: {what} failed: {why} (request timeout {_requestTimeout.TotalMilliseconds:0} ms)");

    private static string Detail(RpcException ex)
    {
        var detail = ex.Status.Detail;
        if (ex.Status.DebugException is { } inner)
        {
            detail = string.IsNullOrEmpty(detail) ? inner.Message : $"{detail} ({inner.Message})";
        }

        return string.IsNullOrEmpty(detail) ? string.Empty : ": " + detail;
    }
}
