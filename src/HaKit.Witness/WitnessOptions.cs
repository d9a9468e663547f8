using HaKit.Wire;

namespace HaKit.Witness;

/// <summary>
/// Options of the witness server (configuration section <c>HaKit:Witness</c>): its name, where it listens, the longest lease it
/// grants, where it keeps the highest epoch of every group, and the clusters it serves.
/// </summary>
public sealed class WitnessOptions
{
    /// <summary>The configuration section the options are bound from.</summary>
    public const string Section = "HaKit:Witness";

    /// <summary>
    /// The witness's name: the envelope sender of its replies. The nodes must name it the same way
    /// (<c>HaKit:Arbiter:Witness:Name</c>) and it must not be a node name of any served cluster. <value>Default <c>witness</c>.</value>
    /// </summary>
    public string Name { get; set; } = "witness";

    /// <summary>The UDP endpoint to listen on, <c>ip:port</c> (<c>0.0.0.0:5405</c>, <c>[::]:5405</c>; port 0 picks a free port). <value>Default <c>0.0.0.0:5405</c>.</value></summary>
    public string Listen { get; set; } = "0.0.0.0:5405";

    /// <summary>
    /// The longest lease granted (longer requests are refused). Also how long the witness grants nothing after it starts: it may
    /// have granted a lease before a restart that it no longer remembers. <value>Default 30 s.</value>
    /// </summary>
    public TimeSpan MaxLeaseTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Where the highest epoch of every group is kept, one file per cluster (<c>&lt;cluster&gt;.state</c>), written and fsynced before a
    /// grant that raised an epoch is answered. <value>Default <c>/var/lib/hakit-witness</c>.</value>
    /// </summary>
    public string StateDirectory { get; set; } = "/var/lib/hakit-witness";

    /// <summary>
    /// The most groups the witness keeps an epoch for, per cluster. A vote request for a group it does not know yet is refused, with
    /// the reason, once a cluster has this many: every granted epoch is kept forever and the state file holding them is rewritten
    /// and fsynced before each answer that raised one, so a node that invented group names without end (a bug, or a stolen key)
    /// would otherwise grow the file and slow every grant. A real cluster has a few groups. <value>Default 1024.</value>
    /// </summary>
    public int MaxGroupsPerCluster { get; set; } = 1024;

    /// <summary>The clusters served, keyed by cluster name (one witness can serve many pairs).</summary>
    public List<WitnessClusterOptions> Clusters { get; set; } = [];

    /// <summary>Problems found while binding from configuration (reported by validation with their keys).</summary>
    internal List<string> BindingErrors { get; } = [];
}

/// <summary>One cluster served by the witness.</summary>
public sealed class WitnessClusterOptions
{
    /// <summary>The cluster name (the nodes' <c>HaKit:ClusterName</c>).</summary>
    public string Name { get; set; } = "";

    /// <summary>The cluster's node names (the nodes' <c>HaKit:Nodes[i].Name</c>): only their requests are answered.</summary>
    public List<string> Nodes { get; set; } = [];

    /// <summary>The cluster's shared keys (the nodes' <c>HaKit:Auth</c>): requests are checked and replies signed with them.</summary>
    public AuthOptions Auth { get; set; } = new();
}
