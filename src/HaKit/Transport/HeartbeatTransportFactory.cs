using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace HaKit.Transport;

/// <summary>Builds the local node's heartbeat links from <see cref="HaKitOptions"/>.</summary>
internal static class HeartbeatTransportFactory
{
    private const string Section = "HaKit";

    /// <summary>
    /// Creates one transport per <see cref="HaKitOptions.Links"/> entry for the node named <see cref="HaKitOptions.NodeName"/>.
    /// The transports are not started (no socket exists yet).
    /// </summary>
    /// <param name="options">The cluster configuration.</param>
    /// <param name="loggerFactory">Optional logger factory for the transports.</param>
    /// <returns>The local node's transports, in the order of <see cref="HaKitOptions.Links"/>.</returns>
    /// <remarks>
    /// <see cref="LinkKind.Udp"/>: binds the local node's <c>ip:port</c> and sends to every other node's <c>ip:port</c> on the link.
    /// <see cref="LinkKind.Multicast"/>: joins <see cref="LinkOptions.Group"/>:<see cref="LinkOptions.Port"/> on the local node's interface address.
    /// </remarks>
    /// <exception cref="ArgumentException">A value is missing or malformed; the message names the configuration key (for example <c>HaKit:Nodes[1]:Addresses:lan0</c>), the value and the expected form.</exception>
    /// <param name="factories">Transports for other link kinds (<see cref="LinkKind.Grpc"/>), registered by packages.</param>
    public static IReadOnlyList<IHeartbeatTransport> Create(HaKitOptions options, ILoggerFactory? loggerFactory = null, IReadOnlyList<IHeartbeatLinkFactory>? factories = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxPacketSize is < 256 or > 65507)
        {
            throw Bad($"{Section}:MaxPacketSize", options.MaxPacketSize.ToString(System.Globalization.CultureInfo.InvariantCulture), "a number of bytes from 256 to 65507, e.g. 1400");
        }

        int local = options.Nodes.FindIndex(n => string.Equals(n.Name, options.NodeName, StringComparison.Ordinal));
        if (local < 0)
        {
            throw Bad($"{Section}:NodeName", options.NodeName, "the name of one of HaKit:Nodes, e.g. " + (options.Nodes.Count > 0 ? options.Nodes[0].Name : "node-a"));
        }

        if (options.Links.Count == 0)
        {
            throw new ArgumentException($"{Section}:Links is empty; expected at least one heartbeat link, e.g. {{ \"Name\": \"lan0\", \"Kind\": \"Udp\" }}", nameof(options));
        }

        var transports = new List<IHeartbeatTransport>(options.Links.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int l = 0; l < options.Links.Count; l++)
        {
            LinkOptions link = options.Links[l];
            string linkKey = $"{Section}:Links[{l}]";
            if (string.IsNullOrWhiteSpace(link.Name))
            {
                throw Bad($"{linkKey}:Name", link.Name, "a non-empty link name, e.g. lan0");
            }

            if (!names.Add(link.Name))
            {
                throw Bad($"{linkKey}:Name", link.Name, "a link name not used by another link");
            }

            transports.Add(link.Kind switch
            {
                LinkKind.Udp => CreateUnicast(options, local, link, loggerFactory),
                LinkKind.Multicast => CreateMulticast(options, local, link, linkKey, loggerFactory),
                _ when factories?.FirstOrDefault(f => f.Kind == link.Kind) is { } factory =>
                    factory.Create(options, link, loggerFactory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance),
                LinkKind.Grpc => throw new HaKitConfigurationException([NoLinkFactory(Section, l, link)]),
                _ => throw Bad($"{linkKey}:Kind", link.Kind.ToString(), "Udp, Multicast or Grpc"),
            });
        }

        return transports;
    }

    /// <summary>The error for a link whose kind needs a package that was not wired in (a Grpc link without <c>UseGrpcLinks()</c>).</summary>
    /// <param name="section">The configuration section.</param>
    /// <param name="index">The link's index in <c>Links</c>.</param>
    /// <param name="link">The link.</param>
    public static string NoLinkFactory(string section, int index, LinkOptions link) =>
        $"{section}:Links[{index}]:Kind = {link.Kind}: link {link.Name} needs the HaKit.Grpc package; reference it and call .UseGrpcLinks() on AddHaKit() (or pass its factory in ClusterNodeServices.LinkFactories)";

    private static UdpUnicastTransport CreateUnicast(HaKitOptions options, int local, LinkOptions link, ILoggerFactory? loggerFactory)
    {
        IPEndPoint bind = ParseEndPoint(options, local, link.Name);
        var peers = new List<IPEndPoint>(options.Nodes.Count - 1);
        for (int n = 0; n < options.Nodes.Count; n++)
        {
            if (n != local)
            {
                peers.Add(ParseEndPoint(options, n, link.Name));
            }
        }

        ILogger? logger = loggerFactory?.CreateLogger<UdpUnicastTransport>();
        try
        {
            return new UdpUnicastTransport(link.Name, bind, peers, options.MaxPacketSize, logger);
        }
        catch (ArgumentException ex)
        {
            throw new ArgumentException($"{Section}:Nodes: addresses of link {link.Name} do not fit together: {ex.Message}", nameof(options), ex);
        }
    }

    private static UdpMulticastTransport CreateMulticast(HaKitOptions options, int local, LinkOptions link, string linkKey, ILoggerFactory? loggerFactory)
    {
        if (!IPAddress.TryParse(link.Group, out IPAddress? group) || !UdpMulticastTransport.IsIPv4Multicast(group))
        {
            throw Bad($"{linkKey}:Group", link.Group, "an IPv4 multicast address (224.0.0.0/4), e.g. 239.255.42.1");
        }

        if (link.Port is < 1 or > 65535)
        {
            throw Bad($"{linkKey}:Port", link.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "a UDP port from 1 to 65535, e.g. 7402");
        }

        if (link.Ttl is < 1 or > 255)
        {
            throw Bad($"{linkKey}:Ttl", link.Ttl.ToString(System.Globalization.CultureInfo.InvariantCulture), "a TTL from 1 to 255 (1 stays on the local segment)");
        }

        string key = AddressKey(local, link.Name);
        string? value = Address(options.Nodes[local], link.Name);
        if (!IPAddress.TryParse(value, out IPAddress? localInterface) || localInterface.AddressFamily != AddressFamily.InterNetwork)
        {
            throw Bad(key, value, "the IPv4 address of the local interface to join the group on, e.g. 192.168.1.10");
        }

        // Every node's interface address on this link: junk from any other source is dropped before parsing (the kernel cannot filter a
        // multicast socket by source). A node whose address does not parse here was refused by its own start-up; it is simply not a member.
        List<IPAddress> members = [];
        foreach (var node in options.Nodes)
        {
            if (IPAddress.TryParse(Address(node, link.Name), out IPAddress? member) && member.AddressFamily == AddressFamily.InterNetwork)
            {
                members.Add(member);
            }
        }

        ILogger? logger = loggerFactory?.CreateLogger<UdpMulticastTransport>();
        return new UdpMulticastTransport(link.Name, group, link.Port, localInterface, link.Ttl, options.MaxPacketSize, logger, members: members);
    }

    private static IPEndPoint ParseEndPoint(HaKitOptions options, int node, string link)
    {
        string? value = Address(options.Nodes[node], link);

        // IPEndPoint.TryParse accepts a bare address (port 0): a heartbeat endpoint needs an explicit port.
        if (!IPEndPoint.TryParse(value ?? "", out IPEndPoint? endPoint) || endPoint.Port == 0)
        {
            throw Bad(AddressKey(node, link), value, "ip:port, e.g. 127.0.0.1:7401 or [fd00::1]:7401");
        }

        return endPoint;
    }

    private static string? Address(NodeOptions node, string link)
        => node.Addresses is not null && node.Addresses.TryGetValue(link, out string? value) ? value : null;

    private static string AddressKey(int node, string link) => $"{Section}:Nodes[{node}]:Addresses:{link}";

    private static ArgumentException Bad(string key, string? value, string expected)
    {
        string shown = value is null ? "missing" : $"'{value}'";
        return new ArgumentException($"{key} is {shown}; expected {expected}", "options");
    }
}
