using System.Globalization;

namespace HaKit;

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

/// <summary>Arbiter settings.</summary>
public sealed class ArbiterOptions
{
    /// <summary>Lease modes: the holder renews every <see cref="LeaseTtl"/> / <see cref="RenewalsPerLease"/>; request timeouts and the drift margin must fit into one such period.</summary>
    public const int RenewalsPerLease = 3;

    /// <summary>Etcd mode: the shortest <see cref="LeaseTtl"/> (etcd grants leases in whole seconds, with a minimum near 2 s).</summary>
    public static readonly TimeSpan EtcdLeaseTtlMin = TimeSpan.FromSeconds(2);

    /// <summary>Witness mode: the shortest <see cref="LeaseTtl"/>.</summary>
    public static readonly TimeSpan WitnessLeaseTtlMin = TimeSpan.FromMilliseconds(500);

    /// <summary>Witness mode: <see cref="LeaseTtl"/> spans at least this many heartbeat intervals (<see cref="TimingOptions.Interval"/>), since votes to the peer travel with heartbeats.</summary>
    public const int WitnessLeaseTtlMinIntervals = 4;

    /// <summary>Arbiter mode. <value>Default <see cref="ArbiterMode.TwoNode"/>.</value></summary>
    public ArbiterMode Mode { get; set; } = ArbiterMode.TwoNode;

    /// <summary>
    /// Reachability targets (Heartbeat's <c>ping</c> nodes): <c>icmp:host</c> (ICMP echo), <c>tcp:host:port</c> or <c>host:port</c>
    /// (TCP connect). TwoNode mode: a takeover after a peer death requires at least one to answer. With <see cref="Ipfail"/> on (any
    /// mode): every node probes them in rounds and a group moves to a peer that reaches more of them. <value>Default: none.</value>
    /// </summary>
    public List<string> PingTargets { get; set; } = [];

    /// <summary>Timeout of one reachability probe. <value>Default 1 s.</value></summary>
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait before asking again after a refusal. <value>Default 1 s.</value></summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Lease modes: the lease time to live asked of the arbiter. A dead owner's group is free this long after its last renewal
    /// (renewals every <see cref="RenewalsPerLease"/>th of it). <value>Default 5 s. Etcd: whole seconds, at least
    /// <see cref="EtcdLeaseTtlMin"/>. Witness: at least <see cref="WitnessLeaseTtlMin"/> and <see cref="WitnessLeaseTtlMinIntervals"/> heartbeat intervals.</value>
    /// </summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Lease modes: the holder stops its group this long before its lease can have expired at the grantor (covers clock-rate drift between the two). <value>Default 500 ms. At least 0, below <see cref="LeaseTtl"/> / <see cref="RenewalsPerLease"/>.</value></summary>
    public TimeSpan LeaseDriftMargin { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>ipfail: reachability of <see cref="PingTargets"/> moves groups to the node that reaches more of them.</summary>
    public IpfailOptions Ipfail { get; set; } = new();

    /// <summary>Etcd mode settings.</summary>
    public EtcdArbiterOptions Etcd { get; set; } = new();

    /// <summary>Witness mode settings.</summary>
    public WitnessArbiterOptions Witness { get; set; } = new();

    /// <summary>Checks the arbiter settings; the etcd and witness sections only in their mode. <paramref name="nodeNames"/> are the configured nodes.</summary>
    internal void Validate(OptionsPath path, IReadOnlySet<string> nodeNames)
    {
        if (!Enum.IsDefined(Mode))
        {
            path.Error(nameof(Mode), Mode, "allowed: TwoNode, Etcd, Witness");
        }

        for (var i = 0; i < PingTargets.Count; i++)
        {
            if (!Arbitration.ReachabilityTarget.TryValidate(PingTargets[i], out var why))
            {
                path[nameof(PingTargets)][i].Error(PingTargets[i], $"must be {Arbitration.ReachabilityTarget.Syntax} ({why})");
            }
        }

        Ipfail.Validate(path[nameof(Ipfail)], this);

        path.Positive(nameof(PingTimeout), PingTimeout);
        path.Positive(nameof(RetryInterval), RetryInterval);
        if (Mode == ArbiterMode.Etcd)
        {
            if (LeaseTtl < EtcdLeaseTtlMin || LeaseTtl.Ticks % TimeSpan.TicksPerSecond != 0)
            {
                path.Error(nameof(LeaseTtl), LeaseTtl, $"must be whole seconds, at least {EtcdLeaseTtlMin.ToString("c", CultureInfo.InvariantCulture)} (etcd grants leases in whole seconds, with a minimum near 2 s); 5 to 15 s is usual");
            }

            if (LeaseDriftMargin < TimeSpan.Zero || LeaseDriftMargin >= LeaseTtl / RenewalsPerLease)
            {
                path.Error(nameof(LeaseDriftMargin), LeaseDriftMargin, $"must be at least 0 and less than a third of Arbiter:LeaseTtl ({LeaseTtl}): the holder renews every third of the lease and stops this long before it can have expired");
            }

            Etcd.Validate(path[nameof(Etcd)], LeaseTtl);
        }

        if (Mode == ArbiterMode.Witness)
        {
            if (LeaseDriftMargin < TimeSpan.Zero || LeaseDriftMargin >= LeaseTtl / RenewalsPerLease)
            {
                path.Error(nameof(LeaseDriftMargin), LeaseDriftMargin, $"must be at least 0 and less than a third of Arbiter:LeaseTtl ({LeaseTtl}): the holder renews every third of the lease and stops this long before it can have expired at a voter");
            }

            Witness.Validate(path[nameof(Witness)], LeaseTtl, nodeNames);
        }
    }
}
