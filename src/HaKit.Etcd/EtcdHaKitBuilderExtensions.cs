using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Etcd;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

// In the namespace of AddHaKit, so that `using HaKit.Hosting;` finds UseEtcd() once this package is referenced.
namespace HaKit.Hosting;

/// <summary>Etcd mode for the HaKit node added by <c>AddHaKit()</c>.</summary>
public static class EtcdHaKitBuilderExtensions
{
    /// <summary>
    /// Lets the node run in Etcd mode: registers an <see cref="EtcdLeaseStore"/> built from <c>HaKit:Arbiter:Etcd</c> (endpoints,
    /// key prefix, request timeout) as the container's <see cref="ILeaseStore"/>, which the node's lease arbiter uses when
    /// <c>HaKit:Arbiter:Mode</c> is <c>Etcd</c>.
    /// </summary>
    /// <remarks>
    /// <para>The mode stays whatever <c>HaKit:Arbiter:Mode</c> says: the store is created (and its endpoints, lease settings and key
    /// prefix logged, event 109) only when the node starts in Etcd mode, so one program can call <c>UseEtcd()</c> and run in any mode.
    /// The etcd keys are validated at start-up with the other options (key, value and fix); the container disposes the store with
    /// the host.</para>
    /// <para>A container that already has an <see cref="ILeaseStore"/> keeps it (calling this twice registers one store).</para>
    /// </remarks>
    /// <param name="builder">The builder <c>AddHaKit()</c> returned.</param>
    /// <param name="configure">Optional: changes the etcd settings after they were bound from configuration (code wins).</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHaKitBuilder UseEtcd(this IHaKitBuilder builder, Action<EtcdArbiterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (configure is not null)
        {
            builder.Configure(o => configure(o.Arbiter.Etcd));
        }

        builder.Services.TryAddSingleton<ILeaseStore>(CreateStore);
        return builder;
    }

    private static EtcdLeaseStore CreateStore(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<HaKitOptions>>().Value;
        var store = new EtcdLeaseStore(options.Arbiter.Etcd);
        var a = options.Arbiter;
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("HaKit.Etcd") ?? NullLogger.Instance;
        EtcdLog.Arbiter(logger, store.Name, a.LeaseTtl.TotalSeconds, a.LeaseDriftMargin.TotalMilliseconds, a.Etcd.RequestTimeout.TotalMilliseconds, $"{a.Etcd.KeyPrefix.TrimEnd('/')}/{options.ClusterName}/groups/");
        return store;
    }
}
