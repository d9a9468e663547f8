using HaKit.Arbitration;
using HaKit.Ownership;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace HaKit.Tests.Arbitration;

[TestFixture]
public class TwoNodeArbiterTests
{
    private sealed class FakeProbe(string target, Func<CancellationToken, ValueTask<bool>> probe) : IReachabilityProbe
    {
        public int Calls;

        public FakeProbe(string target, bool reachable)
            : this(target, _ => ValueTask.FromResult(reachable))
        {
        }

        public string Target { get; } = target;

        public ValueTask<bool> ProbeAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return probe(cancellationToken);
        }
    }

    private static ArbiterRequest Request(AcquireReason reason) =>
        new("web", "a", 5, reason, reason == AcquireReason.PeerDead ? ["b"] : []);

    [Test]
    public void The_name_is_two_node()
    {
        Assert.That(new TwoNodeArbiter([]).Name, Is.EqualTo("two-node"));
    }

    [TestCase(AcquireReason.Initial)]
    [TestCase(AcquireReason.Handoff)]
    [TestCase(AcquireReason.Renew)]
    public async Task Cooperative_reasons_are_granted_without_probing(AcquireReason reason)
    {
        var probe = new FakeProbe("tcp 10.0.0.1:80", reachable: false);
        var arbiter = new TwoNodeArbiter([probe]);

        var decision = await arbiter.RequestAsync(Request(reason), CancellationToken.None);

        Assert.That(decision.Granted, Is.True);
        Assert.That(decision.Explanation, Is.EqualTo($"peer cooperative: {reason}"));
        Assert.That(decision.LeaseDuration, Is.Null);
        Assert.That(decision.Epoch, Is.Null);
        Assert.That(probe.Calls, Is.Zero);
    }

    [Test]
    public async Task A_PeerDead_request_without_ping_targets_is_granted()
    {
        var decision = await new TwoNodeArbiter([]).RequestAsync(Request(AcquireReason.PeerDead), CancellationToken.None);
        Assert.That(decision.Granted, Is.True);
        Assert.That(decision.Explanation, Is.EqualTo("no ping targets configured"));
    }

    [Test]
    public async Task One_reachable_target_grants_a_PeerDead_request_and_the_explanation_lists_every_target()
    {
        var p1 = new FakeProbe("tcp 10.0.0.1:80", reachable: true);
        var p2 = new FakeProbe("tcp 10.0.0.2:80", reachable: false);
        var logger = new FakeLogger();
        var arbiter = new TwoNodeArbiter([p1, p2], logger);

        var decision = await arbiter.RequestAsync(Request(AcquireReason.PeerDead), CancellationToken.None);

        Assert.That(decision.Granted, Is.True);
        Assert.That(decision.Explanation, Is.EqualTo("tcp 10.0.0.1:80 reachable, tcp 10.0.0.2:80 unreachable"));
        Assert.That(p1.Calls, Is.EqualTo(1));
        Assert.That(p2.Calls, Is.EqualTo(1));
        Assert.That(logger.LatestRecord.Level, Is.EqualTo(LogLevel.Information));
        Assert.That(logger.LatestRecord.Message, Does.Contain("web").And.Contain("1/2"));
    }

    [Test]
    public async Task With_no_target_reachable_a_PeerDead_request_is_denied_and_a_warning_logged()
    {
        var logger = new FakeLogger();
        var arbiter = new TwoNodeArbiter(
            [new FakeProbe("tcp 10.0.0.1:80", false), new FakeProbe("tcp 10.0.0.2:80", false)], logger);

        var decision = await arbiter.RequestAsync(Request(AcquireReason.PeerDead), CancellationToken.None);

        Assert.That(decision.Granted, Is.False);
        Assert.That(decision.Explanation, Is.EqualTo("no ping target reachable: tcp 10.0.0.1:80 unreachable, tcp 10.0.0.2:80 unreachable"));
        Assert.That(logger.LatestRecord.Level, Is.EqualTo(LogLevel.Warning));
        Assert.That(logger.LatestRecord.Message, Does.Contain("refuses takeover of group web"));
    }

    [Test]
    public async Task A_probe_that_throws_counts_as_unreachable_and_the_arbiter_does_not_throw()
    {
        var logger = new FakeLogger();
        var arbiter = new TwoNodeArbiter(
            [
                new FakeProbe("tcp 10.0.0.1:80", _ => throw new InvalidOperationException("boom")),
                new FakeProbe("tcp 10.0.0.2:80", _ => ValueTask.FromException<bool>(new InvalidOperationException("async boom"))),
            ],
            logger);

        var decision = await arbiter.RequestAsync(Request(AcquireReason.PeerDead), CancellationToken.None);

        Assert.That(decision.Granted, Is.False);
        Assert.That(decision.Explanation, Does.Contain("tcp 10.0.0.1:80 unreachable").And.Contain("tcp 10.0.0.2:80 unreachable"));
        var failures = logger.Collector.GetSnapshot().Where(r => r.Exception is InvalidOperationException).ToList();
        Assert.That(failures, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task The_probes_run_concurrently()
    {
        // Each probe answers only once both have started: sequential probing would never finish.
        var started = 0;
        var bothStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async ValueTask<bool> Gate(CancellationToken ct)
        {
            if (Interlocked.Increment(ref started) == 2)
            {
                bothStarted.SetResult();
            }

            await bothStarted.Task.WaitAsync(TimeSpan.FromSeconds(5), ct);
            return true;
        }

        var arbiter = new TwoNodeArbiter([new FakeProbe("tcp a:1", Gate), new FakeProbe("tcp b:1", Gate)]);
        var decision = await arbiter.RequestAsync(Request(AcquireReason.PeerDead), CancellationToken.None);

        Assert.That(decision.Granted, Is.True, decision.Explanation);
        Assert.That(decision.Explanation, Is.EqualTo("tcp a:1 reachable, tcp b:1 reachable"));
    }

    [Test]
    public async Task The_callers_cancellation_is_a_denial_not_an_exception()
    {
        using var cts = new CancellationTokenSource();
        async ValueTask<bool> Hang(CancellationToken ct)
        {
            await Task.Delay(Timeout.Infinite, ct);
            return true;
        }

        var arbiter = new TwoNodeArbiter([new FakeProbe("tcp 10.0.0.1:80", Hang)]);
        var pending = arbiter.RequestAsync(Request(AcquireReason.PeerDead), cts.Token).AsTask();
        cts.Cancel();
        var decision = await pending.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.That(decision.Granted, Is.False);
        Assert.That(decision.Explanation, Does.Contain("cancelled").And.Contain("tcp 10.0.0.1:80 unreachable"));
    }

    [Test]
    public async Task A_null_request_or_an_unknown_reason_is_denied()
    {
        var arbiter = new TwoNodeArbiter([]);
        Assert.That((await arbiter.RequestAsync(null!, CancellationToken.None)).Granted, Is.False);
        Assert.That((await arbiter.RequestAsync(Request((AcquireReason)42), CancellationToken.None)).Granted, Is.False);
    }

    [Test]
    public void ReleaseAsync_completes_at_once()
    {
        var release = new TwoNodeArbiter([new FakeProbe("x", true)]).ReleaseAsync("web", "a", CancellationToken.None);
        Assert.That(release.IsCompletedSuccessfully, Is.True);
    }

    [Test]
    public void The_constructor_rejects_a_null_target_list_or_target()
    {
        Assert.That(() => new TwoNodeArbiter(null!), Throws.ArgumentNullException);
        Assert.That(() => new TwoNodeArbiter([null!]), Throws.ArgumentNullException);
    }
}
