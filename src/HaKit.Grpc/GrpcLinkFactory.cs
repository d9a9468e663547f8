using System.Net;
using HaKit.Transport;
using Microsoft.Extensions.Logging;

namespace HaKit.Grpc;

/// <summary>
/// Builds <see cref="LinkKind.Grpc"/> links: the local node's server listens on its <c>HaKit:Nodes[i]:Addresses:&lt;link&gt;</c>
/// (ip:port), and a stream is dialed to every other node's address on the link. <c>AddHaKit().UseGrpcLinks()</c> registers it; a
/// <see cref="ClusterNode"/> built by hand takes it in <see cref="ClusterNodeServices.LinkFactories"/>.
/// </summary>
public sealed class GrpcLinkFactory : IHeartbeatLinkFactory
{
    /// <inheritdoc />
    public LinkKind Kind => LinkKind.Grpc;

    /// <inheritdoc />
    public IHeartbeatTransport Create(HaKitOptions options, LinkOptions link, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var section = HaKitOptionsValidator.Section;
        var index = options.Links.IndexOf(link);
        var linkKey = $"{section}:Links[{index}]";
        var errors = new List<string>();
        IPEndPoint? bind = null;
        var peers = new List<GrpcPeer>();
        for (var n = 0; n < options.Nodes.Count; n++)
        {
            var node = options.Nodes[n];
            var key = $"{section}:Nodes[{n}]:Addresses:{link.Name}";
            if (!node.Addresses.TryGetValue(link.Name, out var value) || !IPEndPoint.TryParse(value, out var endPoint) || endPoint.Port == 0)
            {
                errors.Add($"{key} = '{value}': expected ip:port, e.g. 127.0.0.1:7411");
                continue;
            }

            if (link.AllowPlaintext && !IPAddress.IsLoopback(endPoint.Address))
            {
                errors.Add($"{key} = '{value}': link {link.Name} allows plaintext HTTP/2 (AllowPlaintext), which is only for loopback addresses; use TLS (CertificateFile, KeyFile, TrustedCaFile) on a network address");
                continue;
            }

            if (string.Equals(node.Name, options.NodeName, StringComparison.Ordinal))
            {
                bind = endPoint;
            }
            else
            {
                peers.Add(new GrpcPeer(node.Name, endPoint));
            }
        }

        if (bind is null && errors.Count == 0)
        {
            errors.Add($"{section}:NodeName = '{options.NodeName}': not one of {section}:Nodes, so link {link.Name} has no local address");
        }

        if (link.Kind != LinkKind.Grpc)
        {
            errors.Add($"{linkKey}:Kind = {link.Kind}: this factory builds Grpc links only");
        }

        if (errors.Count > 0)
        {
            throw new HaKitConfigurationException(errors);
        }

        var security = GrpcLinkSecurity.Load(link, linkKey);
        return new GrpcLinkTransport(link.Name, bind!, peers, options.MaxPacketSize, security, link.ReconnectDelayMax, loggerFactory);
    }
}
