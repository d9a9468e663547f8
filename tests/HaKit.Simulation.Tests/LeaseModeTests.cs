using System.Collections.Concurrent;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Testing;

namespace HaKit.Simulation.Tests;

/// <summary>
/// Etcd mode under the simulator: the real core and the real <see cref="LeaseStoreArbiter"/> over <see cref="InMemoryLeaseStore"/>
/// (etcd's lease and transaction semantics on virtual time). The invariant that matters here is
/// <see cref="SingleActiveOwnerInvariant"/>: never two Starting/Active owners of a group at the same virtual instant.
/// </summary>
public sealed class LeaseModeTests
{
    /// <summary>How many lease-mode seeds CI runs (even seeds two nodes, odd seeds three; every fault mix plus store outages and cuts).</summary>
    public const int SeedCount = 2_000;

    private const int BatchSize = 1_000;

    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    private static IEnumerable<int> Batches() => Enumerable.Range(0, SeedCount / BatchSize).Select(b => b * BatchSize);

    [TestCaseSource(nameof(Batches))]
    public void Every_lease_seed_keeps_every_invariant(int from)
    {
        var failures = new ConcurrentBag<string>();
        Parallel.For(from, from + BatchSize, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, seed =>
        {
            using var sim = new HaKit.Testing.Simulation(SimulationScenarios.ForLeaseSeed(seed));
            var result = sim.Run();
            if (!result.Passed)
            {
                failures.Add($"seed {seed} ({result.Scenario}): {result.Violations[0]} | replay: dotnet run --project tests/HaKit.Simulation -- --arbiter etcd --seed {seed} --trace");
            }
        });

        Assert.That(failures.OrderBy(f => f, StringComparer.Ordinal), Is.Empty);
    }

    [Test]
    public void The_lease_scenarios_run_Etcd_mode_with_two_and_three_nodes_and_store_faults()
    {
        var two = SimulationScenarios.ForLeaseSeed(10);
        var three = SimulationScenarios.ForLeaseSeed(11);
        Assert.That(two.Cluster.Arbiter.Mode, Is.EqualTo(ArbiterMode.Etcd));
        Assert.That(two.Cluster.Nodes, Has.Count.EqualTo(2));
        Assert.That(three.Cluster.Nodes, Has.Count.EqualTo(3));
        Assert.That(two.Faults.StoreOutageRate, Is.GreaterThan(0));
        Assert.That(two.Faults.StoreCutRate, Is.GreaterThan(0));
        Assert.That(Invariants.Default(two).Select(i => i.Name), Does.Contain("single-active-owner").And.Not.Contain("two-node-dual-active"));
    }

    /// <summary>
    /// Seed 964 (Etcd/crashes): a, cut from the store, stopped its group when its lease ran out and asked the store to release it;
    /// its new claim (a thought b dead) reached the store first and re-confirmed the old key, then the release arrived and deleted
    /// it: a was Active without a key and b created one: two owners. Fixed: a process's arbiter calls reach the store in the order it
    /// issued them (ClusterNode issues them in command order; the simulator had let a later call overtake an earlier one).
    /// </summary>
    [Test]
    public void Seed964_a_release_is_not_overtaken_by_the_claim_after_it() =>
        RegressionSeeds.AssertScenarioPasses(964, ArbiterSetup.Etcd, "crashes", "(LeaseLost)");

    /// <summary>Seed 344 (Etcd/everything): the same overtaking, on group db.</summary>
    [Test]
    public void Seed344_a_release_is_not_overtaken_by_the_claim_after_it() =>
        RegressionSeeds.AssertScenarioPasses(344, ArbiterSetup.Etcd, "everything", "release arbiter for db");

    [Test]
    public void The_pair_cut_apart_does_not_move_the_group_while_the_owner_holds_its_lease()
    {
        using var sim = Start(out _);
        sim.CutBoth("a", "b");
        var bOwns = sim.RunUntil(s => s["b"].Role("web") is GroupRole.Starting or GroupRole.Active, 3 * Ttl);

        Assert.That(bOwns, Is.Null, "b took the group although a still holds its lease");
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Active));
        Assert.That(sim.Trace.Any(t => t.Node == "b" && t.Text.Contains("is held by node a", StringComparison.Ordinal)), Is.True, "b asked the store and was refused");
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void An_owner_cut_from_the_store_stops_before_its_lease_expires_then_the_peer_takes_over_with_a_higher_epoch()
    {
        using var sim = Start(out var epoch);
        var cutAt = sim.Now;
        sim.CutFromStore("a", cutAt + TimeSpan.FromSeconds(30));

        var stopped = sim.RunUntil(s => s["a"].Role("web") != GroupRole.Active, Ttl + TimeSpan.FromSeconds(1));
        Assert.That(stopped, Is.Not.Null, "a kept serving past its lease");
        // a's last renewal was sent at most a third of the lease before the cut; it stops at that send + lease - drift margin (1.5 s).
        var lastRenewal = sim.Trace.Last(t => t.Node == "a" && t.Text.Contains("Renew web: granted", StringComparison.Ordinal) && t.At <= cutAt).At;
        Assert.That(cutAt + stopped!.Value - lastRenewal, Is.InRange(TimeSpan.FromMilliseconds(1450), TimeSpan.FromMilliseconds(1550)), // renewal sent up to 20 ms before it reached the store; one 25 ms tick
            "a must keep serving on its lease while the store is unreachable, and stop a drift margin before the lease can have expired at the store");
        Assert.That(sim.Trace.Any(t => t.Node == "a" && t.Text.Contains("unavailable", StringComparison.Ordinal)), Is.True);

        var taken = sim.RunUntil(s => s["b"].Role("web") == GroupRole.Active, Ttl + TimeSpan.FromSeconds(2));
        Assert.That(taken, Is.Not.Null, "b never took over after a's lease expired");
        Assert.That(sim["b"].Epoch("web"), Is.GreaterThan(epoch));
        Assert.That(sim["b"].Epoch("web"), Is.EqualTo((ulong)sim.LeaseStore!.Keys["/hakit/sim/groups/web"].CreateRevision), "the epoch is the key's create revision");
        Assert.That(sim["a"].Role("web"), Is.EqualTo(GroupRole.Standby));
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void While_the_store_is_down_the_owner_stops_after_its_lease_and_nobody_starts_until_it_is_back()
    {
        using var sim = Start(out _);
        var downAt = sim.Now;
        var backAt = downAt + TimeSpan.FromSeconds(5);
        sim.StoreOutage(backAt);

        Assert.That(sim.RunUntil(s => s["a"].Role("web") != GroupRole.Active, Ttl), Is.Not.Null, "the owner must stop when it cannot renew (no-quorum-policy=stop)");
        var startedDuringOutage = sim.RunUntil(s => s.Nodes.Any(n => n.Role("web") is GroupRole.Starting or GroupRole.Active), backAt - sim.Now - TimeSpan.FromMilliseconds(1));
        Assert.That(startedDuringOutage, Is.Null, "nobody starts a group without a lease");

        Assert.That(sim.RunUntil(s => s.Nodes.Count(n => n.Role("web") == GroupRole.Active) == 1, Ttl + TimeSpan.FromSeconds(3)), Is.Not.Null, "an owner again once the store is back");
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void Three_nodes_spread_two_groups_by_preference_and_a_crash_moves_only_the_dead_nodes_group()
    {
        var options = Options(threeNodes: true);
        options.Cluster.Groups.Add(new GroupOptions
        {
            Name = "db",
            PreferredNode = "b",
            Resources = ["volume"],
            MonitorInterval = TimeSpan.FromMilliseconds(400),
            StartTimeout = TimeSpan.FromMilliseconds(250),
            StopTimeout = TimeSpan.FromMilliseconds(250),
            MonitorTimeout = TimeSpan.FromMilliseconds(150),
        });
        using var sim = new HaKit.Testing.Simulation(options);
        sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active && s["b"].Role("db") == GroupRole.Active, TimeSpan.FromSeconds(5));
        Assert.That(sim.Nodes.Select(n => (n.Name, n.Role("web"), n.Role("db"))), Is.EqualTo(new[]
        {
            ("a", GroupRole.Active, GroupRole.Standby),
            ("b", GroupRole.Standby, GroupRole.Active),
            ("c", GroupRole.Standby, GroupRole.Standby),
        }), "each group on its preferred node, and only there");
        var dbEpoch = sim["b"].Epoch("db");

        sim.Crash("a");
        var moved = sim.RunUntil(s => s["b"].Role("web") == GroupRole.Active || s["c"].Role("web") == GroupRole.Active, Ttl + TimeSpan.FromSeconds(3));
        Assert.That(moved, Is.Not.Null, "web did not move off the crashed node");
        Assert.That(sim.Nodes.Count(n => n.Role("web") == GroupRole.Active), Is.EqualTo(1));
        Assert.That(sim["b"].Role("db"), Is.EqualTo(GroupRole.Active));
        Assert.That(sim["b"].Epoch("db"), Is.EqualTo(dbEpoch), "db was not disturbed");
        Assert.That(sim.Violations, Is.Empty);
    }

    [Test]
    public void A_graceful_switchover_releases_the_key_so_the_target_need_not_wait_for_the_lease()
    {
        using var sim = Start(out _);
        Assert.That(sim.Admin("a", new SwitchoverCommand("web", "b")).Accepted, Is.True);
        var done = sim.RunUntil(s => s["b"].Role("web") == GroupRole.Active, Ttl) ?? Ttl;
        Assert.That(sim["b"].Role("web"), Is.EqualTo(GroupRole.Active), "the target never took the group");
        Assert.That(done, Is.LessThan(Ttl / 2), "the target waited for the old lease instead of the release");
        Assert.That(sim.LeaseStore!.Keys["/hakit/sim/groups/web"].Value, Is.EqualTo("b"));
        Assert.That(sim.Violations, Is.Empty);
    }

    /// <summary>
    /// An operator deletes the owner's key (<c>etcdctl del</c>) while its lease lives on: the owner's next renewal (every third of
    /// the lease) finds the key gone and stops; the group comes back under a new key, whose create revision is a higher epoch.
    /// </summary>
    [Test]
    public void An_operator_deleting_the_owners_key_ends_its_ownership_at_the_next_renewal()
    {
        using var sim = Start(out var epoch);
        Assert.That(sim.LeaseStore!.DeleteKey(Key), Is.True);

        Assert.That(sim.RunUntil(s => s["a"].Role("web") != GroupRole.Active, Ttl / 2), Is.Not.Null, "a renewal must find the key gone");
        Assert.That(sim.RunUntil(s => s.Nodes.Count(n => n.Role("web") == GroupRole.Active) == 1, TimeSpan.FromSeconds(5)), Is.Not.Null, "an owner again");
        var owner = sim.Nodes.Single(n => n.Role("web") == GroupRole.Active);
        Assert.That(owner.Epoch("web"), Is.GreaterThan(epoch));
        Assert.That(owner.Epoch("web"), Is.EqualTo((ulong)sim.LeaseStore.Keys[Key].CreateRevision), "the epoch is the new key's create revision");
        Assert.That(sim.Violations, Is.Empty);
    }

    /// <summary>
    /// A second process configured with the owner's name deletes and re-creates the key under its own lease (never renewed). The
    /// name in the key is the owner's, but the lease is not: the owner's renewal must be refused and it stops; nobody can own the
    /// group while that key lives; once its lease expires, the watch tells the nodes and one of them takes the group. (The planted
    /// bug "a renewal checks the holder's name instead of its lease id" keeps a Active here, and <c>renewal-holds-key</c> fires.)
    /// </summary>
    [Test]
    public void A_key_recreated_under_another_lease_with_the_owners_name_is_not_renewed_over()
    {
        using var sim = Start(out _);
        sim.LeaseStore!.DeleteKey(Key);
        var impostor = sim.LeaseStore.PutWithNewLease(Key, "a", Ttl);
        Assert.That(sim.LeaseStore.Keys[Key], Is.EqualTo(impostor), "the key now holds the second process's lease");
        Assert.That(impostor!.Value, Is.EqualTo("a"));
        var expires = sim.Now + Ttl;

        Assert.That(sim.RunUntil(s => s["a"].Role("web") != GroupRole.Active, Ttl / 2), Is.Not.Null, "a's renewal must see the key bound to another lease, whatever name it carries");
        var ownedMeanwhile = sim.RunUntil(s => s.Nodes.Any(n => n.Role("web") is GroupRole.Starting or GroupRole.Active), expires - sim.Now - TimeSpan.FromMilliseconds(1));
        Assert.That(ownedMeanwhile, Is.Null, "nobody can own the group while another lease holds its key");

        Assert.That(sim.RunUntil(s => s.Nodes.Count(n => n.Role("web") == GroupRole.Active) == 1, Ttl), Is.Not.Null, "an owner again once that lease expired");
        Assert.That(sim.LeaseStore.Keys[Key].LeaseId, Is.Not.EqualTo(impostor!.LeaseId));
        Assert.That(sim.Violations, Is.Empty);
    }

    /// <summary>
    /// The runtime's watch of the store (<see cref="IArbiterWatch"/>) runs in the simulator: when a crashed owner's lease expires
    /// and takes the key with it, the standby hears of it at once and claims the group in the same instant's arbiter round trip,
    /// instead of at its next retry (1 s).
    /// </summary>
    [Test]
    public void When_a_dead_owners_key_expires_the_watch_sends_the_standby_at_once()
    {
        using var sim = Start(out _);
        sim.Crash("a");
        Assert.That(sim.RunUntil(s => !s.LeaseStore!.Keys.ContainsKey(Key), Ttl + TimeSpan.FromMilliseconds(100)), Is.Not.Null, "the lease expires at the store");
        var claimed = sim.RunUntil(s => s["b"].Role("web") is GroupRole.Starting or GroupRole.Active, TimeSpan.FromMilliseconds(150));
        Assert.That(claimed, Is.Not.Null, "the standby waited for a retry instead of acting on the watch");
        Assert.That(sim.Trace.Any(t => t.Node == "b" && t.Text.Contains("the watch reports web's key deleted", StringComparison.Ordinal)), Is.True);
        Assert.That(sim.Violations, Is.Empty);
    }

    private const string Key = "/hakit/sim/groups/web";

    private static SimulationOptions Options(bool threeNodes = false)
    {
        var cluster = SimulationOptions.DefaultCluster();
        SimulationScenarios.UseEtcd(cluster, threeNodes);
        return new SimulationOptions { Seed = 5, Cluster = cluster, FaultDuration = TimeSpan.Zero, QuietDuration = TimeSpan.FromSeconds(3), RecordTrace = true };
    }

    private static HaKit.Testing.Simulation Start(out ulong epoch)
    {
        var sim = new HaKit.Testing.Simulation(Options());
        Assert.That(sim.RunUntil(s => s["a"].Role("web") == GroupRole.Active, TimeSpan.FromSeconds(5)), Is.Not.Null, "a never became the owner");
        sim.RunFor(TimeSpan.FromSeconds(1)); // a few renewals
        epoch = sim["a"].Epoch("web");
        Assert.That(sim.LeaseStore!.Keys["/hakit/sim/groups/web"].Value, Is.EqualTo("a"));
        return sim;
    }
}
