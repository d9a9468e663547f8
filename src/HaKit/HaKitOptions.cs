using HaKit.Detection;

namespace HaKit;

/// <summary>
/// Everything a HaKit node needs to know: the cluster (Heartbeat's <c>ha.cf</c>), its groups (<c>haresources</c>)
/// and its keys (<c>authkeys</c>). One file can describe the whole cluster; <see cref="NodeName"/> picks the local node.
/// Bound from the <c>HaKit</c> configuration section by the hosting package; validated by <see cref="HaKitOptionsValidator"/>.
/// </summary>
public sealed class HaKitOptions
{
    /// <summary>The timing preset these options started from (<see cref="HaKitPresets.Apply"/>); explicit <see cref="Timing"/> values override it. <value>Default <see cref="HaKitPreset.Lan"/>.</value></summary>
    public HaKitPreset Preset { get; set; } = HaKitPreset.Lan;

    /// <summary>Cluster name. Packets carrying another cluster name are dropped. <value>Default <c>hakit</c>.</value></summary>
    public string ClusterName { get; set; } = "hakit";

    /// <summary>The local node's name; must be one of <see cref="Nodes"/>.</summary>
    public string NodeName { get; set; } = "";

    /// <summary>All nodes of the cluster, the local one included (Heartbeat's <c>node</c> lines).</summary>
    public List<NodeOptions> Nodes { get; set; } = [];

    /// <summary>Heartbeat links (Heartbeat's <c>ucast</c>/<c>mcast</c> lines). At least one.</summary>
    public List<LinkOptions> Links { get; set; } = [];

    /// <summary>Heartbeat timing (<c>keepalive</c>, <c>warntime</c>, <c>deadtime</c>, <c>initdead</c>).</summary>
    public TimingOptions Timing { get; set; } = new();

    /// <summary>Which failure detector to use and its parameters.</summary>
    public DetectorOptions Detector { get; set; } = new();

    /// <summary>Shared keys for packet authentication (<c>authkeys</c>).</summary>
    public AuthOptions Auth { get; set; } = new();

    /// <summary>Resource groups (<c>haresources</c> lines).</summary>
    public List<GroupOptions> Groups { get; set; } = [];

    /// <summary>Tie-breaking when peers cannot see each other.</summary>
    public ArbiterOptions Arbiter { get; set; } = new();

    /// <summary>Fencing: timeouts and the built-in agents configured as fencing levels (more agents can be registered in code).</summary>
    public FencingOptions Fencing { get; set; } = new();

    /// <summary>Directory of the durable state file (<c>&lt;NodeName&gt;.state</c>: incarnation and epochs). <value>Default <c>hakit-state</c>.</value></summary>
    public string StateDirectory { get; set; } = "hakit-state";

    /// <summary>
    /// Linux real-time round-robin priority (<c>SCHED_RR</c>, 1..99) for every thread of the process, applied at start;
    /// 0 leaves scheduling alone. Like corosync, this keeps heartbeats on time when other processes saturate the CPUs:
    /// without it a short dead time (the <see cref="HaKitPreset.Fast"/> preset) can fail over falsely on a busy machine.
    /// Needs root or CAP_SYS_NICE; a refusal is logged as a warning. Use only for processes that do not spin.
    /// <value>Default 0 (off). Range 0..99.</value>
    /// </summary>
    public int RealtimePriority { get; set; }

    /// <summary>
    /// Compile the takeover path ahead of time: at start-up a background thread (below normal priority, never real-time) prepares
    /// the code of HaKit, Polly and the registered resources' assemblies, so the first takeover in a process does not wait for the
    /// just-in-time compiler. <value>Default <see langword="true"/>.</value>
    /// </summary>
    public bool WarmUp { get; set; } = true;

    /// <summary>Largest packet sent or accepted, in bytes; larger packets are dropped as oversized. <value>Default 1400 (fits an Ethernet MTU). Range 256..65507.</value></summary>
    public int MaxPacketSize { get; set; } = 1400;
}

/// <summary>One node of the cluster.</summary>
public sealed class NodeOptions
{
    /// <summary>Unique node name (like <c>uname -n</c> in <c>ha.cf</c>).</summary>
    public string Name { get; set; } = "";

    /// <summary>Priority: breaks ties in the split-brain rule and picks the default owner of groups without a preferred node (higher wins). <value>Default 100. Range 0..65535.</value></summary>
    public int Priority { get; set; } = 100;

    /// <summary>This node's endpoint per link name (<c>ip:port</c> for UDP unicast; the local interface address for multicast).</summary>
    public Dictionary<string, string> Addresses { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>The kind of a heartbeat link.</summary>
public enum LinkKind
{
    /// <summary>UDP unicast: bind to the local node's address, send to every peer's address (Heartbeat <c>ucast</c>).</summary>
    Udp = 0,

    /// <summary>UDP multicast: join <see cref="LinkOptions.Group"/> on the local node's interface address (Heartbeat <c>mcast</c>).</summary>
    Multicast = 1,
}

/// <summary>One heartbeat link.</summary>
public sealed class LinkOptions
{
    /// <summary>Link name, unique in the cluster (for example <c>lan0</c>); the key of <see cref="NodeOptions.Addresses"/>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Link kind. <value>Default <see cref="LinkKind.Udp"/>.</value></summary>
    public LinkKind Kind { get; set; } = LinkKind.Udp;

    /// <summary>Multicast group address (for example <c>239.255.42.1</c>). Multicast only.</summary>
    public string? Group { get; set; }

    /// <summary>Multicast UDP port. Multicast only. <value>Range 1..65535.</value></summary>
    public int Port { get; set; }

    /// <summary>Multicast TTL. <value>Default 1 (stay on the local segment). Range 1..255.</value></summary>
    public int Ttl { get; set; } = 1;
}

/// <summary>Heartbeat timing, in Heartbeat's terms.</summary>
public sealed class TimingOptions
{
    /// <summary>Time between heartbeats on each link (<c>keepalive</c>). <value>Default 200 ms.</value></summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Silence after which a peer is Suspect and a warning is logged (<c>warntime</c>). <value>Default 500 ms.</value></summary>
    public TimeSpan WarnTime { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Silence after which a peer is Dead on a link (<c>deadtime</c>). Must be at least twice <see cref="Interval"/>. <value>Default 800 ms.</value></summary>
    public TimeSpan DeadTime { get; set; } = TimeSpan.FromMilliseconds(800);

    /// <summary>Dead time used at start-up before a peer was ever heard (<c>initdead</c>); no group is taken over before it passes or every peer was heard. <value>Default 3 s.</value></summary>
    public TimeSpan InitialDeadTime { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>How often the core is ticked. <value>Default: <see cref="Interval"/> / 4, at least 1 ms.</value></summary>
    public TimeSpan? TickInterval { get; set; }

    /// <summary>A tick arriving this much later than due means the local node was stalled; the stall is not counted against peers. <value>Default: <see cref="Interval"/>.</value></summary>
    public TimeSpan? LocalPauseThreshold { get; set; }

    /// <summary>The effective tick interval.</summary>
    public TimeSpan EffectiveTickInterval => TickInterval ?? TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerMillisecond, Interval.Ticks / 4));

    /// <summary>The effective local pause threshold.</summary>
    public TimeSpan EffectiveLocalPauseThreshold => LocalPauseThreshold ?? Interval;
}

/// <summary>Which failure detector decides that a peer is dead.</summary>
public enum DetectorKind
{
    /// <summary>Fixed timeouts: Suspect after <see cref="TimingOptions.WarnTime"/>, Dead after <see cref="TimingOptions.DeadTime"/>.</summary>
    Fixed = 0,

    /// <summary>Adaptive phi-accrual detector (Hayashibara et al.), as used by Akka and Cassandra.</summary>
    PhiAccrual = 1,
}

/// <summary>Failure detector settings.</summary>
public sealed class DetectorOptions
{
    /// <summary>Detector kind. <value>Default <see cref="DetectorKind.Fixed"/>.</value></summary>
    public DetectorKind Kind { get; set; } = DetectorKind.Fixed;

    /// <summary>Phi at or above which a peer is Dead. <value>Default 8. Range (0, 100].</value></summary>
    public double PhiThreshold { get; set; } = 8;

    /// <summary>Phi at or above which a peer is Suspect. <value>Default 3. Must be below <see cref="PhiThreshold"/>.</value></summary>
    public double PhiSuspectThreshold { get; set; } = 3;

    /// <summary>Lower bound of the inter-arrival standard deviation, so a perfectly regular history does not make phi explode. <value>Default 50 ms.</value></summary>
    public TimeSpan MinStdDeviation { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Extra pause tolerated on top of the mean inter-arrival time. <value>Default 0.</value></summary>
    public TimeSpan AcceptablePause { get; set; } = TimeSpan.Zero;

    /// <summary>Inter-arrival samples kept. <value>Default 200. Range 2..10000.</value></summary>
    public int MaxSamples { get; set; } = 200;
}

/// <summary>One shared key (<c>authkeys</c> line): an id and a secret.</summary>
public sealed class AuthKeyOptions
{
    /// <summary>Key id carried in every packet. <value>Range 1..4294967295.</value></summary>
    public uint Id { get; set; }

    /// <summary>The secret, base64-encoded; at least 32 bytes once decoded (<c>openssl rand -base64 32</c>).</summary>
    public string Secret { get; set; } = "";
}

/// <summary>Packet authentication: HMAC-SHA256 with key ids, so keys can be rotated without downtime.</summary>
public sealed class AuthOptions
{
    /// <summary>Accepted keys. Several may be accepted at once during a rotation.</summary>
    public List<AuthKeyOptions> Keys { get; set; } = [];

    /// <summary>The key id used to sign outgoing packets; must be one of <see cref="Keys"/>.</summary>
    public uint SendKeyId { get; set; }
}

/// <summary>One resource group (a <c>haresources</c> line / Pacemaker group).</summary>
public sealed class GroupOptions
{
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

    /// <summary>Restarts allowed on this node within <see cref="FailureWindow"/> before the group moves away (Pacemaker's <c>migration-threshold</c>). <value>Default 3. Range 0..1000.</value></summary>
    public int MaxRestarts { get; set; } = 3;

    /// <summary>Window in which restarts are counted (Pacemaker's <c>failure-timeout</c>). <value>Default 10 min.</value></summary>
    public TimeSpan FailureWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Delay before a restart attempt. <value>Default 0.</value></summary>
    public TimeSpan RestartDelay { get; set; } = TimeSpan.Zero;

    /// <summary>Names of the resources in start order (used by the hosting package to resolve registered resources).</summary>
    public List<string> Resources { get; set; } = [];
}

/// <summary>How the cluster breaks ties.</summary>
public enum ArbiterMode
{
    /// <summary>Heartbeat's classic two-node mode: a dead peer is taken over if a reachability target answers (when configured) and fencing (when configured) succeeded.</summary>
    TwoNode = 0,

    /// <summary>
    /// Ownership is an etcd lease-backed key per group (Patroni's and Kubernetes leader election's way): any number of
    /// nodes, the key's create revision is the epoch, and nobody starts a group without holding its lease. Needs the
    /// <c>HaKit.Etcd</c> package (or another <see cref="Arbitration.ILeaseStore"/>) and <see cref="ArbiterOptions.Etcd"/>.
    /// </summary>
    Etcd = 1,

    /// <summary>
    /// Two nodes and a witness (<c>HaKit.Witness</c>, like corosync's qnetd) as three voters: a node owns a group only while
    /// a majority (itself and its peer, or itself and the witness) granted it a lease; each voter grants at most one
    /// unexpired lease per group. A witness outage does not disturb a healthy pair. Needs <see cref="ArbiterOptions.Witness"/>.
    /// </summary>
    Witness = 2,
}

/// <summary>Witness settings (<see cref="ArbiterMode.Witness"/>).</summary>
public sealed class WitnessArbiterOptions
{
    /// <summary>The witness's UDP endpoint, <c>ip:port</c> (for example <c>10.0.0.9:5405</c>). <value>Required in Witness mode.</value></summary>
    public string Endpoint { get; set; } = "";

    /// <summary>The witness's name: the sender name in its signed replies (its <c>HaKit:Witness:Name</c>); must differ from every node name. <value>Default <c>witness</c>.</value></summary>
    public string Name { get; set; } = "witness";

    /// <summary>Local address to send witness requests from (<c>ip</c> or <c>ip:port</c>). <value>Default: any address, an ephemeral port.</value></summary>
    public string LocalAddress { get; set; } = "";

    /// <summary>How long a vote waits for the peer's and the witness's answers before it counts the missing ones as unknown. <value>Default 250 ms.</value></summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>Etcd settings (<see cref="ArbiterMode.Etcd"/>).</summary>
public sealed class EtcdArbiterOptions
{
    /// <summary>Client URLs of the etcd cluster (<c>http://10.0.0.5:2379</c>), all http or all https; calls are spread over the members that are connected and one that is down is passed over. <value>Default: none.</value></summary>
    public List<string> Endpoints { get; set; } = [];

    /// <summary>Key prefix; group <c>g</c> of cluster <c>c</c> is owned through <c>{KeyPrefix}/c/groups/g</c>. <value>Default <c>/hakit</c>.</value></summary>
    public string KeyPrefix { get; set; } = "/hakit";

    /// <summary>Timeout of one etcd call. <value>Default 1 s (under a third of the default 5 s lease).</value></summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Arbiter settings.</summary>
public sealed class ArbiterOptions
{
    /// <summary>Arbiter mode. <value>Default <see cref="ArbiterMode.TwoNode"/>.</value></summary>
    public ArbiterMode Mode { get; set; } = ArbiterMode.TwoNode;

    /// <summary>TwoNode mode: reachability targets (<c>host:port</c>, probed by TCP connect; Heartbeat's <c>ping</c> nodes). A takeover after a peer death requires at least one to answer. <value>Default: none.</value></summary>
    public List<string> PingTargets { get; set; } = [];

    /// <summary>Timeout of one reachability probe. <value>Default 1 s.</value></summary>
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait before asking again after a refusal. <value>Default 1 s.</value></summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Lease modes: the lease time to live asked of the arbiter. A dead owner's group is free this long after its last renewal (renewals every third of it). <value>Default 5 s.</value></summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Lease modes: the holder stops its group this long before its lease can have expired at the grantor (covers clock-rate drift between the two). <value>Default 500 ms.</value></summary>
    public TimeSpan LeaseDriftMargin { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Etcd mode settings.</summary>
    public EtcdArbiterOptions Etcd { get; set; } = new();

    /// <summary>Witness mode settings.</summary>
    public WitnessArbiterOptions Witness { get; set; } = new();
}

/// <summary>Fencing settings.</summary>
public sealed class FencingOptions
{
    /// <summary>Timeout of one fence agent call. <value>Default 60 s.</value></summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Delay before retrying after every agent failed. <value>Default 5 s.</value></summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Built-in fence agents (<see cref="FenceAgentType.Script"/>, <see cref="FenceAgentType.Http"/>) as fencing levels: tried in
    /// list order, before the agents registered in code (<see cref="ClusterNodeServices.FenceAgents"/>). <value>Default: none.</value>
    /// </summary>
    public List<FenceAgentOptions> Agents { get; set; } = [];
}

/// <summary>The kind of a built-in fence agent.</summary>
public enum FenceAgentType
{
    /// <summary><see cref="Fencing.ScriptFenceAgent"/>: runs an executable (<c>&lt;command&gt; [args] off &lt;node&gt;</c>, then <c>status</c>).</summary>
    Script = 1,

    /// <summary><see cref="Fencing.HttpFenceAgent"/>: POSTs to a URL (a power switch, a cloud API gateway), then optionally GETs a status URL.</summary>
    Http = 2,
}

/// <summary>One built-in fence agent (one fencing level), <c>HaKit:Fencing:Agents:&lt;n&gt;</c>.</summary>
public sealed class FenceAgentOptions
{
    /// <summary>Unique agent name, used in logs and fence explanations. <value>Required.</value></summary>
    public string Name { get; set; } = "";

    /// <summary>The agent kind. <value>Required: <c>Script</c> or <c>Http</c>.</value></summary>
    public FenceAgentType? Type { get; set; }

    /// <summary>The nodes this agent can fence (Pacemaker's <c>pcmk_host_list</c>); other nodes are skipped ("not for node x"). <value>Default: empty = every node.</value></summary>
    public List<string> Nodes { get; set; } = [];

    /// <summary>Script: the executable (absolute path recommended). It is run directly, without a shell. <value>Required for Script.</value></summary>
    public string Command { get; set; } = "";

    /// <summary>Script: arguments placed before the action and the node (<c>command args... off node</c>), passed as is (no shell interpretation). <value>Default: none.</value></summary>
    public List<string> Arguments { get; set; } = [];

    /// <summary>Confirm the node is off after a successful fence (Script: run the <c>status</c> action; Http: GET <see cref="StatusUrl"/> when set). <value>Default <see langword="true"/>.</value></summary>
    public bool Confirm { get; set; } = true;

    /// <summary>Http: absolute http/https URL template POSTed to fence; <c>{node}</c> and <c>{cluster}</c> are replaced (URI-escaped). Must contain <c>{node}</c>. <value>Required for Http.</value></summary>
    public string Url { get; set; } = "";

    /// <summary>Http: optional status URL template (GET), confirmed when the JSON body has <c>"state": "off"</c>. <value>Default: none (no confirmation).</value></summary>
    public string StatusUrl { get; set; } = "";

    /// <summary>Http: optional bearer token sent as <c>Authorization: Bearer …</c>; never logged nor shown in explanations. <value>Default: none.</value></summary>
    public string BearerToken { get; set; } = "";
}
