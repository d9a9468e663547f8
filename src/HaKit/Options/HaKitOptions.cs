namespace HaKit;

/// <summary>
/// Everything a HaKit node needs to know: the cluster (Heartbeat's <c>ha.cf</c>), its groups (<c>haresources</c>)
/// and its keys (<c>authkeys</c>). One file can describe the whole cluster; <see cref="NodeName"/> picks the local node.
/// Bound from the <c>HaKit</c> configuration section by the hosting package; validated by <see cref="HaKitOptionsValidator"/>.
/// In code, start from a preset with <c>new HaKitOptions { Preset = HaKitPreset.Fast, ... }</c>.
/// </summary>
public sealed class HaKitOptions
{
    /// <summary>Highest allowed <see cref="RealtimePriority"/> (the top <c>SCHED_RR</c> priority on Linux).</summary>
    public const int RealtimePriorityMax = 99;

    /// <summary>Smallest allowed <see cref="MaxPacketSize"/>: room for a heartbeat with a few groups.</summary>
    public const int MaxPacketSizeMin = 256;

    /// <summary>Largest allowed <see cref="MaxPacketSize"/>: the largest UDP payload over IPv4.</summary>
    public const int MaxPacketSizeMax = 65507;

    private HaKitPreset _preset = HaKitPreset.Lan;
    private TimingOptions _timing = new();

    /// <summary>
    /// The timing preset: it supplies every <see cref="Timing"/> value not set explicitly (explicit values always win, whether
    /// set before or after the preset). Numbers in <see cref="HaKitPresets"/>. <value>Default <see cref="HaKitPreset.Lan"/>.</value>
    /// </summary>
    public HaKitPreset Preset
    {
        get => _preset;
        set
        {
            _preset = value;
            _timing.Preset = value;
        }
    }

    /// <summary>Cluster name. Packets carrying another cluster name are dropped. <value>Default <c>hakit</c>.</value></summary>
    public string ClusterName { get; set; } = "hakit";

    /// <summary>The local node's name; must be one of <see cref="Nodes"/>.</summary>
    public string NodeName { get; set; } = "";

    /// <summary>All nodes of the cluster, the local one included (Heartbeat's <c>node</c> lines).</summary>
    public List<NodeOptions> Nodes { get; set; } = [];

    /// <summary>Heartbeat links (Heartbeat's <c>ucast</c>/<c>mcast</c> lines). At least one.</summary>
    public List<LinkOptions> Links { get; set; } = [];

    /// <summary>Heartbeat timing (<c>keepalive</c>, <c>warntime</c>, <c>deadtime</c>, <c>initdead</c>); unset values come from <see cref="Preset"/>.</summary>
    public TimingOptions Timing
    {
        get => _timing;
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            _timing = value;
            _timing.Preset = _preset;
        }
    }

    /// <summary>Which failure detector to use and its parameters.</summary>
    public DetectorOptions Detector { get; set; } = new();

    /// <summary>Shared keys for packet authentication (<c>authkeys</c>).</summary>
    public AuthOptions Auth { get; set; } = new();

    /// <summary>Resource groups (<c>haresources</c> lines).</summary>
    public List<GroupOptions> Groups { get; set; } = [];

    /// <summary>Resources declared in configuration (VIPs, scripts, units, mounts, processes), listed by name in <c>Groups[i].Resources</c>; created by HaKit.Hosting.</summary>
    public List<ResourceOptions> Resources { get; set; } = [];

    /// <summary>Tie-breaking when peers cannot see each other.</summary>
    public ArbiterOptions Arbiter { get; set; } = new();

    /// <summary>Fencing: timeouts and the built-in agents configured as fencing levels (more agents can be registered in code).</summary>
    public FencingOptions Fencing { get; set; } = new();

    /// <summary>The optional Linux watchdog armed while owning in a lease mode (Patroni's <c>watchdog</c>). <value>Default off.</value></summary>
    public WatchdogOptions Watchdog { get; set; } = new();

    /// <summary>Notifications of role changes, split brains, fencing and failures to a script and/or a webhook (keepalived's <c>notify</c>). <value>Default none.</value></summary>
    public NotifyOptions Notify { get; set; } = new();

    /// <summary>Directory of the durable state file (<c>&lt;NodeName&gt;.state</c>: incarnation and epochs). <value>Default <c>hakit-state</c>.</value></summary>
    public string StateDirectory { get; set; } = "hakit-state";

    /// <summary>The admin API every node serves through HaKit.Hosting (a Unix socket by default; TCP with mutual TLS when configured).</summary>
    public AdminOptions Admin { get; set; } = new();

    /// <summary>
    /// Linux real-time round-robin priority (<c>SCHED_RR</c>, 1..<see cref="RealtimePriorityMax"/>) for every thread of the process, applied at start;
    /// 0 leaves scheduling alone. Like corosync, this keeps heartbeats on time when other processes saturate the CPUs:
    /// without it a short dead time (the <see cref="HaKitPreset.Fast"/> preset) can fail over falsely on a busy machine.
    /// Needs root or CAP_SYS_NICE; a refusal is logged as a warning. Use only for processes that do not spin.
    /// <value>Default 0 (off). Range 0..<see cref="RealtimePriorityMax"/>.</value>
    /// </summary>
    public int RealtimePriority { get; set; }

    /// <summary>
    /// Compile the takeover path ahead of time: at start-up a background thread (below normal priority, never real-time) prepares
    /// the code of HaKit, Polly and the registered resources' assemblies, so the first takeover in a process does not wait for the
    /// just-in-time compiler. <value>Default <see langword="true"/>.</value>
    /// </summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>Largest packet sent or accepted, in bytes; larger packets are dropped as oversized. <value>Default 1400 (fits an Ethernet MTU). Range <see cref="MaxPacketSizeMin"/>..<see cref="MaxPacketSizeMax"/>.</value></summary>
    public int MaxPacketSize { get; set; } = 1400;

    /// <summary>Checks every section (each options class checks its own values; <see cref="ClusterRules"/> the rules spanning sections).</summary>
    internal void Validate(OptionsPath path)
    {
        if (string.IsNullOrWhiteSpace(ClusterName))
        {
            path.Error(nameof(ClusterName), ClusterName, "must not be empty (all nodes of one cluster use the same name)");
        }

        if (!Enum.IsDefined(Preset))
        {
            path.Error(nameof(Preset), Preset, "allowed: Lan, Fast, Wan");
        }

        var nodeNames = ValidateNodes(path);
        var linkNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Links.Count; i++)
        {
            if (Links[i].Validate(path[nameof(Links)][i], linkNames))
            {
                ClusterRules.EveryNodeHasAnAddressOn(path, Links[i], Nodes);
            }
        }

        ClusterRules.AddressesNameKnownLinks(path, Nodes, linkNames);
        Timing.Validate(path[nameof(Timing)]);
        Detector.Validate(path[nameof(Detector)]);
        Auth.Validate(path[nameof(Auth)]);
        var groupNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Groups.Count; i++)
        {
            Groups[i].Validate(path[nameof(Groups)][i], groupNames, nodeNames);
        }

        var resourceNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Resources.Count; i++)
        {
            Resources[i].Validate(path[nameof(Resources)][i], resourceNames);
        }

        Arbiter.Validate(path[nameof(Arbiter)], nodeNames);
        ClusterRules.WitnessLeaseCoversHeartbeats(path, Arbiter, Timing);
        Fencing.Validate(path[nameof(Fencing)], nodeNames);
        Watchdog.Validate(path[nameof(Watchdog)], Arbiter);
        Notify.Validate(path[nameof(Notify)]);
        if (string.IsNullOrWhiteSpace(StateDirectory))
        {
            path.Error(nameof(StateDirectory), StateDirectory, "must name a directory for the durable state file, e.g. /var/lib/hakit");
        }

        Admin.Validate(path[nameof(Admin)]);
        if (RealtimePriority is < 0 or > RealtimePriorityMax)
        {
            path.Error(nameof(RealtimePriority), RealtimePriority, $"allowed range is 0 (off) or 1..{RealtimePriorityMax} (SCHED_RR priority; corosync uses 99, 10 is plenty next to ordinary processes)");
        }

        path.InRange(nameof(MaxPacketSize), MaxPacketSize, MaxPacketSizeMin, MaxPacketSizeMax, " bytes (1400 fits an Ethernet MTU)");
    }

    /// <summary>Checks the node list, the local node's name and the node count the arbiter mode allows; returns the node names.</summary>
    private HashSet<string> ValidateNodes(OptionsPath path)
    {
        if (Nodes.Count < 2)
        {
            path.Error(nameof(Nodes), OptionsPath.Described($"{Nodes.Count} node(s)"), "list at least two nodes, the local one included");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Nodes.Count; i++)
        {
            Nodes[i].Validate(path[nameof(Nodes)][i], names);
        }

        if (string.IsNullOrWhiteSpace(NodeName))
        {
            path.Error(nameof(NodeName), NodeName, $"set the local node name (one of: {string.Join(", ", names)}), e.g. --{path[nameof(NodeName)]}=a");
        }
        else if (!names.Contains(NodeName))
        {
            path.Error(nameof(NodeName), NodeName, $"not in {path[nameof(Nodes)]}; expected one of: {string.Join(", ", names)}");
        }

        ClusterRules.ModeFitsNodeCount(path, Arbiter.Mode, Nodes.Count);
        return names;
    }
}
