using System.Text;
using HaKit.Resources;

namespace HaKit.Replication.Tests;

public sealed class ReplicationResourceTests
{
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("hakit-repl-res-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private Task<ReplicatedKvStore> OpenAsync(string node, ReplicationMode mode) =>
        ReplicatedKvStore.OpenAsync(new ReplicationOptions { Group = "g", Directory = Path.Combine(_root, node), Mode = mode, SnapshotEveryEntries = 0 });

    [Test]
    public async Task Starting_makes_the_standby_owner_in_the_groups_epoch_with_everything_it_holds_applied_and_stopping_reverts()
    {
        await using var a = await OpenAsync("a", ReplicationMode.Received);
        await using var b = await OpenAsync("b", ReplicationMode.Received);
        var link = new MemoryLink(a.Log, b.Log);
        link.Connect();
        await a.Log.BecomeOwnerAsync(4, CancellationToken.None);
        for (var i = 0; i < 20; i++)
        {
            await a.PutAsync($"k{i}", Encoding.UTF8.GetBytes("v"), CancellationToken.None);
        }

        // Received: acknowledged once b holds them, maybe before b wrote or applied them. The owner dies now.
        link.Disconnect();
        await a.Log.BecomeStandbyAsync(CancellationToken.None);
        var resource = new ReplicationResource(b.Log);
        using var ownership = new CancellationTokenSource();
        var context = new ResourceContext("g", "b", 5, ownership.Token);
        var started = await resource.StartAsync(context, CancellationToken.None);

        Assert.That(started.Kind, Is.EqualTo(ResourceFailureKind.None));
        var status = b.Log.Status;
        Assert.That(status.Role, Is.EqualTo(ReplicaRole.Owner));
        Assert.That(status.Epoch, Is.EqualTo(5));
        Assert.That(status.Applied, Is.EqualTo(20), "every entry it received is applied before it owns the group");
        Assert.That(status.Durable, Is.EqualTo(20));
        Assert.That(b.Count, Is.EqualTo(20));
        Assert.That((await resource.MonitorAsync(context, CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.Degraded), "Received without a peer");

        var stopped = await resource.StopAsync(context, CancellationToken.None);
        Assert.That(stopped.Kind, Is.EqualTo(ResourceFailureKind.None));
        Assert.That(b.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
        Assert.That((await resource.MonitorAsync(context, CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.NotRunning));
    }

    [Test]
    public async Task Starting_with_an_epoch_lower_than_the_node_has_seen_fails_on_this_node()
    {
        await using var a = await OpenAsync("a", ReplicationMode.Async);
        await a.Log.BecomeOwnerAsync(9, CancellationToken.None);
        await a.Log.BecomeStandbyAsync(CancellationToken.None);
        var result = await new ReplicationResource(a.Log).StartAsync(new ResourceContext("g", "a", 8, CancellationToken.None), CancellationToken.None);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(result.Message, Does.Contain("epoch 8").And.Contain("epoch 9"));
        Assert.That(a.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
    }
}
