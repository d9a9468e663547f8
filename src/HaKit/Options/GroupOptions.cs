namespace HaKit;

/// <summary>One resource group (a <c>haresources</c> line / Pacemaker group).</summary>
public sealed class GroupOptions
{
    /// <summary>Fewest allowed <see cref="MaxRestarts"/> (0 moves the group at the first failure).</summary>
    public const int MaxRestartsMin = 0;

    /// <summary>Most allowed <see cref="MaxRestarts"/>.</summary>
    public const int MaxRestartsMax = 1000;

    /// <summary>Group name, unique in the cluster.</summary>
    public string Name { get; set; } = "";

    /// <summary>Node that should run the group when it is healthy (the first node of a <c>haresources</c> line). <value>Default: none (highest priority node).</value></summary>
    public string? PreferredNode { get; set; }

    /// <summary>Move the group back to <see cref="PreferredNode"/> when it is healthy again (<c>auto_failback on</c>; keepalived preemption). <value>Default <see langword="false"/>.</value></summary>
    public bool AutoFailback { get; set; }

    /// <summary>How long the preferred node must be healthy before failback (keepalived's <c>preempt_delay</c>). <value>Default 0.</value></summary>
    public TimeSpan FailbackDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Time between monitor actions while Active. <value>Default 5 s.</value></summary>
    public TimeSpan MonitorInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Timeout of each resource's start. <value>Default 30 s.</value></summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of each resource's stop; a stop that times out blocks the group. <value>Default 30 s.</value></summary>
    public TimeSpan StopTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of each resource's monitor. <value>Default 10 s.</value></summary>
    public TimeSpan MonitorTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Restarts allowed on this node within <see cref="FailureWindow"/> before the group moves away (Pacemaker's <c>migration-threshold</c>). <value>Default 3. Range <see cref="MaxRestartsMin"/>..<see cref="MaxRestartsMax"/>.</value></summary>
    public int MaxRestarts { get; set; } = 3;

    /// <summary>Window in which restarts are counted (Pacemaker's <c>failure-timeout</c>). <value>Default 10 min.</value></summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Delay before a restart attempt. <value>Default 0.</value></summary>
    public TimeSpan RestartDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Names of the resources in start order (used by the hosting package to resolve registered resources).</summary>
    public List<string> Resources { get; set; } = [];

    /// <summary>Checks this group; adds its name to <paramref name="names"/> (reporting a duplicate). <paramref name="nodeNames"/> are the configured nodes.</summary>
    internal void Validate(OptionsPath path, HashSet<string> names, IReadOnlySet<string> nodeNames)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            path.Error(nameof(Name), Name, "every group needs a unique, non-empty name");
        }
        else if (!names.Add(Name))
        {
            path.Error(nameof(Name), Name, "the group is listed twice; group names must be unique");
        }

        if (PreferredNode is not null && !nodeNames.Contains(PreferredNode))
        {
            path.Error(nameof(PreferredNode), PreferredNode, $"not in {path.Absolute(nameof(HaKitOptions.Nodes))}; expected one of: {string.Join(", ", nodeNames)}, or leave it unset");
        }

        if (AutoFailback && PreferredNode is null)
        {
            path.Error(nameof(AutoFailback), AutoFailback, "auto-failback needs a PreferredNode to fail back to; set PreferredNode or turn AutoFailback off");
        }

        path.Positive(nameof(MonitorInterval), MonitorInterval);
        path.Positive(nameof(StartTimeout), StartTimeout);
        path.Positive(nameof(StopTimeout), StopTimeout);
        path.Positive(nameof(MonitorTimeout), MonitorTimeout);
        path.Positive(nameof(FailureWindow), FailureWindow);
        path.NotNegative(nameof(FailbackDelay), FailbackDelay);
        path.NotNegative(nameof(RestartDelay), RestartDelay);
        path.InRange(nameof(MaxRestarts), MaxRestarts, MaxRestartsMin, MaxRestartsMax, " (0 moves the group at the first failure)");

        var resourceNames = new HashSet<string>(StringComparer.Ordinal);
        for (var r = 0; r < Resources.Count; r++)
        {
            if (string.IsNullOrWhiteSpace(Resources[r]) || !resourceNames.Add(Resources[r]))
            {
                path[nameof(Resources)].Error(r.ToString(System.Globalization.CultureInfo.InvariantCulture), Resources[r], "resource names must be non-empty and unique within the group");
            }
        }
    }
}
