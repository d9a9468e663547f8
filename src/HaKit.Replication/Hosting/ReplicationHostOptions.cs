namespace HaKit.Replication;

/// <summary>
/// The replication settings of a node, bound from <c>HaKit:Replication</c> by <c>UseReplication()</c> and validated at start-up
/// (key, value and fix).
/// </summary>
public sealed class ReplicationHostOptions
{
    /// <summary>
    /// The replication address (ip:port) of each node of the pair, by node name (<c>HaKit:Nodes</c>): this node's entry is where
    /// its replication server listens, the other entry is the peer it replicates with. The same section on both nodes, as
    /// <c>HaKit:Nodes</c> is. One address per node carries every replicated group (one stream per group).
    /// </summary>
    public Dictionary<string, string> Addresses { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How long the dialing node waits between connection attempts. Default 200 ms.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>What carries the replication streams: <c>Tcp</c> (the default, a TCP connection per group) or <c>Grpc</c> (a gRPC
    /// stream per group over HTTP/2). The same on both nodes.</summary>
    public ReplicationProtocol Protocol { get; set; } = ReplicationProtocol.Tcp;

    /// <summary>TLS on the replication stream (a Grpc link's settings). Plaintext needs <c>AllowPlaintext: true</c> and loopback
    /// addresses only.</summary>
    public ReplicationTlsOptions Tls { get; set; } = new();

    /// <summary>The settings of each replicated group, by HaKit group name. A group registered in code without an entry here
    /// uses the defaults of <see cref="ReplicationGroupOptions"/>.</summary>
    public Dictionary<string, ReplicationGroupOptions> Groups { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Problems found while binding (unknown keys, values that do not convert).</summary>
    internal List<string> BindErrors { get; set; } = [];
}
