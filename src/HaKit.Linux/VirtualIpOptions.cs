namespace HaKit.Linux;

/// <summary>Settings of a <see cref="VirtualIp"/> (the keys of a <c>HaKit:Resources</c> entry of Type VirtualIp).</summary>
public sealed class VirtualIpOptions
{
    /// <summary>Resource name, unique within its group.</summary>
    public string Name { get; set; } = "";

    /// <summary>The address with its prefix length, IPv4 or IPv6 (<c>10.0.0.100/24</c>, <c>fd00::100/64</c>).</summary>
    public string Address { get; set; } = "";

    /// <summary>The interface (<c>eth0</c>).</summary>
    public string Interface { get; set; } = "";

    /// <summary>IPv4: the label suffix (IPaddr2's <c>iflabel</c>): the address shows as <c>eth0:&lt;label&gt;</c>. <value>Default: none.</value></summary>
    public string Label { get; set; } = "";

    /// <summary>IPv4: the broadcast address, or <c>+</c> to derive it from the prefix. <value>Default: none.</value></summary>
    public string Broadcast { get; set; } = "";

    /// <summary>Refuse an address another host answers for (IPv4 <c>arping -D</c>, IPv6 the kernel's DAD). <value>Default <see langword="true"/>.</value></summary>
    public bool DuplicateCheck { get; set; } = true;

    /// <summary>IPv4: how long the duplicate check waits for an answer. <value>Default 250 ms.</value></summary>
    public TimeSpan DuplicateCheckWait { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Addresses of the cluster's other nodes (their heartbeat addresses): a duplicate answered from one of their MAC addresses is a
    /// stale copy left by a crash on a node this one takes over from, not a foreign host, and is taken over (logged) instead of refused.
    /// <value>Default: none. From configuration: every address of every other node in <c>HaKit:Nodes</c>.</value>
    /// </summary>
    public List<string> PeerAddresses { get; set; } = [];

    /// <summary>Announcements after adding (gratuitous ARP / unsolicited neighbour advertisements). <value>Default 3.</value></summary>
    public int AnnounceCount { get; set; } = 3;

    /// <summary>The interval between announcements. <value>Default 200 ms.</value></summary>
    public TimeSpan AnnounceInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Runs every command inside this network namespace (<c>ip -n</c>, <c>ip netns exec</c>); for tests. IPv6 advertisements are not sent then.</summary>
    internal string? NetworkNamespace { get; set; }
}
