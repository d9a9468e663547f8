using HaKit.Linux;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

// In the namespace of AddHaKit, so that `using HaKit.Hosting;` finds UseLinuxResources() once this package is referenced.
namespace HaKit.Hosting;

/// <summary>The Linux resources for the HaKit node added by <c>AddHaKit()</c>.</summary>
public static class LinuxHaKitBuilderExtensions
{
    /// <summary>
    /// Lets <c>HaKit:Resources</c> declare resources of Type VirtualIp (<see cref="VirtualIp"/>), Ocf (<see cref="OcfResource"/>),
    /// Lsb (<see cref="LsbResource"/>), Systemd (<see cref="SystemdUnit"/>) and Filesystem (<see cref="FilesystemResource"/>), listed by
    /// name in <c>HaKit:Groups:i:Resources</c> (Process entries need no package).
    /// </summary>
    /// <remarks>A VirtualIp created from configuration treats every address of every other node in <c>HaKit:Nodes</c> as a cluster peer
    /// (<see cref="VirtualIpOptions.PeerAddresses"/>): a stale copy of the address on a crashed peer is taken over, not refused.
    /// Calling this twice registers the factory once.</remarks>
    /// <param name="builder">The builder <c>AddHaKit()</c> returned.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHaKitBuilder UseLinuxResources(this IHaKitBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfiguredResourceFactory, LinuxResourceFactory>());
        return builder;
    }
}

/// <summary>Creates the Linux resources declared in configuration.</summary>
internal sealed class LinuxResourceFactory : IConfiguredResourceFactory
{
    public IReadOnlyCollection<ResourceType> Types { get; } = [ResourceType.VirtualIp, ResourceType.Ocf, ResourceType.Lsb, ResourceType.Systemd, ResourceType.Filesystem];

    public IResource Create(ResourceOptions resource, HaKitOptions options, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(options);
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("HaKit.Linux." + resource.Type);
        var time = services.GetService<TimeProvider>();
        return resource.Type switch
        {
            ResourceType.VirtualIp => new VirtualIp(ToVirtualIp(resource, options), logger, time),
            ResourceType.Ocf => new OcfResource(new OcfResourceOptions { Name = resource.Name, Agent = resource.Agent, Parameters = new(resource.Parameters, StringComparer.Ordinal) }, logger),
            ResourceType.Lsb => new LsbResource(new LsbResourceOptions { Name = resource.Name, Script = resource.Script, Arguments = [.. resource.Arguments] }, logger),
            ResourceType.Systemd => new SystemdUnit(new SystemdUnitOptions { Name = resource.Name, Unit = resource.Unit }, logger),
            ResourceType.Filesystem => new FilesystemResource(new FilesystemOptions { Name = resource.Name, Device = resource.Device, Directory = resource.Directory, FsType = resource.FsType, MountOptions = resource.MountOptions, ForceUnmount = resource.ForceUnmount }, logger, time),
            _ => throw new ArgumentException($"type {resource.Type} is not a Linux resource", nameof(resource)),
        };
    }

    /// <summary>The VirtualIp options of an entry; every address of every other node is a peer address.</summary>
    internal static VirtualIpOptions ToVirtualIp(ResourceOptions resource, HaKitOptions options) => new()
    {
        Name = resource.Name,
        Address = resource.Address,
        Interface = resource.Interface,
        Label = resource.Label,
        Broadcast = resource.Broadcast,
        DuplicateCheck = resource.DuplicateCheck,
        AnnounceCount = resource.AnnounceCount,
        AnnounceInterval = resource.AnnounceInterval,
        PeerAddresses = [.. options.Nodes.Where(n => !string.Equals(n.Name, options.NodeName, StringComparison.Ordinal)).SelectMany(n => n.Addresses.Values)],
    };
}
