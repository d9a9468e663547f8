namespace HaKit;

/// <summary>One node of the cluster.</summary>
public sealed class NodeOptions
{
    /// <summary>Lowest allowed <see cref="Priority"/>.</summary>
    public const int PriorityMin = 0;

    /// <summary>Highest allowed <see cref="Priority"/> (it travels as 16 bits).</summary>
    public const int PriorityMax = 65535;

    /// <summary>Unique node name (like <c>uname -n</c> in <c>ha.cf</c>).</summary>
    public string Name { get; set; } = "";

    /// <summary>Priority: breaks ties in the split-brain rule and picks the default owner of groups without a preferred node (higher wins). <value>Default 100. Range <see cref="PriorityMin"/>..<see cref="PriorityMax"/>.</value></summary>
    public int Priority { get; set; } = 100;

    /// <summary>This node's endpoint per link name (<c>ip:port</c> for UDP unicast; the local interface address for multicast).</summary>
    public Dictionary<string, string> Addresses { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Checks this node's own values; adds its name to <paramref name="names"/> (reporting a duplicate).</summary>
    internal void Validate(OptionsPath path, HashSet<string> names)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            path.Error(nameof(Name), Name, "every node needs a unique, non-empty name");
        }
        else if (!names.Add(Name))
        {
            path.Error(nameof(Name), Name, "the node is listed twice; node names must be unique");
        }

        path.InRange(nameof(Priority), Priority, PriorityMin, PriorityMax);
    }
}
