using HaKit.Arbitration;
using HaKit.Ownership;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting;

/// <summary>
/// Start-up validation of <see cref="HaKitOptions"/>: values that did not bind, <see cref="HaKitOptionsValidator.Validate(HaKitOptions, string)"/> (keys named under the bound section),
/// the match between configured groups and registered resources, and (Etcd mode) that a lease store is registered.
/// Every failure names the key, the value and the fix.
/// </summary>
internal sealed class HaKitOptionsValidation(HaKitRegistry registry, ResourceCatalog catalog, IServiceProvider services) : IValidateOptions<HaKitOptions>
{
    /// <summary>The error for Etcd mode without an <see cref="ILeaseStore"/> in the container (and no arbiter of the application's own).</summary>
    /// <param name="sectionName">The configuration section the options were bound from.</param>
    public static string NoLeaseStore(string sectionName) =>
        $"{sectionName}:Arbiter:Mode = {ArbiterMode.Etcd}: no lease store is registered; add the HaKit.Etcd package and call .UseEtcd() on AddHaKit() (or register an ILeaseStore)";

    /// <summary>The error for a Grpc link without the HaKit.Grpc package's factory (no <c>UseGrpcLinks()</c>).</summary>
    /// <param name="sectionName">The configuration section the options were bound from.</param>
    /// <param name="index">The link's index.</param>
    /// <param name="link">The link.</param>
    public static string NoLinkFactory(string sectionName, int index, LinkOptions link) =>
        $"{sectionName}:Links[{index}]:Kind = {link.Kind}: link {link.Name} needs the HaKit.Grpc package; reference it and call .UseGrpcLinks() on AddHaKit()";

    public ValidateOptionsResult Validate(string? name, HaKitOptions options)
    {
        if (name != Options.DefaultName)
        {
            return ValidateOptionsResult.Skip;
        }

        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>(HaKitOptionsBinder.ErrorsOf(options));
        failures.AddRange(HaKitOptionsValidator.Validate(options, registry.SectionName));
        failures.AddRange(catalog.Resolve(options).Errors);
        if (options.Admin.SocketPathProblem(options, registry.SectionName) is { } socket)
        {
            failures.Add(socket); // only the hosting layer serves the admin socket
        }

        if (options.Arbiter.Mode == ArbiterMode.Etcd && registry.ArbiterType is null &&
            services.GetService<IServiceProviderIsService>() is { } isService && !isService.IsService(typeof(ILeaseStore)))
        {
            failures.Add(NoLeaseStore(registry.SectionName));
        }

        for (var i = 0; i < options.Links.Count; i++)
        {
            var link = options.Links[i];
            if (link.Kind == LinkKind.Grpc && !services.GetServices<HaKit.Transport.IHeartbeatLinkFactory>().Any(f => f.Kind == link.Kind))
            {
                failures.Add(NoLinkFactory(registry.SectionName, i, link));
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
