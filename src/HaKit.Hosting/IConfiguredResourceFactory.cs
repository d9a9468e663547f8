using HaKit.Resources;

namespace HaKit.Hosting;

/// <summary>
/// Creates resources declared in configuration (<c>HaKit:Resources</c>) of the types it supports. Register one in the container
/// (a package's builder extension does: HaKit.Linux's <c>UseLinuxResources()</c>); the host asks it for every entry a group lists
/// that no <c>AddResource</c> call registered. HaKit.Hosting itself registers one for <see cref="ResourceType.Process"/>.
/// </summary>
public interface IConfiguredResourceFactory
{
    /// <summary>The resource types this factory creates.</summary>
    IReadOnlyCollection<ResourceType> Types { get; }

    /// <summary>Creates one instance of <paramref name="resource"/> (once per group that lists it, when the node is built).</summary>
    /// <param name="resource">The entry, already validated (<see cref="HaKitOptionsValidator"/>).</param>
    /// <param name="options">The node's options (for the node's own and its peers' addresses).</param>
    /// <param name="services">The container (loggers, the clock).</param>
    /// <returns>The resource; its <see cref="IResource.Name"/> must be <see cref="ResourceOptions.Name"/>.</returns>
    IResource Create(ResourceOptions resource, HaKitOptions options, IServiceProvider services);
}

/// <summary>Creates <see cref="ResourceType.Process"/> entries as <see cref="ProcessResource"/>.</summary>
internal sealed class ProcessResourceFactory : IConfiguredResourceFactory
{
    public IReadOnlyCollection<ResourceType> Types { get; } = [ResourceType.Process];

    public IResource Create(ResourceOptions resource, HaKitOptions options, IServiceProvider services)
    {
        var loggers = (Microsoft.Extensions.Logging.ILoggerFactory?)services.GetService(typeof(Microsoft.Extensions.Logging.ILoggerFactory));
        return new ProcessResource(
            new ProcessResourceOptions
            {
                Name = resource.Name,
                FileName = resource.FileName,
                Arguments = [.. resource.Arguments],
                WorkingDirectory = string.IsNullOrEmpty(resource.WorkingDirectory) ? null : resource.WorkingDirectory,
            },
            loggers?.CreateLogger("HaKit.Resources.Process"),
            (TimeProvider?)services.GetService(typeof(TimeProvider)));
    }
}
