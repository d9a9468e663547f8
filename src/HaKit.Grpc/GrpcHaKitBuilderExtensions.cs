using HaKit.Grpc;
using HaKit.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

// In the namespace of AddHaKit, so that `using HaKit.Hosting;` finds UseGrpcLinks() once this package is referenced.
namespace HaKit.Hosting;

/// <summary>gRPC heartbeat links (<see cref="LinkKind.Grpc"/>) for the HaKit node added by <c>AddHaKit()</c>.</summary>
public static class GrpcHaKitBuilderExtensions
{
    /// <summary>
    /// Lets the node run links of kind <c>Grpc</c> (<c>HaKit:Links[i]:Kind = Grpc</c>): registers the <see cref="GrpcLinkFactory"/>
    /// as an <see cref="IHeartbeatLinkFactory"/>. Each such link starts a small Kestrel HTTP/2 server inside the node on the local
    /// node's address for the link, and dials one stream to every peer. A configuration with a Grpc link and no call to this
    /// method fails at start-up, naming the link and this fix.
    /// </summary>
    /// <param name="builder">The builder <c>AddHaKit()</c> returned.</param>
    /// <returns><paramref name="builder"/>.</returns>
    public static IHaKitBuilder UseGrpcLinks(this IHaKitBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHeartbeatLinkFactory, GrpcLinkFactory>());
        return builder;
    }
}
