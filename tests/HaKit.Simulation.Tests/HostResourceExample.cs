using HaKit.Testing;

namespace HaKit.Simulation.Tests;

// The example of docs/testing.md: a host application tests its own resource under faults.

/// <summary>A stand-in for the host's external system: a message broker that lets the consumer with the highest epoch consume.</summary>
public sealed class FakeBroker
{
    private readonly Dictionary<string, ulong> _subscribers = new(StringComparer.Ordinal);

    /// <summary>The node allowed to consume: the subscriber with the highest epoch (a fencing token), if any.</summary>
    public string? Consumer => _subscribers.Count == 0 ? null : _subscribers.MaxBy(s => s.Value).Key;

    public ulong HighestEpoch { get; private set; }

    public bool Subscribe(string node, ulong epoch)
    {
        if (epoch < HighestEpoch)
        {
            return false; // a stale owner: refused
        }

        HighestEpoch = epoch;
        _subscribers[node] = epoch;
        return true;
    }

    public void Unsubscribe(string node) => _subscribers.Remove(node);

    public bool IsSubscribed(string node) => _subscribers.ContainsKey(node);
}

/// <summary>The host's resource: subscribes to the broker with the group's epoch.</summary>
public sealed class QueueConsumer(FakeBroker broker, bool useEpoch = true) : IResource
{
    private ulong _ownCounter;

    public string Name => "consumer";

    public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        var epoch = useEpoch ? context.Epoch : ++_ownCounter; // the bug a test should catch: a token of its own
        return ValueTask.FromResult(broker.Subscribe(context.Node, epoch)
            ? ResourceResult.Success
            : ResourceResult.Transient($"broker refused epoch {epoch} (it has seen {broker.HighestEpoch})"));
    }

    public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        broker.Unsubscribe(context.Node);
        return ValueTask.FromResult(ResourceResult.Success);
    }

    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(broker.IsSubscribed(context.Node) ? MonitorResult.Running : MonitorResult.NotRunning("not subscribed"));
}

/// <summary>The host's own invariant: once the cluster has converged, the broker's consumer is the node that owns the group.</summary>
public sealed class BrokerFollowsOwner(FakeBroker broker) : IInvariant
{
    public string Name => "broker-follows-owner";

    public string? Check(HaKit.Testing.Simulation simulation)
    {
        if (simulation.FaultsActive || simulation.Now < simulation.FaultsEndAt + simulation.Bounds.Convergence)
        {
            return null;
        }

        var owner = simulation.Nodes.FirstOrDefault(n => n.Role("orders") == GroupRole.Active)?.Name;
        return owner is not null && broker.Consumer != owner
            ? $"group orders is Active on {owner} but the broker lets {broker.Consumer ?? "nobody"} consume (highest epoch {broker.HighestEpoch})"
            : null;
    }
}

public sealed class HostResourceExample
{
    private static SimulationResult RunOrders(int seed, bool useEpoch)
    {
        var broker = new FakeBroker();
        var options = new SimulationOptions
        {
            Seed = seed,
            Faults = SimulationScenarios.Mix(SimulationScenarios.Mixes[seed % SimulationScenarios.Mixes.Count]),
            FaultDuration = TimeSpan.FromSeconds(15),
        };
        var group = options.Cluster.Groups[0];
        group.Name = "orders";
        group.Resources = ["vip", "consumer"];
        options.ResourceFactory = (node, g) => [new SimulatedResource("vip"), new QueueConsumer(broker, useEpoch)];
        options.Invariants = [.. Invariants.Default(options), new BrokerFollowsOwner(broker)];
        using var sim = new HaKit.Testing.Simulation(options);
        return sim.Run();
    }

    [Test]
    public void The_consumer_follows_the_owner_under_faults()
    {
        for (var seed = 0; seed < 50; seed++)
        {
            var result = RunOrders(seed, useEpoch: true);
            Assert.That(result.Violations, Is.Empty, $"seed {seed} ({result.Scenario})");
        }
    }

    [Test]
    public void A_consumer_that_ignores_the_epoch_is_caught()
    {
        var caught = Enumerable.Range(0, 50).Select(seed => RunOrders(seed, useEpoch: false)).Where(r => !r.Passed).ToArray();
        Assert.That(caught, Is.Not.Empty);
        Assert.That(caught[0].Violations[0].Invariant, Is.EqualTo("broker-follows-owner"));
    }
}
