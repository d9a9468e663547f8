using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;
using HaKit.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting;

/// <summary>Registers a HaKit node in a Microsoft.Extensions host.</summary>
public static class HaKitServiceCollectionExtensions
{
    /// <summary>
    /// Adds a HaKit node configured from the host's configuration section <paramref name="sectionName"/>
    /// (<c>appsettings.json</c>, environment variables such as <c>HaKit__NodeName</c>, command-line arguments such as
    /// <c>--HaKit:NodeName=a</c>: whatever the host's configuration holds).
    /// </summary>
    /// <remarks>
    /// <para>When <c>&lt;section&gt;:Preset</c> is set (<c>Lan</c>, <c>Fast</c>, <c>Wan</c>), it supplies every Timing value the section
    /// does not set, so explicit values win. A value that cannot be converted (for example a duration
    /// that is not <c>hh:mm:ss.fff</c>) or an unknown key is a validation error naming the key.</para>
    /// <para>Registers <see cref="ClusterNode"/> as a singleton (subscribe to <see cref="ClusterNode.EventRaised"/>, run
    /// <see cref="ClusterNode.ExecuteAsync"/>), a hosted service that starts the node and hands every owned group to the peer at
    /// host shutdown, and start-up validation (<see cref="OptionsValidationException"/> naming the key, the value and the fix).</para>
    /// <para>With <c>&lt;section&gt;:Arbiter:Mode = Etcd</c> and no <see cref="IHaKitBuilder.UseArbiter{TArbiter}"/>, the node's arbiter is a
    /// <see cref="LeaseStoreArbiter"/> over the <see cref="ILeaseStore"/> registered in the container: add the HaKit.Etcd package and
    /// call <c>UseEtcd()</c> on the returned builder (it registers an etcd store built from <c>&lt;section&gt;:Arbiter:Etcd</c>), or
    /// register an <see cref="ILeaseStore"/> of your own. Without one the host fails at start-up naming the key. This package
    /// itself references no etcd assembly. It serves the admin API (gRPC, <c>&lt;section&gt;:Admin</c>) on an embedded Kestrel: see <see cref="IHaKitAdminEndpoint"/>.</para>
    /// </remarks>
    /// <param name="services">The service collection.</param>
    /// <param name="sectionName">The configuration section. <value>Default <c>HaKit</c>.</value></param>
    /// <returns>A builder to register resources, fence agents and the arbiter.</returns>
    public static IHaKitBuilder AddHaKit(this IServiceCollection services, string sectionName = HaKitOptionsValidator.Section)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(sectionName);
        var builder = AddCore(services, sectionName);
        services.AddOptions<HaKitOptions>().Configure<IConfiguration>((options, configuration) =>
            HaKitOptionsBinder.Bind(options, configuration, sectionName));
        return builder;
    }

    /// <summary>Adds a HaKit node configured in code only (no configuration binding). The options are still validated at start-up.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (set <see cref="HaKitOptions.Preset"/> to start from a preset).</param>
    /// <returns>A builder to register resources, fence agents and the arbiter.</returns>
    public static IHaKitBuilder AddHaKit(this IServiceCollection services, Action<HaKitOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var builder = AddCore(services, HaKitOptionsValidator.Section);
        services.Configure(configure);
        return builder;
    }

    private static HaKitBuilder AddCore(IServiceCollection services, string sectionName)
    {
        if (services.Any(d => d.ServiceType == typeof(HaKitRegistry)))
        {
            throw new InvalidOperationException("AddHaKit was called twice; one host runs one HaKit node. Register resources on the builder returned by the first call.");
        }

        var registry = new HaKitRegistry(sectionName);
        services.AddSingleton(registry);
        services.AddSingleton<ResourceCatalog>();
        services.AddSingleton<IConfiguredResourceFactory, ProcessResourceFactory>();
        services.AddSingleton<NodeLifetime>();
        services.AddOptions<HaKitOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<HaKitOptions>, HaKitOptionsValidation>();
        services.AddSingleton(CreateNode);
        // The admin API starts before the node (its event journal misses nothing) and stops after it (the handover can be watched).
        services.AddSingleton<Admin.AdminServer>();
        services.AddSingleton<IHaKitAdminEndpoint>(sp => sp.GetRequiredService<Admin.AdminServer>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<Admin.AdminServer>());
        services.AddSingleton<HaKitHostedService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<HaKitHostedService>());
        return new HaKitBuilder(services, registry);
    }

    private static ClusterNode CreateNode(IServiceProvider sp)
    {
        var options = sp.GetRequiredService<IOptions<HaKitOptions>>().Value;
        var registry = sp.GetRequiredService<HaKitRegistry>();
        var catalog = sp.GetRequiredService<ResourceCatalog>();
        var resources = catalog.Resolve(options);
        if (resources.Errors.Count > 0)
        {
            throw new HaKitConfigurationException(resources.Errors);
        }

        var loggerFactory = sp.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        var arbiter = registry.ArbiterType is { } arbiterType ? (IArbiter)ActivatorUtilities.GetServiceOrCreateInstance(sp, arbiterType) : null;
        ILeaseStore? leaseStore = null;
        if (arbiter is null && options.Arbiter.Mode == ArbiterMode.Etcd)
        {
            // Etcd mode: the store UseEtcd() (HaKit.Etcd) or the application registered; resolved only now, so a host in
            // another mode never creates it. Start-up validation reports a missing one first; this is the backstop.
            leaseStore = sp.GetService<ILeaseStore>() ?? throw new HaKitConfigurationException([HaKitOptionsValidation.NoLeaseStore(registry.SectionName)]);
        }

        var services = new ClusterNodeServices
        {
            TimeProvider = sp.GetService<TimeProvider>() ?? TimeProvider.System,
            LoggerFactory = loggerFactory,
            MeterFactory = sp.GetService<System.Diagnostics.Metrics.IMeterFactory>(),
            Arbiter = arbiter,
            LeaseStore = leaseStore,
            FenceAgents = registry.FenceAgentTypes.Select(t => (IFenceAgent)ActivatorUtilities.GetServiceOrCreateInstance(sp, t)).ToArray(),
            LinkFactories = sp.GetServices<HaKit.Transport.IHeartbeatLinkFactory>().ToArray(),
        };
        return new ClusterNode(options, resources.ByGroup, services);
    }
}

/// <summary>Configures the HaKit node added by <see cref="HaKitServiceCollectionExtensions.AddHaKit(IServiceCollection, string)"/>.</summary>
public interface IHaKitBuilder
{
    /// <summary>The service collection the node is registered in.</summary>
    IServiceCollection Services { get; }

    /// <summary>Changes the options after they were bound from configuration (code wins over configuration).</summary>
    /// <param name="configure">The change.</param>
    /// <returns>This builder.</returns>
    IHaKitBuilder Configure(Action<HaKitOptions> configure);

    /// <summary>
    /// Adds a resource to <paramref name="group"/>, resolved from DI (the registered service, or created with
    /// <see cref="ActivatorUtilities"/> so its constructor gets its dependencies). Its name is the instance's <see cref="IResource.Name"/>.
    /// Start order: <c>GroupOptions.Resources</c> when it lists names, otherwise registration order.
    /// </summary>
    /// <typeparam name="TResource">The resource type.</typeparam>
    /// <param name="group">The group name (one of <c>HaKit:Groups</c>).</param>
    /// <returns>This builder.</returns>
    IHaKitBuilder AddResource<TResource>(string group)
        where TResource : class, IResource;

    /// <summary>Adds a resource to <paramref name="group"/>, created by <paramref name="factory"/> once, when the node is built.</summary>
    /// <param name="group">The group name (one of <c>HaKit:Groups</c>).</param>
    /// <param name="factory">Creates the resource.</param>
    /// <returns>This builder.</returns>
    IHaKitBuilder AddResource(string group, Func<IServiceProvider, IResource> factory);

    /// <summary>Adds a fence agent (resolved from DI or created with <see cref="ActivatorUtilities"/>). Agents are fencing levels, tried in registration order, after the agents configured in <c>HaKit:Fencing:Agents</c>.</summary>
    /// <typeparam name="TAgent">The agent type.</typeparam>
    /// <returns>This builder.</returns>
    IHaKitBuilder AddFenceAgent<TAgent>()
        where TAgent : class, IFenceAgent;

    /// <summary>Replaces the default arbiter (TwoNode with the configured ping targets) by <typeparamref name="TArbiter"/> (resolved from DI or created with <see cref="ActivatorUtilities"/>).</summary>
    /// <typeparam name="TArbiter">The arbiter type.</typeparam>
    /// <returns>This builder.</returns>
    IHaKitBuilder UseArbiter<TArbiter>()
        where TArbiter : class, IArbiter;
}

/// <summary>The builder returned by <c>AddHaKit</c>.</summary>
internal sealed class HaKitBuilder(IServiceCollection services, HaKitRegistry registry) : IHaKitBuilder
{
    public IServiceCollection Services { get; } = services;

    public IHaKitBuilder Configure(Action<HaKitOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }

    public IHaKitBuilder AddResource<TResource>(string group)
        where TResource : class, IResource
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(group);
        registry.Resources.Add(new ResourceRegistration(group, typeof(TResource).Name, sp => ActivatorUtilities.GetServiceOrCreateInstance<TResource>(sp)));
        return this;
    }

    public IHaKitBuilder AddResource(string group, Func<IServiceProvider, IResource> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(group);
        ArgumentNullException.ThrowIfNull(factory);
        registry.Resources.Add(new ResourceRegistration(group, "factory", factory));
        return this;
    }

    public IHaKitBuilder AddFenceAgent<TAgent>()
        where TAgent : class, IFenceAgent
    {
        registry.FenceAgentTypes.Add(typeof(TAgent));
        return this;
    }

    public IHaKitBuilder UseArbiter<TArbiter>()
        where TArbiter : class, IArbiter
    {
        registry.ArbiterType = typeof(TArbiter);
        return this;
    }
}

/// <summary>What the builder collected: resources per group, fence agents, the arbiter.</summary>
internal sealed class HaKitRegistry(string sectionName)
{
    public string SectionName { get; } = sectionName;

    public List<ResourceRegistration> Resources { get; } = [];

    public List<Type> FenceAgentTypes { get; } = [];

    public Type? ArbiterType { get; set; }
}

/// <summary>One <c>AddResource</c> call.</summary>
/// <param name="Group">The group.</param>
/// <param name="Description">What was registered (type name or <c>factory</c>), for error messages.</param>
/// <param name="Factory">Creates the instance.</param>
internal sealed record ResourceRegistration(string Group, string Description, Func<IServiceProvider, IResource> Factory);
