using HaKit.Replication;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

// In the namespace of AddHaKit, so that `using HaKit.Hosting;` finds UseReplication() once this package is referenced.
namespace HaKit.Hosting;

/// <summary>Replication of application state for the HaKit node added by <c>AddHaKit()</c>.</summary>
public static class ReplicationHaKitBuilderExtensions
{
    /// <summary>
    /// Replicates the groups <paramref name="configure"/> registers (<see cref="IReplicationBuilder.AddGroup"/>,
    /// <see cref="IReplicationBuilder.AddKvStore"/>), with the settings of <c>HaKit:Replication</c> (each node's replication address
    /// under <c>Addresses</c>, each group's mode, directory, <c>DegradeAfter</c>, <c>MaxLagOnFailover</c>... under
    /// <c>Groups:&lt;group&gt;</c>), validated at start-up (key, value and fix).
    /// </summary>
    /// <remarks>
    /// At host start, before the node starts, every group's log is opened (recovered from its directory) and the replication
    /// transport binds this node's address and dials the peer; at host stop, after the node handed its groups over, they are closed.
    /// Each group gets a <see cref="ReplicationResource"/> named <c>replication</c>: list
    /// it first in the group's <c>Resources</c>. The logs are reachable through <see cref="ReplicatedGroups"/> (a singleton).
    /// </remarks>
    /// <param name="builder">The builder <c>AddHaKit()</c> returned.</param>
    /// <param name="configure">Registers the replicated groups.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHaKitBuilder UseReplication(this IHaKitBuilder builder, Action<IReplicationBuilder> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(ReplicationRegistry)))
        {
            throw new InvalidOperationException("UseReplication was called twice; register every replicated group in one call.");
        }

        var registry = new ReplicationRegistry();
        services.AddSingleton(registry);
        services.AddSingleton<ReplicatedGroups>();
        services.AddSingleton<HaKit.Hosting.Admin.IAdminStatusSource, ReplicationAdminStatus>();
        services.AddOptions<ReplicationHostOptions>()
            .Configure<IConfiguration, HaKitRegistry>((options, configuration, hakit) =>
                options.BindErrors = HaKitOptionsBinder.BindSection(options, configuration.GetSection($"{hakit.SectionName}:Replication")))
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ReplicationHostOptions>, ReplicationOptionsValidation>();
        services.AddSingleton<ReplicationHostedService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<ReplicationHostedService>());
        configure(new ReplicationBuilder(builder, registry));
        return builder;
    }

    /// <summary>The name of each replicated group's <see cref="ReplicationResource"/>.</summary>
    internal const string ResourceName = "replication";

    private sealed class ReplicationBuilder(IHaKitBuilder hakit, ReplicationRegistry registry) : IReplicationBuilder
    {
        public IServiceCollection Services => hakit.Services;

        public IReplicationBuilder AddGroup(string group, Func<IServiceProvider, IReplicatedStateMachine> stateMachine, Action<ReplicationOptions>? configure = null)
        {
            ArgumentNullException.ThrowIfNull(stateMachine);
            return Add(group, stateMachine, configure, null);
        }

        public IReplicationBuilder AddKvStore(string group, Action<ReplicationOptions>? configure = null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(group);
            Services.AddKeyedSingleton(group, (_, _) => ReplicatedKvStore.CreateHosted());
            return Add(
                group,
                sp => sp.GetRequiredKeyedService<ReplicatedKvStore>(group).StateMachine,
                configure,
                (sp, log) => sp.GetRequiredKeyedService<ReplicatedKvStore>(group).AttachHosted(log));
        }

        private ReplicationBuilder Add(string group, Func<IServiceProvider, IReplicatedStateMachine> stateMachine, Action<ReplicationOptions>? configure, Action<IServiceProvider, ReplicatedLog>? opened)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(group);
            if (registry.Groups.Any(r => string.Equals(r.Group, group, StringComparison.Ordinal)))
            {
                throw new InvalidOperationException($"group {group} is already replicated; register each group once");
            }

            registry.Groups.Add(new ReplicationRegistration(group, stateMachine, configure, opened));
            // Created when HaKit's options are validated: it must not read the replication options (their validation reads HaKit's).
            hakit.AddResource(group, sp => new HostedReplicationResource(sp.GetRequiredService<ReplicatedGroups>(), group, ResourceName));
            return this;
        }
    }
}
