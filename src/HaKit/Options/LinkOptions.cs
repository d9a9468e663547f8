using System.Net;

namespace HaKit;

/// <summary>The kind of a heartbeat link.</summary>
public enum LinkKind
{
    /// <summary>UDP unicast: bind to the local node's address, send to every peer's address (Heartbeat <c>ucast</c>).</summary>
    Udp = 0,

    /// <summary>UDP multicast: join <see cref="LinkOptions.Group"/> on the local node's interface address (Heartbeat <c>mcast</c>).</summary>
    Multicast = 1,
}

/// <summary>One heartbeat link.</summary>
public sealed class LinkOptions
{
    /// <summary>Lowest allowed multicast <see cref="Port"/>.</summary>
    public const int PortMin = 1;

    /// <summary>Highest allowed multicast <see cref="Port"/>.</summary>
    public const int PortMax = 65535;

    /// <summary>Lowest allowed <see cref="Ttl"/> (stay on the local segment).</summary>
    public const int TtlMin = 1;

    /// <summary>Highest allowed <see cref="Ttl"/> (the IP header's limit).</summary>
    public const int TtlMax = 255;

    /// <summary>Link name, unique in the cluster (for example <c>lan0</c>); the key of <see cref="NodeOptions.Addresses"/>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Link kind. <value>Default <see cref="LinkKind.Udp"/>.</value></summary>
    public LinkKind Kind { get; set; } = LinkKind.Udp;

    /// <summary>Multicast group address (for example <c>239.255.42.1</c>). Multicast only.</summary>
    public string? Group { get; set; }

    /// <summary>Multicast UDP port. Multicast only. <value>Range <see cref="PortMin"/>..<see cref="PortMax"/>.</value></summary>
    public int Port { get; set; }

    /// <summary>Multicast TTL. <value>Default 1 (stay on the local segment). Range <see cref="TtlMin"/>..<see cref="TtlMax"/>.</value></summary>
    public int Ttl { get; set; } = 1;

    /// <summary>Checks this link's own values; adds its name to <paramref name="names"/>. Returns whether it has a name (the nodes' addresses on it can be checked).</summary>
    internal bool Validate(OptionsPath path, HashSet<string> names)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            path.Error(nameof(Name), Name, "every link needs a unique, non-empty name (e.g. lan0)");
            return false;
        }

        if (!names.Add(Name))
        {
            path.Error(nameof(Name), Name, "the link is listed twice; link names must be unique");
        }

        if (Kind == LinkKind.Multicast)
        {
            if (!IPAddress.TryParse(Group ?? "", out var group) || !IsMulticast(group))
            {
                path.Error(nameof(Group), Group, "must be an IPv4 multicast address (224.0.0.0/4), e.g. 239.255.42.1");
            }

            path.InRange(nameof(Port), Port, PortMin, PortMax);
            path.InRange(nameof(Ttl), Ttl, TtlMin, TtlMax, " (1 keeps heartbeats on the local segment)");
        }

        return true;
    }

    private static bool IsMulticast(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (address.GetAddressBytes()[0] & 0xF0) == 0xE0;
}
