using HaKit.Resources;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Tests.Resources;

[TestFixture]
public sealed class RestartTrackerTests
{
    [Test]
    public void Allows_at_most_max_restarts_within_the_window()
    {
        var time = new FakeTimeProvider();
        var tracker = new RestartTracker(3, TimeSpan.FromMinutes(10), time);

        Assert.That(tracker.TryRecordRestart(), Is.True);
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.That(tracker.TryRecordRestart(), Is.True);
        Assert.That(tracker.TryRecordRestart(), Is.True);
        Assert.That(tracker.TryRecordRestart(), Is.False);
        Assert.That(tracker.RestartsInWindow, Is.EqualTo(3));
    }

    [Test]
    public void Window_slides_oldest_restart_expires_first()
    {
        var time = new FakeTimeProvider();
        var tracker = new RestartTracker(2, TimeSpan.FromMinutes(10), time);
        tracker.TryRecordRestart();
        time.Advance(TimeSpan.FromMinutes(5));
        tracker.TryRecordRestart();

        time.Advance(TimeSpan.FromMinutes(4));
        Assert.That(tracker.TryRecordRestart(), Is.False);

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.That(tracker.RestartsInWindow, Is.EqualTo(1), "the first restart is now 10 minutes old");
        Assert.That(tracker.TryRecordRestart(), Is.True);
        Assert.That(tracker.TryRecordRestart(), Is.False);
    }

    [Test]
    public void Reset_forgets_everything()
    {
        var tracker = new RestartTracker(1, TimeSpan.FromMinutes(10), new FakeTimeProvider());
        Assert.That(tracker.TryRecordRestart(), Is.True);
        Assert.That(tracker.TryRecordRestart(), Is.False);

        tracker.Reset();

        Assert.That(tracker.RestartsInWindow, Is.Zero);
        Assert.That(tracker.TryRecordRestart(), Is.True);
    }

    [Test]
    public void Zero_max_restarts_allows_none()
    {
        var tracker = new RestartTracker(0, TimeSpan.FromMinutes(10), new FakeTimeProvider());
        Assert.That(tracker.TryRecordRestart(), Is.False);
        Assert.That(tracker.RestartsInWindow, Is.Zero);
    }

    [Test]
    public void Invalid_arguments_are_rejected()
    {
        Assert.That(() => new RestartTracker(-1, TimeSpan.FromMinutes(1), TimeProvider.System), Throws.InstanceOf<ArgumentOutOfRangeException>());
        Assert.That(() => new RestartTracker(1, TimeSpan.Zero, TimeProvider.System), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }
}
