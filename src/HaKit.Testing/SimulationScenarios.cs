using HaKit.Replication;

namespace HaKit.Testing;

/// <summary>Arbiter and fencing set-ups the seed sweep covers.</summary>
public enum ArbiterSetup
{
    /// <summary>TwoNode, no ping targets, no fencing.</summary>
    TwoNodePlain = 0,

    /// <summary>TwoNode with ping targets (their outages deny takeovers).</summary>
    TwoNodePing = 1,

    /// <summary>TwoNode with two fence levels.</summary>
    TwoNodeFencing = 2,

    /// <summary>TwoNode with ping targets and two fence levels.</summary>
    TwoNodePingFencing = 3,

    /// <summary>Etcd mode, two nodes (a simulated etcd with lease-store outages and node-to-store cuts).</summary>
    Etcd = 4,

    /// <summary>Etcd mode, three nodes.</summary>
    EtcdThreeNodes = 5,

    /// <summary>Witness mode: two nodes and the simulated witness (crash-restarts, cuts both ways and one way).</summary>
    Witness = 6,

    /// <summary>TwoNode with ping targets and ipfail on (<see cref="SimulationScenarios.UseIpfail"/>): a node that alone loses its
    /// targets (<see cref="FaultProfile.TargetLossRate"/>) hands its groups to the peer. Its own seed range (<see cref="SimulationScenarios.ForIpfailSeed"/>).</summary>
    TwoNodeIpfail = 7,
}

/// <summary>The named fault mixes and the seed → scenario mapping used by the runner and the CI seed range.</summary>
public static class SimulationScenarios
{
    /// <summary>The fault mixes, in the order seeds cycle through them.</summary>
    public static IReadOnlyList<string> Mixes { get; } = ["network", "partitions", "crashes", "resources", "everything", "operator", "tamper"];

    /// <summary>A fault profile by name: <c>network</c> (loss, delay with jitter, duplication, reordering, replays, link cuts),
    /// <c>partitions</c> (one-way and two-way cuts, full partitions, ping outages; with ipfail on, one node losing its ping targets), <c>crashes</c> (crash and restart, stalls, clock
    /// drift, fence failures), <c>resources</c> (slow, hanging and failing starts, stops and monitors; persist failures) or
    /// <c>everything</c> (all of them, lighter; no operator actions) or <c>operator</c> (switchovers with and without a target,
    /// standby on/off, maintenance on/off and graceful shutdowns, with light packet loss and delay and occasional link cuts and crashes)
    /// or <c>tamper</c> (processes killed in the middle of executing a batch of commands, crashes and stalls; in Etcd mode also an
    /// outsider's hand on the store: keys deleted, leases revoked, a key re-created under another lease with the same node name,
    /// watch streams that fail or replay; light loss and store cuts).</summary>
    /// <param name="name">The mix.</param>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    public static FaultProfile Mix(string name) => name switch
    {
        "network" => new FaultProfile
        {
            Name = name,
            Loss = 0.15,
            Delay = 0.1,
            Duplicate = 0.05,
            Reorder = 0.05,
            Replay = 0.02,
            LinkCutRate = 0.3,
            OneWayFraction = 0.5,
        },
        "partitions" => new FaultProfile
        {
            Name = name,
            Loss = 0.02,
            LinkCutRate = 0.5,
            OneWayFraction = 0.5,
            PartitionRate = 0.25,
            PingOutageRate = 0.2,
            TargetLossRate = 0.2,
        },
        "crashes" => new FaultProfile
        {
            Name = name,
            Loss = 0.02,
            CrashRate = 0.15,
            StallRate = 0.15,
            MaxClockDrift = 0.05,
            PartitionRate = 0.05,
            FenceFailure = 0.3,
        },
        "resources" => new FaultProfile
        {
            Name = name,
            Loss = 0.02,
            PartitionRate = 0.05,
            PersistFailure = 0.1,
            Resources = new ResourceFaults { Slow = 0.05, Hang = 0.03, Transient = 0.04, PermanentOnNode = 0.005, Fatal = 0.002 },
        },
        "everything" => new FaultProfile
        {
            Name = name,
            Loss = 0.05,
            Delay = 0.05,
            Duplicate = 0.02,
            Reorder = 0.02,
            Replay = 0.01,
            LinkCutRate = 0.15,
            PartitionRate = 0.1,
            CrashRate = 0.05,
            StallRate = 0.05,
            MaxClockDrift = 0.03,
            PingOutageRate = 0.1,
            TargetLossRate = 0.1,
            PersistFailure = 0.03,
            FenceFailure = 0.2,
            Resources = new ResourceFaults { Slow = 0.02, Hang = 0.01, Transient = 0.02, PermanentOnNode = 0.002, Fatal = 0.001 },
        },
        "operator" => new FaultProfile
        {
            Name = name,
            Loss = 0.02,
            Delay = 0.03,
            LinkCutRate = 0.05,
            OneWayFraction = 0.5,
            CrashRate = 0.02,
            SwitchoverRate = 0.4,
            SwitchoverTargetFraction = 0.5,
            StandbyRate = 0.15,
            MaintenanceRate = 0.1,
            ShutdownRate = 0.08,
            TargetLossRate = 0.1,
        },
        "tamper" => new FaultProfile
        {
            Name = name,
            Loss = 0.02,
            BatchCrash = 0.01,
            CrashRate = 0.05,
            StallRate = 0.05,
            StoreTamperRate = 0.3,
            WatchFailureRate = 0.2,
            WatchReplay = 0.1,
        },
        _ => throw new ArgumentException($"unknown fault mix '{name}'; known: {string.Join(", ", Mixes)}", nameof(name)),
    };

    /// <summary>The arbiter set-up a seed runs with (seed mod 4).</summary>
    /// <param name="seed">The seed.</param>
    public static ArbiterSetup SetupOf(int seed) => (ArbiterSetup)(int)((uint)seed % 4);

    /// <summary>
    /// Switches a cluster (such as <see cref="SimulationOptions.DefaultCluster"/>) to Etcd mode the way the lease scenarios run it:
    /// lease 2 s, drift margin 500 ms, etcd request time-out 500 ms (the simulator's own in-memory etcd answers), and optionally a
    /// third node <c>c</c>.
    /// </summary>
    /// <param name="cluster">The cluster options to change.</param>
    /// <param name="threeNodes">Add node <c>c</c>.</param>
    public static void UseEtcd(HaKitOptions cluster, bool threeNodes = false)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        cluster.Arbiter.Mode = ArbiterMode.Etcd;
        cluster.Arbiter.LeaseTtl = TimeSpan.FromSeconds(2);
        cluster.Arbiter.LeaseDriftMargin = TimeSpan.FromMilliseconds(500);
        cluster.Arbiter.Etcd.Endpoints.Add("http://etcd.simulated:2379");
        cluster.Arbiter.Etcd.RequestTimeout = TimeSpan.FromMilliseconds(500);
        if (threeNodes)
        {
            cluster.Nodes.Add(new NodeOptions { Name = "c", Priority = 100, Addresses = { ["lan0"] = "10.0.0.3:7400", ["lan1"] = "10.0.1.3:7400" } });
        }
    }

    /// <summary>
    /// Turns ipfail on the way the ipfail scenarios run it: two ICMP ping targets, probe time-out 150 ms, a round every 300 ms,
    /// a group moves after 3 rounds below a peer (target-loss faults come from <see cref="FaultProfile.TargetLossRate"/>).
    /// </summary>
    /// <param name="cluster">The cluster options to change.</param>
    public static void UseIpfail(HaKitOptions cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        cluster.Arbiter.PingTargets = ["icmp:192.0.2.1", "icmp:192.0.2.2"];
        cluster.Arbiter.PingTimeout = TimeSpan.FromMilliseconds(150);
        cluster.Arbiter.Ipfail.Enabled = true;
        cluster.Arbiter.Ipfail.Interval = TimeSpan.FromMilliseconds(300);
        cluster.Arbiter.Ipfail.Rounds = 3;
    }

    /// <summary>
    /// Switches a two-node cluster to Witness mode the way the witness scenarios run it: lease 2 s, drift margin 500 ms, vote
    /// time-out 250 ms, the witness named <c>witness</c>.
    /// </summary>
    /// <param name="cluster">The cluster options to change.</param>
    public static void UseWitness(HaKitOptions cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        cluster.Arbiter.Mode = ArbiterMode.Witness;
        cluster.Arbiter.LeaseTtl = TimeSpan.FromSeconds(2);
        cluster.Arbiter.LeaseDriftMargin = TimeSpan.FromMilliseconds(500);
        cluster.Arbiter.Witness.Endpoint = "10.0.0.9:5405";
        cluster.Arbiter.Witness.Name = "witness";
        cluster.Arbiter.Witness.RequestTimeout = TimeSpan.FromMilliseconds(250);
    }

    private static void BiasTowardsEdges(SimulationOptions options)
    {
        var f = options.Faults;
        var cluster = options.Cluster;
        var t = cluster.Timing;
        f.EdgeBias = 0.25;
        f.Name += "/edges";
        TimeSpan[] margins = [t.DeadTime, t.WarnTime, t.Interval, t.InitialDeadTime, t.EffectiveTickInterval, cluster.Arbiter.RetryInterval];
        foreach (var m in margins)
        {
            f.Edges.Add(m);
        }

        if (cluster.Arbiter.Mode is ArbiterMode.Etcd or ArbiterMode.Witness)
        {
            var lease = cluster.Arbiter.LeaseTtl;
            var margin = cluster.Arbiter.LeaseDriftMargin;
            f.Edges.Add(margin);
            f.Edges.Add(lease);
            f.Edges.Add(lease / 3);
            f.Edges.Add(lease - margin);
            if (cluster.Arbiter.Mode == ArbiterMode.Witness)
            {
                f.Edges.Add(cluster.Arbiter.Witness.RequestTimeout);
            }

            // The longest stall the margin covers when both clocks sit at the drift bound: the owner's lease runs on its own clock.
            var covered = margin - TimeSpan.FromTicks((long)(lease.Ticks * f.MaxClockDrift * 2));
            if (covered > f.StallDuration.Max)
            {
                f.StallDuration = new DurationRange(f.StallDuration.Min, covered);
            }

            f.Edges.Add(covered);
        }
    }

    /// <summary>Witness mode: the scenario of a seed (the fault mix <c>seed mod</c> the number of <see cref="Mixes"/>).</summary>
    /// <param name="seed">The seed.</param>
    public static SimulationOptions ForWitnessSeed(int seed) => Create(seed, ArbiterSetup.Witness, Mixes[(int)((uint)seed % (uint)Mixes.Count)], IsEdgeBiased(seed));

    /// <summary>ipfail: the scenario of a seed (<see cref="ArbiterSetup.TwoNodeIpfail"/>, the fault mix <c>seed mod</c> the number of
    /// <see cref="Mixes"/>; target losses in the partitions, everything and operator mixes).</summary>
    /// <param name="seed">The seed.</param>
    public static SimulationOptions ForIpfailSeed(int seed) => Create(seed, ArbiterSetup.TwoNodeIpfail, Mixes[(int)((uint)seed % (uint)Mixes.Count)], IsEdgeBiased(seed));

    /// <summary>Lease modes: the set-up a seed runs with (even seeds two nodes, odd seeds three).</summary>
    /// <param name="seed">The seed.</param>
    public static ArbiterSetup LeaseSetupOf(int seed) => (uint)seed % 2 == 0 ? ArbiterSetup.Etcd : ArbiterSetup.EtcdThreeNodes;

    /// <summary>Lease modes: the scenario of a seed (<see cref="LeaseSetupOf"/>, and the fault mix <c>(seed / 2) mod</c> the number of <see cref="Mixes"/>).</summary>
    /// <param name="seed">The seed.</param>
    public static SimulationOptions ForLeaseSeed(int seed) => Create(seed, LeaseSetupOf(seed), Mixes[(int)((uint)seed / 2 % (uint)Mixes.Count)], IsEdgeBiased(seed));

    /// <summary>The two-node set-ups replication seeds cycle through (every set-up but <see cref="ArbiterSetup.EtcdThreeNodes"/>:
    /// a group replicates between two nodes).</summary>
    public static IReadOnlyList<ArbiterSetup> ReplicationSetups { get; } =
        [ArbiterSetup.TwoNodePlain, ArbiterSetup.TwoNodePing, ArbiterSetup.TwoNodeFencing, ArbiterSetup.TwoNodePingFencing, ArbiterSetup.Etcd, ArbiterSetup.Witness, ArbiterSetup.TwoNodeIpfail];

    /// <summary>Replication: the mode a seed runs with (seed mod 3: Durable, Received, Async).</summary>
    /// <param name="seed">The seed.</param>
    public static ReplicationMode ReplicationModeOf(int seed) => ((uint)seed % 3) switch
    {
        0 => ReplicationMode.Durable,
        1 => ReplicationMode.Received,
        _ => ReplicationMode.Async,
    };

    /// <summary>Replication: the set-up a seed runs with ((seed / 3) mod the number of <see cref="ReplicationSetups"/>).</summary>
    /// <param name="seed">The seed.</param>
    public static ArbiterSetup ReplicationSetupOf(int seed) => ReplicationSetups[(int)((uint)seed / 3 % (uint)ReplicationSetups.Count)];

    /// <summary>Replication: the fault mix a seed runs with ((seed / 21) mod the number of <see cref="Mixes"/>).</summary>
    /// <param name="seed">The seed.</param>
    public static string ReplicationMixOf(int seed) => Mixes[(int)((uint)seed / 21 % (uint)Mixes.Count)];

    /// <summary>
    /// Replication: the scenario of a seed (<see cref="ReplicationModeOf"/>, <see cref="ReplicationSetupOf"/>,
    /// <see cref="ReplicationMixOf"/>, edge-biased as <see cref="IsEdgeBiased"/>) with <see cref="SimulationOptions.Replication"/>
    /// on for the group <c>web</c>.
    /// </summary>
    /// <param name="seed">The seed.</param>
    public static SimulationOptions ForReplicationSeed(int seed) =>
        WithReplication(Create(seed, ReplicationSetupOf(seed), ReplicationMixOf(seed), IsEdgeBiased(seed)), ReplicationModeOf(seed));

    /// <summary>Turns replication on in <paramref name="options"/> (the first group, <paramref name="mode"/>); the scenario's
    /// name gets <c>/</c> and the mode.</summary>
    /// <param name="options">A two-node scenario.</param>
    /// <param name="mode">The replication mode.</param>
    /// <returns><paramref name="options"/>.</returns>
    public static SimulationOptions WithReplication(SimulationOptions options, ReplicationMode mode)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Replication = new ReplicationSimulationOptions { Mode = mode };
        options.Faults.Name += $"/{mode}";
        return options;
    }

    /// <summary>The fault mix a seed runs with ((seed / 4) mod the number of <see cref="Mixes"/>).</summary>
    /// <param name="seed">The seed.</param>
    public static string MixOf(int seed) => Mixes[(int)((uint)seed / 4 % (uint)Mixes.Count)];

    /// <summary>
    /// The scenario of a seed: its arbiter set-up and fault mix, and cluster variations drawn from the seed (equal or different
    /// priorities, auto-failback, a second group preferring the other node).
    /// </summary>
    /// <param name="seed">The seed.</param>
    public static SimulationOptions ForSeed(int seed) => Create(seed, SetupOf(seed), MixOf(seed), IsEdgeBiased(seed));

    /// <summary>
    /// A scenario from its parts: the seed (random source and cluster variations), the arbiter set-up and the fault mix.
    /// <see cref="ForSeed"/> picks the set-up and mix from the seed; use this to pin a scenario whose seed → mix mapping has
    /// since changed (a regression seed found under an earlier list of <see cref="Mixes"/>).
    /// </summary>
    /// <param name="seed">The seed.</param>
    /// <param name="setup">The arbiter and fencing set-up.</param>
    /// <param name="mix">A fault mix name from <see cref="Mixes"/>.</param>
    /// <exception cref="ArgumentException">Unknown mix.</exception>
    public static SimulationOptions Create(int seed, ArbiterSetup setup, string mix) => Create(seed, setup, mix, edgeBiased: false);

    /// <summary>Whether the seed sweeps run <paramref name="seed"/> edge-biased (one seed in five: <c>seed mod 5 = 4</c>).</summary>
    /// <param name="seed">The seed.</param>
    public static bool IsEdgeBiased(int seed) => (uint)seed % 5 == 4;

    /// <summary>
    /// A scenario from its parts, optionally edge-biased: a quarter of its duration draws land on an edge (a range's ends, or the
    /// scenario's margins — dead time, warn time, heartbeat interval, initial dead time, arbiter retry, tick; in lease modes the drift
    /// margin, the lease, its renewal third and its safe part; the witness's vote time-out — exactly or 1 ms either side), messages
    /// arrive in the same instant as the receiver's next timer, and clocks drift by exactly their bound. In lease modes the stalls
    /// then reach the longest one the drift margin covers at the drift bound (margin − drift × lease). The name ends in
    /// <c>/edges</c>.
    /// </summary>
    /// <param name="seed">The seed.</param>
    /// <param name="setup">The arbiter and fencing set-up.</param>
    /// <param name="mix">A fault mix name from <see cref="Mixes"/>.</param>
    /// <param name="edgeBiased">Whether to bias the draws towards the edges.</param>
    /// <exception cref="ArgumentException">Unknown mix.</exception>
    public static SimulationOptions Create(int seed, ArbiterSetup setup, string mix, bool edgeBiased)
    {
        if (!Enum.IsDefined(setup))
        {
            throw new ArgumentOutOfRangeException(nameof(setup), setup, $"unknown arbiter set-up {(int)setup}; known: {string.Join(", ", Enum.GetNames<ArbiterSetup>())}");
        }

        var faults = Mix(mix);
        var variation = new Random(unchecked(seed * 7919) ^ 0x5eed);
        var cluster = SimulationOptions.DefaultCluster();
        if (variation.Next(2) == 0)
        {
            cluster.Nodes[0].Priority = 200;
        }

        cluster.Groups[0].AutoFailback = variation.Next(2) == 0;
        cluster.Groups[0].FailbackDelay = TimeSpan.FromMilliseconds(variation.Next(0, 3) * 250);
        if (variation.Next(2) == 0)
        {
            cluster.Groups.Add(new GroupOptions
            {
                Name = "db",
                PreferredNode = "b",
                Resources = ["volume"],
                MonitorInterval = TimeSpan.FromMilliseconds(400),
                StartTimeout = TimeSpan.FromMilliseconds(250),
                StopTimeout = TimeSpan.FromMilliseconds(250),
                MonitorTimeout = TimeSpan.FromMilliseconds(150),
                MaxRestarts = 1,
                FailureWindow = TimeSpan.FromSeconds(4),
                RestartDelay = TimeSpan.FromMilliseconds(50),
            });
        }

        if (setup == ArbiterSetup.TwoNodeIpfail)
        {
            UseIpfail(cluster);
        }

        if (setup is ArbiterSetup.Etcd or ArbiterSetup.EtcdThreeNodes or ArbiterSetup.Witness)
        {
            if (setup == ArbiterSetup.Witness)
            {
                UseWitness(cluster);
            }
            else
            {
                UseEtcd(cluster, threeNodes: setup == ArbiterSetup.EtcdThreeNodes);
            }

            // The store's own faults. A process stall longer than the drift margin would outlive the lease (an owner frozen past
            // its expiry still looks Active): that needs a watchdog, as Patroni uses; the simulated stalls stay shorter.
            faults.StoreOutageRate = 0.05;
            faults.StoreCutRate = 0.1;
            faults.StallDuration = DurationRange.Ms(50, 300);
            faults.MaxClockDrift = Math.Min(faults.MaxClockDrift, 0.05);
        }

        var options = new SimulationOptions
        {
            Seed = seed,
            Cluster = cluster,
            Faults = faults,
            PingTargets = setup is ArbiterSetup.TwoNodePing or ArbiterSetup.TwoNodePingFencing or ArbiterSetup.TwoNodeIpfail,
            FaultDuration = TimeSpan.FromSeconds(20),
        };
        if (setup is ArbiterSetup.TwoNodeFencing or ArbiterSetup.TwoNodePingFencing)
        {
            options.FenceLevels.Add("ipmi");
            options.FenceLevels.Add("pdu");
        }

        options.Faults.Name = $"{setup}/{mix}";
        if (edgeBiased)
        {
            BiasTowardsEdges(options);
        }

        return options;
    }
}
