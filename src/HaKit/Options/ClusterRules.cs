namespace HaKit;

/// <summary>The validation rules that span options classes (the nodes and the links, the arbiter and the nodes or the timing).</summary>
internal static class ClusterRules
{
    /// <summary>TwoNode and Witness modes are for a pair; Etcd for any number.</summary>
    public static void ModeFitsNodeCount(OptionsPath root, ArbiterMode mode, int nodes)
    {
        if (mode == ArbiterMode.TwoNode && nodes > 2)
        {
            root[nameof(HaKitOptions.Arbiter)].Error(nameof(ArbiterOptions.Mode), mode, $"TwoNode mode supports exactly two nodes, but {nodes} are listed; use two nodes, or Etcd mode for more");
        }

        if (mode == ArbiterMode.Witness && nodes != 2)
        {
            root[nameof(HaKitOptions.Arbiter)].Error(nameof(ArbiterOptions.Mode), mode, $"Witness mode is for a pair: exactly two nodes and the witness vote, but {nodes} are listed; use two nodes, or Etcd mode for more");
        }
    }

    /// <summary>Every node has an address of the link's kind on <paramref name="link"/>.</summary>
    public static void EveryNodeHasAnAddressOn(OptionsPath root, LinkOptions link, List<NodeOptions> nodes)
    {
        for (var j = 0; j < nodes.Count; j++)
        {
            var n = nodes[j];
            var key = root[nameof(HaKitOptions.Nodes)][j][nameof(NodeOptions.Addresses)][link.Name];
            if (!n.Addresses.TryGetValue(link.Name, out var address) || string.IsNullOrWhiteSpace(address))
            {
                key.Error(null, link.Kind is LinkKind.Udp or LinkKind.Grpc
                    ? $"node {n.Name} needs an ip:port on link {link.Name}, e.g. 127.0.0.1:7401"
                    : $"node {n.Name} needs its interface address on multicast link {link.Name}, e.g. 192.168.1.10");
            }
            else if (link.Kind is LinkKind.Udp or LinkKind.Grpc && !(System.Net.IPEndPoint.TryParse(address, out var ep) && ep.Port != 0))
            {
                key.Error(address, "must be ip:port with a non-zero port, e.g. 127.0.0.1:7401 or [::1]:7401");
            }
            else if (link.Kind == LinkKind.Grpc && link.AllowPlaintext && !System.Net.IPAddress.IsLoopback(System.Net.IPEndPoint.Parse(address).Address))
            {
                key.Error(address, $"link {link.Name} allows plaintext HTTP/2 (AllowPlaintext), which is only for loopback addresses (127.0.0.1, ::1): use TLS (CertificateFile, KeyFile, TrustedCaFile) on a network address");
            }
            else if (link.Kind == LinkKind.Multicast && !System.Net.IPAddress.TryParse(address, out _))
            {
                key.Error(address, "must be the IPv4 address of the node's interface on the multicast link, e.g. 192.168.1.10");
            }
        }
    }

    /// <summary>Every address a node lists is for a configured link.</summary>
    public static void AddressesNameKnownLinks(OptionsPath root, List<NodeOptions> nodes, IReadOnlySet<string> linkNames)
    {
        for (var j = 0; j < nodes.Count; j++)
        {
            foreach (var (linkName, address) in nodes[j].Addresses)
            {
                if (!linkNames.Contains(linkName))
                {
                    root[nameof(HaKitOptions.Nodes)][j][nameof(NodeOptions.Addresses)].Error(linkName, address, $"there is no link named {linkName} in {root[nameof(HaKitOptions.Links)]} (known: {string.Join(", ", linkNames)})");
                }
            }
        }
    }

    /// <summary>Witness mode: the lease is not too short, and spans several heartbeats (votes to the peer travel with them).</summary>
    public static void WitnessLeaseCoversHeartbeats(OptionsPath root, ArbiterOptions arbiter, TimingOptions timing)
    {
        var minimum = timing.Interval * ArbiterOptions.WitnessLeaseTtlMinIntervals;
        if (arbiter.Mode == ArbiterMode.Witness && (arbiter.LeaseTtl < ArbiterOptions.WitnessLeaseTtlMin || arbiter.LeaseTtl < minimum))
        {
            root[nameof(HaKitOptions.Arbiter)].Error(nameof(ArbiterOptions.LeaseTtl), arbiter.LeaseTtl, $"must be at least {ArbiterOptions.WitnessLeaseTtlMin.TotalMilliseconds} ms and at least four heartbeat intervals ({minimum}); 2 to 10 s is usual (a dead owner's group is taken over once its lease ran out)");
        }
    }
}
