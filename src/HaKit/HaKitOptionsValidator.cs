using System.Globalization;
using System.Net;

namespace HaKit;

/// <summary>Validates <see cref="HaKitOptions"/>: every error names the configuration key, the bad value and what is allowed.</summary>
public static class HaKitOptionsValidator
{
    /// <summary>The configuration section the options are bound from; used as the prefix of every key in error messages.</summary>
    public const string Section = "HaKit";

    /// <summary>Returns every problem found in <paramref name="options"/> (empty when valid).</summary>
    /// <param name="options">The options to check.</param>
    public static IReadOnlyList<string> Validate(HaKitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        void Error(string key, object? value, string fix) =>
            errors.Add($"{Section}:{key} = {Show(value)}: {fix}");

        if (string.IsNullOrWhiteSpace(options.ClusterName))
        {
            Error(nameof(options.ClusterName), options.ClusterName, "must not be empty (all nodes of one cluster use the same name)");
        }

        // nodes
        if (options.Nodes.Count < 2)
        {
            Error(nameof(options.Nodes), new Described($"{options.Nodes.Count} node(s)"), "list at least two nodes, the local one included");
        }

        var nodeNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Nodes.Count; i++)
        {
            var n = options.Nodes[i];
            if (string.IsNullOrWhiteSpace(n.Name))
            {
                Error($"Nodes:{i}:Name", n.Name, "every node needs a unique, non-empty name");
            }
            else if (!nodeNames.Add(n.Name))
            {
                Error($"Nodes:{i}:Name", n.Name, "the node is listed twice; node names must be unique");
            }

            if (n.Priority is < 0 or > 65535)
            {
                Error($"Nodes:{i}:Priority", n.Priority, "allowed range is 0..65535");
            }
        }

        if (string.IsNullOrWhiteSpace(options.NodeName))
        {
            Error(nameof(options.NodeName), options.NodeName, $"set the local node name (one of: {string.Join(", ", nodeNames)}), e.g. --HaKit:NodeName=a");
        }
        else if (!nodeNames.Contains(options.NodeName))
        {
            Error(nameof(options.NodeName), options.NodeName, $"not in HaKit:Nodes; expected one of: {string.Join(", ", nodeNames)}");
        }

        if (options.Arbiter.Mode == ArbiterMode.TwoNode && options.Nodes.Count > 2)
        {
            Error("Arbiter:Mode", options.Arbiter.Mode, $"TwoNode mode supports exactly two nodes, but {options.Nodes.Count} are listed; use two nodes, or Etcd mode for more");
        }

        if (options.Arbiter.Mode == ArbiterMode.Witness && options.Nodes.Count != 2)
        {
            Error("Arbiter:Mode", options.Arbiter.Mode, $"Witness mode is for a pair: exactly two nodes and the witness vote, but {options.Nodes.Count} are listed; use two nodes, or Etcd mode for more");
        }

        if (!Enum.IsDefined(options.Arbiter.Mode))
        {
            Error("Arbiter:Mode", options.Arbiter.Mode, "allowed: TwoNode, Etcd, Witness");
        }

        // links
        if (options.Links.Count == 0)
        {
            Error(nameof(options.Links), new Described("(none)"), "configure at least one heartbeat link (two on separate networks are recommended)");
        }

        var linkNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Links.Count; i++)
        {
            var l = options.Links[i];
            if (string.IsNullOrWhiteSpace(l.Name))
            {
                Error($"Links:{i}:Name", l.Name, "every link needs a unique, non-empty name (e.g. lan0)");
                continue;
            }

            if (!linkNames.Add(l.Name))
            {
                Error($"Links:{i}:Name", l.Name, "the link is listed twice; link names must be unique");
            }

            if (l.Kind == LinkKind.Multicast)
            {
                if (!IPAddress.TryParse(l.Group ?? "", out var group) || !IsMulticast(group))
                {
                    Error($"Links:{i}:Group", l.Group, "must be an IPv4 multicast address (224.0.0.0/4), e.g. 239.255.42.1");
                }

                if (l.Port is < 1 or > 65535)
                {
                    Error($"Links:{i}:Port", l.Port, "allowed range is 1..65535");
                }

                if (l.Ttl is < 1 or > 255)
                {
                    Error($"Links:{i}:Ttl", l.Ttl, "allowed range is 1..255 (1 keeps heartbeats on the local segment)");
                }
            }

            for (var j = 0; j < options.Nodes.Count; j++)
            {
                var n = options.Nodes[j];
                var key = $"Nodes:{j}:Addresses:{l.Name}";
                if (!n.Addresses.TryGetValue(l.Name, out var address) || string.IsNullOrWhiteSpace(address))
                {
                    Error(key, null, l.Kind == LinkKind.Udp
                        ? $"node {n.Name} needs an ip:port on link {l.Name}, e.g. 127.0.0.1:7401"
                        : $"node {n.Name} needs its interface address on multicast link {l.Name}, e.g. 192.168.1.10");
                }
                else if (l.Kind == LinkKind.Udp && !(IPEndPoint.TryParse(address, out var ep) && ep.Port != 0))
                {
                    Error(key, address, "must be ip:port with a non-zero port, e.g. 127.0.0.1:7401 or [::1]:7401");
                }
                else if (l.Kind == LinkKind.Multicast && !IPAddress.TryParse(address, out _))
                {
                    Error(key, address, "must be the IPv4 address of the node's interface on the multicast link, e.g. 192.168.1.10");
                }
            }
        }

        for (var j = 0; j < options.Nodes.Count; j++)
        {
            foreach (var linkName in options.Nodes[j].Addresses.Keys)
            {
                if (!linkNames.Contains(linkName))
                {
                    Error($"Nodes:{j}:Addresses:{linkName}", options.Nodes[j].Addresses[linkName], $"there is no link named {linkName} in HaKit:Links (known: {string.Join(", ", linkNames)})");
                }
            }
        }

        // timing
        var t = options.Timing;
        if (t.Interval <= TimeSpan.Zero)
        {
            Error("Timing:Interval", t.Interval, "must be positive, e.g. 00:00:00.200");
        }

        if (t.DeadTime < 2 * t.Interval)
        {
            Error("Timing:DeadTime", t.DeadTime, $"must be at least twice Timing:Interval ({t.Interval}) so that one lost heartbeat is not a failover; raise DeadTime or lower Interval");
        }

        if (t.WarnTime <= TimeSpan.Zero || t.WarnTime > t.DeadTime)
        {
            Error("Timing:WarnTime", t.WarnTime, $"must be positive and at most Timing:DeadTime ({t.DeadTime})");
        }

        if (t.InitialDeadTime < t.DeadTime)
        {
            Error("Timing:InitialDeadTime", t.InitialDeadTime, $"must be at least Timing:DeadTime ({t.DeadTime}); start-up takes longer than steady state");
        }

        if (t.TickInterval is { } tick && (tick <= TimeSpan.Zero || tick > t.Interval))
        {
            Error("Timing:TickInterval", tick, $"must be positive and at most Timing:Interval ({t.Interval})");
        }

        if (t.LocalPauseThreshold is { } pause && pause <= TimeSpan.Zero)
        {
            Error("Timing:LocalPauseThreshold", pause, "must be positive");
        }

        // detector
        var d = options.Detector;
        if (d.Kind == DetectorKind.PhiAccrual)
        {
            if (d.PhiThreshold is <= 0 or > 100 || double.IsNaN(d.PhiThreshold))
            {
                Error("Detector:PhiThreshold", d.PhiThreshold, "allowed range is (0, 100]; 8 is a common choice");
            }

            if (d.PhiSuspectThreshold <= 0 || d.PhiSuspectThreshold >= d.PhiThreshold || double.IsNaN(d.PhiSuspectThreshold))
            {
                Error("Detector:PhiSuspectThreshold", d.PhiSuspectThreshold, $"must be positive and below Detector:PhiThreshold ({d.PhiThreshold})");
            }

            if (d.MinStdDeviation <= TimeSpan.Zero)
            {
                Error("Detector:MinStdDeviation", d.MinStdDeviation, "must be positive, e.g. 00:00:00.050");
            }

            if (d.AcceptablePause < TimeSpan.Zero)
            {
                Error("Detector:AcceptablePause", d.AcceptablePause, "must not be negative");
            }

            if (d.MaxSamples is < 2 or > 10000)
            {
                Error("Detector:MaxSamples", d.MaxSamples, "allowed range is 2..10000");
            }
        }

        // auth
        if (options.Auth.Keys.Count == 0)
        {
            Error("Auth:Keys", new Described("(none)"), "configure at least one key: { \"Id\": 1, \"Secret\": \"<base64 of 32+ random bytes, e.g. from openssl rand -base64 32>\" }");
        }

        var keyIds = new HashSet<uint>();
        for (var i = 0; i < options.Auth.Keys.Count; i++)
        {
            var k = options.Auth.Keys[i];
            if (k.Id == 0)
            {
                Error($"Auth:Keys:{i}:Id", k.Id, "key ids start at 1");
            }
            else if (!keyIds.Add(k.Id))
            {
                Error($"Auth:Keys:{i}:Id", k.Id, "the key id is listed twice; ids must be unique");
            }

            var bytes = new byte[Math.Max(1, k.Secret.Length)];
            if (!Convert.TryFromBase64String(k.Secret, bytes, out var length))
            {
                Error($"Auth:Keys:{i}:Secret", new Described($"({k.Secret.Length} characters, not shown)"), "must be base64, e.g. the output of openssl rand -base64 32");
            }
            else if (length < 32)
            {
                Error($"Auth:Keys:{i}:Secret", new Described($"({length} bytes, not shown)"), "must decode to at least 32 bytes; generate one with openssl rand -base64 32");
            }
        }

        if (options.Auth.Keys.Count > 0 && !keyIds.Contains(options.Auth.SendKeyId))
        {
            Error("Auth:SendKeyId", options.Auth.SendKeyId, $"must be the id of one of HaKit:Auth:Keys ({string.Join(", ", keyIds)})");
        }

        // groups
        var groupNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Groups.Count; i++)
        {
            var g = options.Groups[i];
            if (string.IsNullOrWhiteSpace(g.Name))
            {
                Error($"Groups:{i}:Name", g.Name, "every group needs a unique, non-empty name");
            }
            else if (!groupNames.Add(g.Name))
            {
                Error($"Groups:{i}:Name", g.Name, "the group is listed twice; group names must be unique");
            }

            if (g.PreferredNode is not null && !nodeNames.Contains(g.PreferredNode))
            {
                Error($"Groups:{i}:PreferredNode", g.PreferredNode, $"not in HaKit:Nodes; expected one of: {string.Join(", ", nodeNames)}, or leave it unset");
            }

            if (g.AutoFailback && g.PreferredNode is null)
            {
                Error($"Groups:{i}:AutoFailback", g.AutoFailback, "auto-failback needs a PreferredNode to fail back to; set PreferredNode or turn AutoFailback off");
            }

            Positive($"Groups:{i}:MonitorInterval", g.MonitorInterval);
            Positive($"Groups:{i}:StartTimeout", g.StartTimeout);
            Positive($"Groups:{i}:StopTimeout", g.StopTimeout);
            Positive($"Groups:{i}:MonitorTimeout", g.MonitorTimeout);
            Positive($"Groups:{i}:FailureWindow", g.FailureWindow);
            if (g.FailbackDelay < TimeSpan.Zero)
            {
                Error($"Groups:{i}:FailbackDelay", g.FailbackDelay, "must not be negative");
            }

            if (g.RestartDelay < TimeSpan.Zero)
            {
                Error($"Groups:{i}:RestartDelay", g.RestartDelay, "must not be negative");
            }

            if (g.MaxRestarts is < 0 or > 1000)
            {
                Error($"Groups:{i}:MaxRestarts", g.MaxRestarts, "allowed range is 0..1000 (0 moves the group at the first failure)");
            }

            var resourceNames = new HashSet<string>(StringComparer.Ordinal);
            for (var r = 0; r < g.Resources.Count; r++)
            {
                if (string.IsNullOrWhiteSpace(g.Resources[r]) || !resourceNames.Add(g.Resources[r]))
                {
                    Error($"Groups:{i}:Resources:{r}", g.Resources[r], "resource names must be non-empty and unique within the group");
                }
            }
        }

        // arbiter
        for (var i = 0; i < options.Arbiter.PingTargets.Count; i++)
        {
            var target = options.Arbiter.PingTargets[i];
            if (!TryParseHostPort(target))
            {
                Error($"Arbiter:PingTargets:{i}", target, "must be host:port reachable by TCP, e.g. 10.0.0.1:80 or gateway.example:443");
            }
        }

        Positive("Arbiter:PingTimeout", options.Arbiter.PingTimeout);
        Positive("Arbiter:RetryInterval", options.Arbiter.RetryInterval);
        if (options.Arbiter.Mode == ArbiterMode.Etcd)
        {
            var a = options.Arbiter;
            if (a.LeaseTtl < TimeSpan.FromSeconds(2) || a.LeaseTtl.Ticks % TimeSpan.TicksPerSecond != 0)
            {
                Error("Arbiter:LeaseTtl", a.LeaseTtl, "must be whole seconds, at least 00:00:02 (etcd grants leases in whole seconds, with a minimum near 2 s); 5 to 15 s is usual");
            }

            if (a.LeaseDriftMargin < TimeSpan.Zero || a.LeaseDriftMargin >= a.LeaseTtl / 3)
            {
                Error("Arbiter:LeaseDriftMargin", a.LeaseDriftMargin, $"must be at least 0 and less than a third of Arbiter:LeaseTtl ({a.LeaseTtl}): the holder renews every third of the lease and stops this long before it can have expired");
            }

            if (a.Etcd.Endpoints.Count == 0)
            {
                Error("Arbiter:Etcd:Endpoints", new Described("none"), "list the etcd client URLs, e.g. http://10.0.0.5:2379");
            }

            for (var i = 0; i < a.Etcd.Endpoints.Count; i++)
            {
                if (!Uri.TryCreate(a.Etcd.Endpoints[i], UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                {
                    Error($"Arbiter:Etcd:Endpoints:{i}", a.Etcd.Endpoints[i], "must be an absolute http:// or https:// URL, e.g. http://10.0.0.5:2379");
                }
            }

            if (a.Etcd.Endpoints.Select(e => Uri.TryCreate(e, UriKind.Absolute, out var u) ? u.Scheme : null).Where(x => x is not null).Distinct().Count() > 1)
            {
                Error("Arbiter:Etcd:Endpoints", new Described(string.Join(", ", a.Etcd.Endpoints)), "must be all http:// or all https:// (one client channel serves them all)");
            }

            if (string.IsNullOrWhiteSpace(a.Etcd.KeyPrefix) || !a.Etcd.KeyPrefix.StartsWith('/'))
            {
                Error("Arbiter:Etcd:KeyPrefix", a.Etcd.KeyPrefix, "must start with '/', e.g. /hakit");
            }

            Positive("Arbiter:Etcd:RequestTimeout", a.Etcd.RequestTimeout);
            if (a.Etcd.RequestTimeout >= a.LeaseTtl / 3)
            {
                Error("Arbiter:Etcd:RequestTimeout", a.Etcd.RequestTimeout, $"must be less than a third of Arbiter:LeaseTtl ({a.LeaseTtl}) so that a failed renewal can be retried before the lease runs out");
            }
        }

        if (options.Arbiter.Mode == ArbiterMode.Witness)
        {
            ValidateWitness(options, nodeNames, Error);
        }

        Positive("Fencing:Timeout", options.Fencing.Timeout);
        Positive("Fencing:RetryInterval", options.Fencing.RetryInterval);
        ValidateFenceAgents(options, nodeNames, Error);

        if (string.IsNullOrWhiteSpace(options.StateDirectory))
        {
            Error(nameof(options.StateDirectory), options.StateDirectory, "must name a directory for the durable state file, e.g. /var/lib/hakit");
        }

        if (options.RealtimePriority is < 0 or > 99)
        {
            Error(nameof(options.RealtimePriority), options.RealtimePriority, "allowed range is 0 (off) or 1..99 (SCHED_RR priority; corosync uses 99, 10 is plenty next to ordinary processes)");
        }

        if (options.MaxPacketSize is < 256 or > 65507)
        {
            Error(nameof(options.MaxPacketSize), options.MaxPacketSize, "allowed range is 256..65507 bytes (1400 fits an Ethernet MTU)");
        }

        return errors;

        void Positive(string key, TimeSpan value)
        {
            if (value <= TimeSpan.Zero)
            {
                Error(key, value, "must be a positive duration (hh:mm:ss.fff)");
            }
        }
    }

    private static void ValidateWitness(HaKitOptions options, HashSet<string> nodeNames, Action<string, object?, string> error)
    {
        var a = options.Arbiter;
        var w = a.Witness;
        if (a.LeaseTtl < TimeSpan.FromMilliseconds(500) || a.LeaseTtl < options.Timing.Interval * 4)
        {
            error("Arbiter:LeaseTtl", a.LeaseTtl, $"must be at least 500 ms and at least four heartbeat intervals ({options.Timing.Interval * 4}); 2 to 10 s is usual (a dead owner's group is taken over once its lease ran out)");
        }

        if (a.LeaseDriftMargin < TimeSpan.Zero || a.LeaseDriftMargin >= a.LeaseTtl / 3)
        {
            error("Arbiter:LeaseDriftMargin", a.LeaseDriftMargin, $"must be at least 0 and less than a third of Arbiter:LeaseTtl ({a.LeaseTtl}): the holder renews every third of the lease and stops this long before it can have expired at a voter");
        }

        if (!System.Net.IPEndPoint.TryParse(w.Endpoint ?? "", out var endpoint) || endpoint.Port == 0)
        {
            error("Arbiter:Witness:Endpoint", w.Endpoint, "must be the witness's UDP endpoint as ip:port, e.g. 10.0.0.9:5405");
        }

        if (string.IsNullOrWhiteSpace(w.Name))
        {
            error("Arbiter:Witness:Name", w.Name, "set the witness's name (its HaKit:Witness:Name), e.g. witness");
        }
        else if (nodeNames.Contains(w.Name))
        {
            error("Arbiter:Witness:Name", w.Name, "must differ from every node name in HaKit:Nodes");
        }

        if (!string.IsNullOrEmpty(w.LocalAddress) && !System.Net.IPEndPoint.TryParse(w.LocalAddress, out _))
        {
            error("Arbiter:Witness:LocalAddress", w.LocalAddress, "must be an ip or ip:port of this machine, e.g. 10.0.0.1, or empty for any");
        }

        if (w.RequestTimeout <= TimeSpan.Zero || w.RequestTimeout >= a.LeaseTtl / 3)
        {
            error("Arbiter:Witness:RequestTimeout", w.RequestTimeout, $"must be positive and less than a third of Arbiter:LeaseTtl ({a.LeaseTtl}) so that a renewal can be asked again before the lease runs out; 100 to 500 ms is usual");
        }
    }

    private static void ValidateFenceAgents(HaKitOptions options, HashSet<string> nodeNames, Action<string, object?, string> error)
    {
        var agentNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Fencing.Agents.Count; i++)
        {
            var a = options.Fencing.Agents[i];
            var key = $"Fencing:Agents:{i}";
            if (a is null)
            {
                error(key, null, "an agent entry needs at least Name and Type");
                continue;
            }

            if (string.IsNullOrWhiteSpace(a.Name))
            {
                error($"{key}:Name", a.Name, "every fence agent needs a unique, non-empty name (used in logs), e.g. ipmi-b");
            }
            else if (!agentNames.Add(a.Name))
            {
                error($"{key}:Name", a.Name, "duplicate fence agent name; agent names must be unique");
            }

            for (var n = 0; n < a.Nodes.Count; n++)
            {
                if (!nodeNames.Contains(a.Nodes[n]))
                {
                    error($"{key}:Nodes:{n}", a.Nodes[n], $"not in HaKit:Nodes; expected one of: {string.Join(", ", nodeNames)}");
                }
            }

            switch (a.Type)
            {
                case FenceAgentType.Script:
                    if (string.IsNullOrWhiteSpace(a.Command))
                    {
                        error($"{key}:Command", a.Command, "required for Type Script: the executable to run as '<command> [args] off|status <node>', e.g. /usr/local/sbin/fence-ipmi");
                    }

                    break;
                case FenceAgentType.Http:
                    CheckUrl($"{key}:Url", a.Url, required: true);
                    CheckUrl($"{key}:StatusUrl", a.StatusUrl, required: false);
                    break;
                case null:
                    error($"{key}:Type", null, "required: one of Script, Http");
                    break;
                default:
                    error($"{key}:Type", a.Type.Value.ToString(), "unknown fence agent type; one of: Script, Http");
                    break;
            }
        }

        void CheckUrl(string key, string url, bool required)
        {
            if (string.IsNullOrEmpty(url) && !required)
            {
                return;
            }

            if (string.IsNullOrEmpty(url))
            {
                error(key, url, "required for Type Http: an absolute http:// or https:// URL containing {node}, e.g. https://pdu.example/api/outlets/{node}/off");
            }
            else if (!Uri.TryCreate(url.Replace("{node}", "node", StringComparison.Ordinal).Replace("{cluster}", "cluster", StringComparison.Ordinal), UriKind.Absolute, out var uri)
                || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                error(key, url, required ? "must be an absolute http:// or https:// URL containing {node}, e.g. https://pdu.example/api/outlets/{node}/off" : "must be an absolute http:// or https:// URL, e.g. https://pdu.example/api/outlets/{node}/status");
            }
            else if (required && !url.Contains("{node}", StringComparison.Ordinal))
            {
                error(key, url, "must contain the placeholder {node} (replaced by the URI-escaped node name), e.g. https://pdu.example/api/outlets/{node}/off");
            }
        }
    }

    /// <summary>Throws <see cref="HaKitConfigurationException"/> listing every problem, if there is any.</summary>
    /// <param name="options">The options to check.</param>
    public static void ThrowIfInvalid(HaKitOptions options)
    {
        var errors = Validate(options);
        if (errors.Count > 0)
        {
            throw new HaKitConfigurationException(errors);
        }
    }

    /// <summary>A description of a value that must not (or cannot) be shown as is.</summary>
    private sealed record Described(string Text);

    private static bool IsMulticast(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (address.GetAddressBytes()[0] & 0xF0) == 0xE0;

    private static bool TryParseHostPort(string value)
    {
        var colon = value.LastIndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
        {
            return false;
        }

        var host = value[..colon].Trim('[', ']');
        return host.Length > 0 && int.TryParse(value[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535;
    }

    private static string Show(object? value) => value switch
    {
        null => "(missing)",
        Described d => d.Text,
        string s when s.Length == 0 => "(empty)",
        string s => $"'{s}'",
        TimeSpan ts => ts.ToString("c", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>Invalid HaKit configuration. The message lists every problem with its key, value and fix.</summary>
public sealed class HaKitConfigurationException : Exception
{
    /// <summary>Creates the exception from a list of problems.</summary>
    /// <param name="errors">One line per problem.</param>
    public HaKitConfigurationException(IReadOnlyList<string> errors)
        : base("Invalid HaKit configuration:" + Environment.NewLine + string.Join(Environment.NewLine, errors.Select(e => "  - " + e))) =>
        Errors = errors;

    /// <summary>One line per problem.</summary>
    public IReadOnlyList<string> Errors { get; }
}
