using System.Text;

namespace HaKit.Replication.Tests;

/// <summary>
/// A graceful handover drains first (<see cref="ReplicatedLog.DrainAsync"/>, <see cref="ReplicationResource.StopAsync"/>): the old
/// owner refuses new writes, keeps what was queued, and lets go only once its peer holds everything durably (or the drain timeout
/// passed, or the peer is away). Async mode, where the peer may lag, over a link whose deliveries to the standby the test holds back.
/// </summary>
public sealed class DrainTests
{
    private static readonly CancellationToken Bound = new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;
    private string _root = "";
    private readonly List<IAsyncDisposable> _open = [];

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("hakit-repl-drain-").FullName;

    [TearDown]
    public async Task TearDown()
    {
        foreach (var item in _open)
        {
            await item.DisposeAsync();
        }

        _open.Clear();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<ReplicatedKvStore> OpenAsync(string node, TimeSpan? drainTimeout = null)
    {
        var store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
        {
            Group = "g",
            Directory = Path.Combine(_root, node),
            Mode = ReplicationMode.Async,
            SnapshotEveryEntries = 0,
            DrainTimeout = drainTimeout ?? TimeSpan.FromSeconds(10),
        });
        _open.Add(store);
        return store;
    }

    private static byte[] V(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>An owner a with 20 writes acknowledged (Async) that its standby b has not received yet: the link holds them.</summary>
    private async Task<(ReplicatedKvStore A, ReplicatedKvStore B, MemoryLink Link)> LaggingPairAsync(TimeSpan? drainTimeout = null)
    {
        var a = await OpenAsync("a", drainTimeout);
        var b = await OpenAsync("b");
        var link = new MemoryLink(a.Log, b.Log);
        link.Connect();
        await a.Log.BecomeOwnerAsync(1, Bound);
        link.Hold();
        for (var i = 1; i <= 20; i++)
        {
            await a.PutAsync($"k{i}", V($"v{i}"), Bound);
        }

        await Wait.UntilAsync(() => a.Log.Status.LagEntries == 20, "a to report its 20 unreplicated writes as lag");
        return (a, b, link);
    }

    [Test]
    public async Task A_drain_refuses_new_writes_and_ends_when_the_peer_holds_every_write()
    {
        var (a, b, link) = await LaggingPairAsync();

        var drain = a.Log.DrainAsync(TimeSpan.FromSeconds(20), Bound);
        await Task.Delay(TimeSpan.FromMilliseconds(150), TimeProvider.System);
        Assert.That(drain.IsCompleted, Is.False, "the peer lacks 20 writes: the owner must not let go yet");
        await Assert.ThatAsync(() => a.PutAsync("late", V("x"), Bound),
            Throws.InvalidOperationException.With.Message.Contains("handed over").And.Message.Contains("new owner"));

        link.Release();
        Assert.That(await drain.WaitAsync(TimeSpan.FromSeconds(10)), Is.Zero, "caught up: nothing missing");
        Assert.That(a.Log.Status.PeerDurable, Is.EqualTo(20));
        await Wait.UntilAsync(() => b.TryGet("k20", out _), "b to apply the last write");
        Assert.That(b.TryGet("late", out _), Is.False, "the refused write went nowhere");

        // The handover completes; a later ownership accepts writes again.
        await a.Log.BecomeStandbyAsync(Bound);
        await a.Log.BecomeOwnerAsync(2, Bound);
        Assert.That((await a.PutAsync("again", V("y"), Bound)).Epoch, Is.EqualTo(2));
    }

    [Test]
    public async Task A_drain_gives_up_after_its_timeout_and_says_how_many_writes_the_peer_lacks()
    {
        var (a, _, _) = await LaggingPairAsync();
        var missing = await a.Log.DrainAsync(TimeSpan.FromMilliseconds(300), Bound).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(missing, Is.EqualTo(20));
    }

    [Test]
    public async Task A_drain_does_not_wait_for_a_peer_that_is_not_connected()
    {
        var (a, _, link) = await LaggingPairAsync();
        link.Disconnect();
        await Wait.UntilAsync(() => !a.Log.Status.PeerConnected, "a to see its peer gone");
        var missing = await a.Log.DrainAsync(TimeSpan.FromSeconds(20), Bound).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(missing, Is.EqualTo(20), "returned at once with what the peer lacks");
    }

    [TestCase(StopReason.Switchover, true)]
    [TestCase(StopReason.NodeStandby, true)]
    [TestCase(StopReason.ResourceFailure, false)]
    [TestCase(StopReason.SplitBrainLost, false)]
    public async Task The_resource_drains_before_a_planned_handover_only(StopReason reason, bool drains)
    {
        var (a, b, link) = await LaggingPairAsync();
        var resource = new ReplicationResource(a.Log);
        var context = new ResourceContext("g", "a", 1, new CancellationToken(canceled: true)) { StopReason = reason };

        var stop = resource.StopAsync(context, Bound).AsTask();
        var stoppedAtOnce = await Task.WhenAny(stop, Task.Delay(TimeSpan.FromMilliseconds(300), TimeProvider.System)) == stop;
        Assert.That(stoppedAtOnce, Is.EqualTo(!drains), drains ? "a planned handover waits for the peer" : "a failure does not wait for anyone");
        link.Release();
        Assert.That((await stop.WaitAsync(TimeSpan.FromSeconds(10))).Succeeded, Is.True);
        Assert.That(a.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
        if (drains)
        {
            await Wait.UntilAsync(() => b.TryGet("k20", out _), "b to hold the last write the old owner acknowledged");
        }
    }

    [Test]
    public void A_negative_drain_timeout_fails_validation_naming_the_key_and_the_fix()
    {
        var options = new ReplicationOptions { Group = "g", Directory = _root, DrainTimeout = TimeSpan.FromSeconds(-1) };
        Assert.That(() => options.Validate(), Throws.TypeOf<HaKitConfigurationException>()
            .With.Message.Contains("Replication:DrainTimeout = '-00:00:01'").And.Message.Contains("up to an hour"));
    }
}
