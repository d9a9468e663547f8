namespace HaKit;

/// <summary>Etcd settings (<see cref="ArbiterMode.Etcd"/>).</summary>
public sealed class EtcdArbiterOptions
{
    /// <summary>Client URLs of the etcd cluster (<c>http://10.0.0.5:2379</c>), all http or all https; calls are spread over the members that are connected and one that is down is passed over. <value>Default: none.</value></summary>
    public List<string> Endpoints { get; set; } = [];

    /// <summary>Key prefix; group <c>g</c> of cluster <c>c</c> is owned through <c>{KeyPrefix}/c/groups/g</c>. <value>Default <c>/hakit</c>.</value></summary>
    public string KeyPrefix { get; set; } = "/hakit";

    /// <summary>Timeout of one etcd call. <value>Default 1 s (under a third of the default 5 s lease).</value></summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Checks the etcd settings against the lease they serve (<paramref name="leaseTtl"/>, <c>Arbiter:LeaseTtl</c>).</summary>
    internal void Validate(OptionsPath path, TimeSpan leaseTtl)
    {
        if (Endpoints.Count == 0)
        {
            path.Error(nameof(Endpoints), OptionsPath.Described("none"), "list the etcd client URLs, e.g. http://10.0.0.5:2379");
        }

        for (var i = 0; i < Endpoints.Count; i++)
        {
            if (!Uri.TryCreate(Endpoints[i], UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                path[nameof(Endpoints)][i].Error(Endpoints[i], "must be an absolute http:// or https:// URL, e.g. http://10.0.0.5:2379");
            }
        }

        if (Endpoints.Select(e => Uri.TryCreate(e, UriKind.Absolute, out var u) ? u.Scheme : null).Where(x => x is not null).Distinct().Count() > 1)
        {
            path.Error(nameof(Endpoints), OptionsPath.Described(string.Join(", ", Endpoints)), "must be all http:// or all https:// (one client channel serves them all)");
        }

        if (string.IsNullOrWhiteSpace(KeyPrefix) || !KeyPrefix.StartsWith('/'))
        {
            path.Error(nameof(KeyPrefix), KeyPrefix, "must start with '/', e.g. /hakit");
        }

        path.Positive(nameof(RequestTimeout), RequestTimeout);
        if (RequestTimeout >= leaseTtl / ArbiterOptions.RenewalsPerLease)
        {
            path.Error(nameof(RequestTimeout), RequestTimeout, $"must be less than a third of Arbiter:LeaseTtl ({leaseTtl}) so that a failed renewal can be retried before the lease runs out");
        }
    }
}
