using HaKit.Arbitration;
using HaKit.Detection;
using HaKit.Fencing;
using HaKit.Ownership;
using HaKit.Resources;

namespace HaKit.Tests.Ownership;

[TestFixture]
public class RequestIndexTests
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Test]
    public void Ids_start_at_one_grow_and_are_never_reused()
    {
        var index = new RequestIndex<string>();

        var first = index.Issue("web");
        var second = index.Issue("db");
        index.Retire(first);
        var third = index.Issue("web");

        Assert.That(new[] { first, second, third }, Is.EqualTo(new long[] { 1, 2, 3 }));
        Assert.That(index.TryFind(first, out _), Is.False, "a retired id finds nothing");
        Assert.That(index.TryFind(second, out var owner) ? owner : null, Is.EqualTo("db"));
        Assert.That(index.TryFind(third, out owner) ? owner : null, Is.EqualTo("web"));
        Assert.That(index.Count, Is.EqualTo(2));
    }

    [Test]
    public void Retiring_no_request_or_an_unknown_one_changes_nothing()
    {
        var index = new RequestIndex<string>();
        var id = index.Issue("web");

        index.Retire(0);
        index.Retire(42);

        Assert.That(index.TryFind(0, out _), Is.False);
        Assert.That(index.TryFind(id, out var owner) ? owner : null, Is.EqualTo("web"));
        Assert.That(index.Count, Is.EqualTo(1));
    }

    [Test]
    public void An_arbiter_answer_acts_on_the_group_that_asked_and_no_other()
    {
        var core = LoneNode(out var asks);
        var web = asks.Single(a => a.Request.Group == "web");
        var db = asks.Single(a => a.Request.Group == "db");

        core.OnArbiterAnswer(10 * Ms, db.RequestId, ArbiterDecision.Deny("db is held elsewhere"));
        core.OnArbiterAnswer(10 * Ms, web.RequestId, ArbiterDecision.Grant("web is free"));
        var persisted = core.TakeReady().OfType<PersistEpoch>().ToArray();

        Assert.That(core.GetRole("db"), Is.EqualTo(GroupRole.Standby), "db's refusal");
        Assert.That(core.GetRole("web"), Is.EqualTo(GroupRole.Acquiring), "web waits for its epoch to be persisted");
        Assert.That(persisted.Select(p => p.Group), Is.EqualTo(new[] { "web" }));
        Assert.That(core.OutstandingRequests, Is.Zero, "both answers retired their requests");
    }

    [Test]
    public void Answers_to_unknown_or_already_answered_requests_are_ignored()
    {
        var core = LoneNode(out var asks);
        var web = asks.Single(a => a.Request.Group == "web");
        core.OnArbiterAnswer(10 * Ms, web.RequestId, ArbiterDecision.Deny("held elsewhere"));
        core.TakeReady();

        core.OnArbiterAnswer(20 * Ms, web.RequestId, ArbiterDecision.Grant("late duplicate"));
        core.OnArbiterAnswer(20 * Ms, 999, ArbiterDecision.Grant("never asked"));
        core.OnFenceCompleted(20 * Ms, 999, new FenceResult(true, "never asked"));

        Assert.That(core.TakeReady().Where(c => c is not SendHeartbeat), Is.Empty);
        Assert.That(core.GetRole("web"), Is.EqualTo(GroupRole.Standby));
        Assert.That(core.GetRole("db"), Is.EqualTo(GroupRole.Acquiring));
    }

    [Test]
    public void A_renewal_dropped_by_a_stop_is_retired_and_its_late_refusal_changes_nothing()
    {
        var core = LoneNode(out var asks);
        var lease = TimeSpan.FromSeconds(3);
        foreach (var ask in asks)
        {
            core.OnArbiterAnswer(Ms, ask.RequestId, new ArbiterDecision(true, "granted", lease));
        }

        foreach (var persist in core.TakeReady().OfType<PersistEpoch>())
        {
            core.OnEpochPersisted(2 * Ms, persist.Group, persist.Epoch, null);
        }

        foreach (var start in core.TakeReady().OfType<StartGroup>())
        {
            core.OnGroupStarted(3 * Ms, start.Group, start.Epoch, new GroupActionOutcome(GroupOutcome.Succeeded, ResourceFailureKind.None, null, null, 0));
        }

        core.Tick(TimeSpan.FromSeconds(1.1)); // past a third of the lease: both groups renew
        var renewals = core.TakeReady().OfType<AskArbiter>().Where(a => a.Request.Reason == AcquireReason.Renew).ToArray();
        Assert.That(renewals.Select(r => r.Request.Group).Order(), Is.EqualTo(new[] { "db", "web" }));
        Assert.That(core.OutstandingRequests, Is.EqualTo(2));

        core.Admin(TimeSpan.FromSeconds(1.2), new SetStandbyCommand(true)); // both groups stop: their lease and renewal are dropped
        core.TakeReady();
        Assert.That(core.OutstandingRequests, Is.Zero);

        foreach (var renewal in renewals)
        {
            core.OnArbiterAnswer(TimeSpan.FromSeconds(1.3), renewal.RequestId, ArbiterDecision.Deny("lease gone"));
        }

        Assert.That(core.TakeReady().OfType<EmitEvent>().Select(e => e.Event).OfType<RoleChanged>(), Is.Empty, "a refusal for a dropped renewal is not a second stop");
        Assert.That(core.GetRole("web"), Is.EqualTo(GroupRole.Stopping));
    }

    /// <summary>A node without peers (start-up settles at once) that asked the arbiter for both of its groups.</summary>
    private static OwnershipCore LoneNode(out AskArbiter[] asks)
    {
        var config = new CoreConfig
        {
            LocalNode = "a",
            Peers = [],
            Links = ["lan0"],
            Groups =
            [
                new GroupConfig("web", "a", false, TimeSpan.Zero, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(60)),
                new GroupConfig("db", "a", false, TimeSpan.Zero, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(60)),
            ],
        };
        var core = new OwnershipCore(config, new FailureDetectorFactory(new TimingOptions(), new DetectorOptions()), new Dictionary<string, ulong>(), TimeSpan.Zero);
        core.Tick(TimeSpan.Zero);
        asks = core.TakeReady().OfType<AskArbiter>().ToArray();
        Assert.That(asks.Select(a => a.Request.Group), Is.EqualTo(new[] { "web", "db" }));
        Assert.That(asks.Select(a => a.RequestId).Distinct().Count(), Is.EqualTo(2));
        return core;
    }
}
