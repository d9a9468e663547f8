using HaKit.Wire;

namespace HaKit.Tests.Wire;

public sealed class WireStatsTests
{
    [Test]
    public void Counts_per_reason_and_a_snapshot_is_a_copy()
    {
        var stats = new WireStats();
        stats.RecordAccepted();
        stats.RecordAccepted();
        stats.RecordDropped(DropReason.BadMac);
        stats.RecordDropped(DropReason.Replayed);
        stats.RecordDropped(DropReason.Replayed);

        WireStatsSnapshot snapshot = stats.Snapshot();
        stats.RecordDropped(DropReason.Replayed);

        Assert.That(stats.Accepted, Is.EqualTo(2));
        Assert.That(stats.GetDropped(DropReason.Replayed), Is.EqualTo(3));
        Assert.That(stats.TotalDropped, Is.EqualTo(4));
        Assert.That(snapshot.Accepted, Is.EqualTo(2));
        Assert.That(snapshot.GetDropped(DropReason.Replayed), Is.EqualTo(2));
        Assert.That(snapshot.GetDropped(DropReason.Oversized), Is.Zero);
        Assert.That(snapshot.TotalDropped, Is.EqualTo(3));
        Assert.That(snapshot.ToString(), Is.EqualTo("accepted=2 dropped=3 (BadMac=1, Replayed=2)"));
        Assert.That(new WireStats().Snapshot().ToString(), Is.EqualTo("accepted=0 dropped=0"));
    }

    [Test]
    public void An_undefined_reason_is_rejected()
    {
        var stats = new WireStats();

        Assert.That(() => stats.RecordDropped((DropReason)99), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => stats.GetDropped((DropReason)(-1)), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => stats.Snapshot().GetDropped((DropReason)11), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public async Task Concurrent_updates_are_not_lost()
    {
        var stats = new WireStats();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                stats.RecordAccepted();
                stats.RecordDropped(DropReason.Truncated);
            }
        }, cts.Token)));

        Assert.That(stats.Accepted, Is.EqualTo(40_000));
        Assert.That(stats.GetDropped(DropReason.Truncated), Is.EqualTo(40_000));
    }
}
