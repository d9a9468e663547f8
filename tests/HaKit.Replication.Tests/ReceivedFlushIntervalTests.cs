using System.Text;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Replication.Tests;

/// <summary>
/// <see cref="ReplicationOptions.ReceivedFlushInterval"/>: a Received replica spaces its group-commit fdatasyncs (nothing
/// acknowledged waits for them), so its durable index, and the standby's apply, follow at most that much later.
/// </summary>
public sealed class ReceivedFlushIntervalTests : ReplicaTestBase
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <inheritdoc />
    protected override string DirectoryPrefix => "hakit-repl-flush-";

    private async Task<ReplicatedKvStore> OpenAsync(string node, TimeSpan interval, TimeProvider time)
    {
        var store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions
        {
            Group = "g",
            Directory = Path.Combine(Root, node),
            Mode = ReplicationMode.Received,
            SnapshotEveryEntries = 0,
            ReceivedFlushInterval = interval,
            Time = time,
        });
        Opened.Add(store);
        return store;
    }

    private static byte[] V(string s) => Encoding.UTF8.GetBytes(s);

    [Test]
    public async Task A_received_put_is_acknowledged_before_the_spaced_fdatasync_which_follows_after_the_interval()
    {
        var time = new FakeTimeProvider();
        var a = await OpenAsync("a", Interval, time);
        var b = await OpenAsync("b", Interval, time);
        new MemoryLink(a.Log, b.Log).Connect();
        await a.Log.BecomeOwnerAsync(1, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        // The first fdatasync of each replica starts at once (none before it).
        Assert.That((await a.PutAsync("k1", V("v1"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10))).Index, Is.EqualTo(1));
        await Wait.UntilAsync(() => a.Log.Status.Durable == 1 && b.Log.Status.Durable == 1 && Get(b, "k1") == "v1",
            "both replicas to make entry 1 durable and the standby to apply it");

        // The next one waits for the interval on the log's clock, which does not move here: the put is acknowledged (written on
        // the owner, held by the peer) all the same, and nothing becomes durable in the meantime.
        Assert.That((await a.PutAsync("k2", V("v2"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10))).Index, Is.EqualTo(2));
        await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System);
        Assert.That(a.Log.Status.Durable, Is.EqualTo(1), "the owner's second fdatasync waits for the interval");
        Assert.That(b.Log.Status.Durable, Is.EqualTo(1), "the standby's second fdatasync waits for the interval too");
        Assert.That(Get(b, "k2"), Is.Null, "the standby applies what it made durable");

        time.Advance(Interval);
        await Wait.UntilAsync(() => a.Log.Status.Durable == 2 && a.Log.Status.PeerDurable == 2 && Get(b, "k2") == "v2",
            "entry 2 to become durable on both and applied on the standby once the interval passed");
    }

    [TestCase(-1)]
    [TestCase(1001)]
    public void An_interval_out_of_range_fails_validation_naming_the_key_the_value_and_the_fix(int milliseconds)
    {
        var interval = TimeSpan.FromMilliseconds(milliseconds);
        var options = new ReplicationOptions { Group = "g", Directory = Root, ReceivedFlushInterval = interval };
        Assert.That(() => options.Validate(), Throws.TypeOf<HaKitConfigurationException>()
            .With.Message.Contains($"Replication:ReceivedFlushInterval = '{interval}': out of range")
            .And.Message.Contains("up to a second (default 00:00:00.001)"));
    }

    [Test]
    public void The_default_is_one_millisecond_and_zero_is_valid()
    {
        Assert.That(new ReplicationOptions().ReceivedFlushInterval, Is.EqualTo(TimeSpan.FromMilliseconds(1)));
        Assert.That(new ReplicationGroupOptions().ReceivedFlushInterval, Is.EqualTo(TimeSpan.FromMilliseconds(1)));
        var options = new ReplicationOptions { Group = "g", Directory = Root, ReceivedFlushInterval = TimeSpan.Zero };
        Assert.That(() => options.Validate(), Throws.Nothing);
    }
}
