namespace HaKit.Ownership;

/// <summary>A peer as the core sees it.</summary>
/// <param name="Name">Node name.</param>
/// <param name="Priority">Priority (higher wins ties).</param>
internal sealed record PeerConfig(string Name, int Priority);

/// <summary>A group as the core sees it.</summary>
/// <param name="Name">Group name.</param>
/// <param name="PreferredNode">Preferred node, if any.</param>
/// <param name="AutoFailback">Return to the preferred node when it is healthy.</param>
/// <param name="FailbackDelay">How long the preferred node must be healthy first.</param>
/// <param name="MonitorInterval">Time between monitor actions while Active.</param>
/// <param name="FailureWindow">How long a node stays ineligible after its restarts ran out.</param>
/// <param name="DiesWithProcess">Every resource of the group dies with the process that runs it (<see cref="IResource.DiesWithProcess"/>), so a
/// crash hint may start the takeover at once in TwoNode mode. Taken from the local node's resources: every node of a group runs the same resources.</param>
internal sealed record GroupConfig(string Name, string? PreferredNode, bool AutoFailback, TimeSpan FailbackDelay, TimeSpan MonitorInterval, TimeSpan FailureWindow, bool DiesWithProcess = false);

/// <summary>What a crash hint (<see cref="OwnershipCore.PeerProcessGone"/>) may do, by arbiter mode.</summary>
internal enum CrashHintPolicy
{
    /// <summary>The hint is only logged; the takeover waits for the dead time.</summary>
    Corroborate = 0,

    /// <summary>TwoNode mode: a qualified hint counts as the peer's death for groups whose resources all die with the process.</summary>
    Takeover = 1,

    /// <summary>Lease modes (Etcd, Witness): a qualified hint starts the acquisition at once; the arbiter still decides (a held lease has to expire).</summary>
    AskArbiter = 2,
}

/// <summary>Everything the ownership core needs, already validated.</summary>
internal sealed class CoreConfig
{
    /// <summary>The local node.</summary>
    public required string LocalNode { get; init; }

    /// <summary>The local node's priority.</summary>
    public int LocalPriority { get; init; } = 100;

    /// <summary>Every other node.</summary>
    public required IReadOnlyList<PeerConfig> Peers { get; init; }

    /// <summary>Link names (one detector per peer and link).</summary>
    public required IReadOnlyList<string> Links { get; init; }

    /// <summary>Groups.</summary>
    public required IReadOnlyList<GroupConfig> Groups { get; init; }

    /// <summary>Heartbeat interval.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Expected time between ticks.</summary>
    public TimeSpan TickInterval { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>A tick this much later than due counts as a local stall.</summary>
    public TimeSpan LocalPauseThreshold { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Whether fence agents are configured: a takeover from a dead owner then waits for a successful fence.</summary>
    public bool FencingConfigured { get; init; }

    /// <summary>Delay before asking the arbiter again after a refusal.</summary>
    public TimeSpan ArbiterRetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Delay before fencing again after a failure.</summary>
    public TimeSpan FenceRetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>During a graceful shutdown: how long to keep announcing a released group until its handoff target takes it, before reporting <see cref="ShutdownReady"/> anyway. <value>Default 2 × dead time.</value></summary>
    public TimeSpan HandoffConfirmTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>For lease-based arbiters: how long before the lease expires (on the grantor's clock) the holder stops its resources.</summary>
    public TimeSpan LeaseDriftMargin { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>What a crash hint may do (by arbiter mode). <value>Default <see cref="CrashHintPolicy.Corroborate"/>.</value></summary>
    public CrashHintPolicy CrashHint { get; init; }

    /// <summary>How long a crash hint waits for an answer to its probe before it counts (<see cref="TimingOptions.EffectiveCrashHintWindow"/>). <value>Default 10 ms.</value></summary>
    public TimeSpan CrashHintWindow { get; init; } = TimeSpan.FromMilliseconds(10);

    /// <summary>ipfail: the hysteresis window in probe rounds (<see cref="IpfailOptions.Rounds"/>); 0 = ipfail off (reachability moves nothing and is not announced).</summary>
    public int IpfailRounds { get; init; }

    /// <summary>Builds the core configuration from validated options.</summary>
    /// <param name="options">The node options.</param>
    /// <param name="fencingConfigured">Whether fence agents are registered.</param>
    /// <param name="diesWithProcess">Groups whose resources all die with the process (<see cref="IResource.DiesWithProcess"/>); <see langword="null"/>: none.</param>
    public static CoreConfig FromOptions(HaKitOptions options, bool fencingConfigured, IReadOnlySet<string>? diesWithProcess = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var local = options.Nodes.First(n => n.Name == options.NodeName);
        return new CoreConfig
        {
            LocalNode = local.Name,
            LocalPriority = local.Priority,
            Peers = options.Nodes.Where(n => n.Name != local.Name).Select(n => new PeerConfig(n.Name, n.Priority)).ToArray(),
            Links = options.Links.Select(l => l.Name).ToArray(),
            Groups = options.Groups.Select(g => new GroupConfig(g.Name, g.PreferredNode, g.AutoFailback, g.FailbackDelay, g.MonitorInterval, g.FailureWindow, diesWithProcess?.Contains(g.Name) == true)).ToArray(),
            Interval = options.Timing.Interval,
            TickInterval = options.Timing.EffectiveTickInterval,
            LocalPauseThreshold = options.Timing.EffectiveLocalPauseThreshold,
            FencingConfigured = fencingConfigured,
            ArbiterRetryInterval = options.Arbiter.RetryInterval,
            FenceRetryInterval = options.Fencing.RetryInterval,
            HandoffConfirmTimeout = 2 * options.Timing.DeadTime,
            LeaseDriftMargin = options.Arbiter.LeaseDriftMargin,
            CrashHint = options.Arbiter.Mode == ArbiterMode.TwoNode ? CrashHintPolicy.Takeover : CrashHintPolicy.AskArbiter,
            CrashHintWindow = options.Timing.EffectiveCrashHintWindow,
            IpfailRounds = options.Arbiter.Ipfail.Enabled ? options.Arbiter.Ipfail.Rounds : 0,
        };
    }
}
