using HaKit.State;

namespace HaKit.Tests.State;

[TestFixture]
public class InMemoryStateStoreTests
{
    [Test]
    public void Starts_empty_or_with_the_initial_state()
    {
        Assert.That(new InMemoryStateStore().Load().Incarnation, Is.Zero);
        var initial = new PersistedState(3, new Dictionary<string, ulong> { ["g"] = 2 });
        var store = new InMemoryStateStore(initial);
        Assert.That(store.Load().Epochs["g"], Is.EqualTo(2));
        Assert.That(store.SaveCount, Is.Zero);
    }

    [Test]
    public void Save_counts_and_snapshots()
    {
        var store = new InMemoryStateStore();
        var epochs = new Dictionary<string, ulong> { ["g"] = 1 };
        store.Save(new PersistedState(1, epochs));
        epochs["g"] = 99; // mutating the caller's dictionary must not change what was saved
        store.Save(new PersistedState(2, new Dictionary<string, ulong> { ["g"] = 2 }));

        Assert.That(store.SaveCount, Is.EqualTo(2));
        Assert.That(store.Load().Incarnation, Is.EqualTo(2));
        Assert.That(store.Current.Epochs["g"], Is.EqualTo(2));
    }

    [Test]
    public void Fail_next_save_fails_exactly_once_and_keeps_the_previous_state()
    {
        var store = new InMemoryStateStore();
        store.Save(new PersistedState(1, new Dictionary<string, ulong> { ["g"] = 1 }));
        store.FailNextSave();

        Assert.That(() => store.Save(new PersistedState(2, new Dictionary<string, ulong> { ["g"] = 2 })), Throws.TypeOf<IOException>());
        Assert.That(store.Load().Incarnation, Is.EqualTo(1));
        Assert.That(store.SaveCount, Is.EqualTo(1));

        store.Save(new PersistedState(3, new Dictionary<string, ulong>()));
        Assert.That(store.Load().Incarnation, Is.EqualTo(3));
        Assert.That(store.SaveCount, Is.EqualTo(2));
    }

    [Test]
    public void Fail_next_save_throws_the_given_exception()
    {
        var store = new InMemoryStateStore();
        var boom = new UnauthorizedAccessException("disk says no");
        store.FailNextSave(boom);
        Assert.That(() => store.Save(PersistedState.Empty), Throws.Exception.SameAs(boom));
    }
}
