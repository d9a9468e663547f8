using System.Net;

namespace HaKit.Replication;

/// <summary>Turns <see cref="ReplicationHostOptions"/> and the node's <see cref="HaKitOptions"/> into the settings of each
/// group's log and of the transport, and checks them (every problem names the key, the value and the fix).</summary>
internal static class ReplicationHostSetup
{
    /// <summary>The settings of <paramref name="registration"/>'s log.</summary>
    public static ReplicationOptions GroupOptions(ReplicationHostOptions host, HaKitOptions node, ReplicationRegistration registration, TimeProvider time)
    {
        var g = host.Groups.TryGetValue(registration.Group, out var configured) ? configured : new ReplicationGroupOptions();
        var options = new ReplicationOptions
        {
            Group = registration.Group,
            Directory = string.IsNullOrWhiteSpace(g.Directory)
                ? Path.GetFullPath(Path.Combine(node.StateDirectory, $"{node.NodeName}-replication", registration.Group))
                : Path.GetFullPath(g.Directory),
            Mode = g.Mode,
            DegradeAfter = g.DegradeAfter,
            MaxLagOnFailover = g.MaxLagOnFailover,
            MaxLagOnFailoverBytes = g.MaxLagOnFailoverBytes,
            SnapshotChunkBytes = g.SnapshotChunkBytes,
            DrainTimeout = g.DrainTimeout ?? DefaultDrainTimeout(node, registration.Group),
            ReceivedFlushInterval = g.ReceivedFlushInterval,
            SegmentBytes = g.SegmentBytes,
            PreallocateSegments = g.PreallocateSegments,
            SnapshotEveryEntries = g.SnapshotEveryEntries,
            MaxBatchBytes = g.MaxBatchBytes,
            MaxInFlightBytes = g.MaxInFlightBytes,
            Time = time,
        };
        registration.Configure?.Invoke(options);
        options.Group = registration.Group;
        return options;
    }

    /// <summary>
    /// Where the outdated marks go besides the group's directory: in Etcd mode the container's <see cref="Arbitration.ILeaseStore"/>
    /// (keys under the cluster's prefix, guarded by the group's lease key); in Witness mode the witness, through the node's witness
    /// arbiter (<see cref="ClusterNode.OutdatedMarks"/>, resolved at each call: guarded by the group's grant at the witness); in
    /// TwoNode mode nowhere else (the mark stays in the two nodes' directories, as documented). An application's own arbiter in
    /// Etcd mode (no lease store) gets none; in Witness mode its store reports that it cannot hold marks.
    /// </summary>
    public static Arbiter.ArbiterMarkBinding? ArbiterMarks(ReplicationHostOptions host, HaKitOptions node, IServiceProvider services)
    {
        var peer = host.Addresses.Keys.Single(n => !string.Equals(n, node.NodeName, StringComparison.Ordinal));
        return node.Arbiter.Mode switch
        {
            ArbiterMode.Etcd when services.GetService(typeof(Arbitration.ILeaseStore)) is Arbitration.ILeaseStore store =>
                new Arbiter.ArbiterMarkBinding(new Arbiter.LeaseStoreOutdatedMarks(store, node.Arbiter.Etcd.KeyPrefix, node.ClusterName, node.NodeName), node.NodeName, peer),
            ArbiterMode.Witness =>
                new Arbiter.ArbiterMarkBinding(new Arbiter.WitnessOutdatedMarks(() => (services.GetService(typeof(ClusterNode)) as ClusterNode)?.OutdatedMarks), node.NodeName, peer),
            _ => null,
        };
    }

    /// <summary>10 s, or half the group's stop timeout when that is shorter: the drain runs inside the group's stop.</summary>
    private static TimeSpan DefaultDrainTimeout(HaKitOptions? node, string group)
    {
        var tenSeconds = TimeSpan.FromSeconds(10);
        return node?.Groups.Find(g => g.Name == group) is { } options && options.StopTimeout / 2 < tenSeconds ? options.StopTimeout / 2 : tenSeconds;
    }

    /// <summary>The transport's settings (addresses already validated).</summary>
    public static ReplicationTransportOptions TransportOptions(ReplicationHostOptions host, HaKitOptions node, string key)
    {
        var peer = host.Addresses.Keys.Single(n => !string.Equals(n, node.NodeName, StringComparison.Ordinal));
        return new ReplicationTransportOptions
        {
            NodeId = node.NodeName,
            Listen = IPEndPoint.Parse(host.Addresses[node.NodeName]),
            PeerId = peer,
            Peer = IPEndPoint.Parse(host.Addresses[peer]),
            ReconnectDelay = host.ReconnectDelay,
            Protocol = host.Protocol,
            Tls = host.Tls,
            TlsKey = $"{key}:Tls",
        };
    }

    /// <summary>
    /// The problems of a configuration's <c>HaKit:Replication</c> section checked offline (<c>hakit config check</c>): bound and
    /// validated as the node does at start-up, with each group configured under <c>Groups</c> taken as registered (the tool
    /// cannot see the application's <c>UseReplication(...)</c> calls; the node also reports a configured group it does not
    /// register).
    /// </summary>
    /// <param name="section">The <c>HaKit:Replication</c> section.</param>
    /// <param name="node">The node's options, or <see langword="null"/> when they are invalid themselves.</param>
    /// <param name="nodesKey">The key of the node list (<c>HaKit:Nodes</c>).</param>
    public static List<string> ValidateConfigured(Microsoft.Extensions.Configuration.IConfigurationSection section, HaKitOptions? node, string nodesKey)
    {
        var host = new ReplicationHostOptions();
        host.BindErrors = HaKit.Hosting.HaKitOptionsBinder.BindSection(host, section);
        var registry = new ReplicationRegistry();
        foreach (var group in host.Groups.Keys)
        {
            registry.Groups.Add(new ReplicationRegistration(group, _ => throw new InvalidOperationException("checked offline: no state machine"), null, null));
        }

        return Validate(host, node, registry, section.Path, nodesKey);
    }

    /// <summary>Every problem of the settings (empty when the host can start).</summary>
    /// <param name="host">The bound replication settings.</param>
    /// <param name="node">The node's options; <see langword="null"/> when they are invalid themselves (reported by HaKit's own
    /// validation): the checks that need them are skipped.</param>
    /// <param name="registry">The groups registered in code.</param>
    /// <param name="key">The section's key (<c>HaKit:Replication</c>).</param>
    /// <param name="nodesKey">The key of the node list (<c>HaKit:Nodes</c>).</param>
    public static List<string> Validate(ReplicationHostOptions host, HaKitOptions? node, ReplicationRegistry registry, string key, string nodesKey)
    {
        var errors = new List<string>(host.BindErrors);
        if (host.ReconnectDelay <= TimeSpan.Zero)
        {
            errors.Add($"{key}:ReconnectDelay = {host.ReconnectDelay}: not positive; use e.g. 00:00:00.200");
        }

        foreach (var name in host.Groups.Keys.Where(n => !registry.Groups.Any(r => string.Equals(r.Group, n, StringComparison.Ordinal))))
        {
            errors.Add($"{key}:Groups:{name} = (a section): no replicated group {name} is registered; call AddGroup(\"{name}\", ...) or AddKvStore(\"{name}\") in UseReplication(...), or remove the section");
        }

        var endpoints = new List<IPEndPoint>();
        foreach (var (name, address) in host.Addresses)
        {
            if (!IPEndPoint.TryParse(address, out var endpoint) || endpoint.Port == 0)
            {
                errors.Add($"{key}:Addresses:{name} = '{address}': not ip:port with a non-zero port; e.g. 127.0.0.1:7511");
            }
            else
            {
                endpoints.Add(endpoint);
            }
        }

        errors.AddRange(host.Tls.Validate($"{key}:Tls", endpoints));

        if (node is null)
        {
            return errors;
        }

        if (host.Addresses.Count == 0)
        {
            errors.Add($"{key}:Addresses = (none): give the replication address of this node and of its peer, by node name; e.g. {key}:Addresses:a = 10.0.0.1:7511 and {key}:Addresses:b = 10.0.0.2:7511");
        }
        else
        {
            if (!host.Addresses.ContainsKey(node.NodeName))
            {
                errors.Add($"{key}:Addresses:{node.NodeName} = (none): this node has no replication address; add it (ip:port), next to its peer's (registered: {string.Join(", ", host.Addresses.Keys)})");
            }

            var others = host.Addresses.Keys.Where(n => !string.Equals(n, node.NodeName, StringComparison.Ordinal)).ToList();
            if (others.Count != 1)
            {
                errors.Add($"{key}:Addresses = '{string.Join(", ", host.Addresses.Keys)}': a pair replicates; give exactly this node's ({node.NodeName}) address and its peer's");
            }
            else if (!node.Nodes.Any(n => string.Equals(n.Name, others[0], StringComparison.Ordinal)))
            {
                errors.Add($"{key}:Addresses:{others[0]} = '{host.Addresses[others[0]]}': no node named {others[0]} in {nodesKey} ({string.Join(", ", node.Nodes.Select(n => n.Name))}); key each address by the node's name");
            }
        }

        foreach (var registration in registry.Groups)
        {
            var groupKey = $"{key}:Groups:{registration.Group}";
            try
            {
                var options = GroupOptions(host, node, registration, TimeProvider.System);
                options.Validate(groupKey);
                if (node.Groups.Find(g => g.Name == registration.Group) is { } group && options.DrainTimeout >= group.StopTimeout && options.DrainTimeout > TimeSpan.Zero)
                {
                    // The drain runs inside the group's stop: a drain as long as the stop would time the stop out (Blocked).
                    errors.Add($"{groupKey}:DrainTimeout = '{options.DrainTimeout}': not below the group's StopTimeout ({group.StopTimeout}); " +
                               "lower it, or raise the group's StopTimeout, so that a planned handover can drain and still stop in time");
                }
            }
            catch (HaKitConfigurationException ex)
            {
                errors.AddRange(ex.Errors);
            }
        }

        return errors;
    }
}
