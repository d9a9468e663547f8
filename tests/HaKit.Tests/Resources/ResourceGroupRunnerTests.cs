using HaKit.Resources;

namespace HaKit.Tests.Resources;

[TestFixture]
public sealed class ResourceGroupRunnerTests : RunnerTestBase
{
    [Test]
    public async Task Start_runs_in_order_and_stop_runs_in_reverse()
    {
        var (runner, _) = Create("a", "b", "c");

        var started = await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));
        Assert.That(started.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "start b", "start c" }));

        var stopped = await Bounded(runner.StopAsync(CancellationToken.None));
        Assert.That(stopped.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(stopped.Resource, Is.Null);
        Assert.That(TakeLog(), Is.EqualTo(new[] { "stop c", "stop b", "stop a" }));
    }

    [Test]
    public async Task Epoch_and_ownership_token_reach_every_action()
    {
        var (runner, resources) = Create("a", "b");
        using var ownership = new CancellationTokenSource();

        await Bounded(runner.StartAsync(42, ownership.Token, CancellationToken.None));
        await Bounded(runner.MonitorAsync(CancellationToken.None));
        await Bounded(runner.StopAsync(CancellationToken.None));

        foreach (var resource in resources)
        {
            Assert.That(resource.Contexts.Select(c => c.Action), Is.EqualTo(new[] { ResourceAction.Start, ResourceAction.Monitor, ResourceAction.Stop }));
            foreach (var (_, context) in resource.Contexts)
            {
                Assert.That(context.Group, Is.EqualTo("web"));
                Assert.That(context.Node, Is.EqualTo("node1"));
                Assert.That(context.Epoch, Is.EqualTo(42UL));
                Assert.That(context.OwnershipToken, Is.EqualTo(ownership.Token));
            }
        }
    }

    [TestCase(ResourceFailureKind.PermanentOnNode)]
    [TestCase(ResourceFailureKind.Fatal)]
    public async Task Start_failure_of_last_stops_in_reverse_and_fails_with_kind(ResourceFailureKind kind)
    {
        var (runner, resources) = Create("a", "b", "c");
        resources[2].Start(ResourceResult.Failure(kind, "broken"));

        var outcome = await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(outcome.FailureKind, Is.EqualTo(kind));
        Assert.That(outcome.Resource, Is.EqualTo("c"));
        Assert.That(outcome.Message, Is.EqualTo("broken"));
        Assert.That(outcome.Restarts, Is.Zero);
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "start b", "start c", "stop c", "stop b", "stop a" }));
    }

    [Test]
    public async Task Transient_start_failure_is_retried_and_counted()
    {
        var (runner, resources) = Create("a", "b", "c");
        resources[1].Start(ResourceResult.Transient("port busy"));

        var outcome = await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(outcome.Restarts, Is.EqualTo(1));
        Assert.That(runner.Restarts.RestartsInWindow, Is.EqualTo(1));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "start b", "stop b", "start b", "start c" }));
    }

    [Test]
    public async Task Transient_start_failures_exhaust_budget_fail_transient_and_roll_back()
    {
        var (runner, resources) = Create(Options(maxRestarts: 2), "a", "b", "c");
        resources[2].DefaultStart = _ => new(ResourceResult.Transient("nope"));

        var outcome = await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(outcome.FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(outcome.Resource, Is.EqualTo("c"));
        Assert.That(outcome.Restarts, Is.EqualTo(2));
        Assert.That(outcome.Message, Does.Contain("restart budget exhausted").And.Contain("nope"));
        Assert.That(TakeLog(), Is.EqualTo(new[]
        {
            "start a", "start b", "start c", "stop c", "start c", "stop c", "start c", "stop c", "stop b", "stop a",
        }));
    }

    [Test]
    public async Task Start_failure_with_failing_rollback_stop_is_blocked()
    {
        var (runner, resources) = Create("a", "b", "c");
        resources[2].Start(ResourceResult.Fatal("misconfigured"));
        resources[1].Stop(ResourceResult.Transient("stuck"));

        var outcome = await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Blocked));
        Assert.That(outcome.Resource, Is.EqualTo("b"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "start b", "start c", "stop c", "stop b", "stop a" }));
    }

    [Test]
    public async Task Start_failure_after_ownership_lost_is_not_retried()
    {
        var (runner, resources) = Create("a", "b");
        using var ownership = new CancellationTokenSource();
        resources[1].Start(_ =>
        {
            ownership.Cancel();
            return new(ResourceResult.Transient("lost the lease"));
        });

        var outcome = await Bounded(runner.StartAsync(3, ownership.Token, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(outcome.FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(outcome.Message, Does.Contain("ownership lost"));
        Assert.That(runner.Restarts.RestartsInWindow, Is.Zero);
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "start b", "stop b", "stop a" }));
    }

    [Test]
    public async Task Stop_failure_is_blocked_and_other_resources_are_still_stopped()
    {
        var (runner, resources) = Create("a", "b", "c");
        resources[1].Stop(ResourceResult.Transient("device busy"));
        resources[0].Stop(_ => throw new IOException("also broken"));

        var outcome = await Bounded(runner.StopAsync(CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Blocked));
        Assert.That(outcome.Resource, Is.EqualTo("b"), "the first failed stop is named");
        Assert.That(outcome.Message, Is.EqualTo("device busy"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "stop c", "stop b", "stop a" }));
    }

    [Test]
    public async Task A_stop_timeout_is_blocked_with_a_timed_out_record()
    {
        var (runner, resources) = Create("a", "b", "c");
        resources[1].Stop(RecordingResource.Hang<ResourceResult>);

        var outcome = await Drive(runner.StopAsync(CancellationToken.None), TimeSpan.FromSeconds(1));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Blocked));
        Assert.That(outcome.Resource, Is.EqualTo("b"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "stop c", "stop b", "stop a" }));
        var record = Records.Single(r => r.Resource == "b");
        Assert.That(record.Action, Is.EqualTo(ResourceAction.Stop));
        Assert.That(record.TimedOut, Is.True);
        Assert.That(record.Duration, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(20)));
        Assert.That(Records.Where(r => r.Resource != "b").Select(r => r.TimedOut), Is.All.False);
    }

    [Test]
    public async Task Start_timeout_is_transient()
    {
        var (runner, resources) = Create(Options(maxRestarts: 0), "a", "b");
        resources[1].Start(RecordingResource.Hang<ResourceResult>);

        var outcome = await Drive(runner.StartAsync(1, CancellationToken.None, CancellationToken.None), TimeSpan.FromSeconds(1));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(outcome.FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(outcome.Resource, Is.EqualTo("b"));
        var record = Records.Single(r => r.Resource == "b" && r.Action == ResourceAction.Start);
        Assert.That(record.TimedOut, Is.True);
        Assert.That(record.FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(record.Message, Does.Contain("timed out"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "start b", "stop b", "stop a" }));
    }

    [Test]
    public async Task Start_timeout_is_retried_within_budget()
    {
        var (runner, resources) = Create("a");
        resources[0].Start(RecordingResource.Hang<ResourceResult>);

        var outcome = await Drive(runner.StartAsync(1, CancellationToken.None, CancellationToken.None), TimeSpan.FromSeconds(1));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(outcome.Restarts, Is.EqualTo(1));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "stop a", "start a" }));
    }

    [Test]
    public async Task The_restart_delay_is_waited_on_the_TimeProvider()
    {
        var (runner, resources) = Create(Options(restartDelay: TimeSpan.FromSeconds(5)), "a");
        resources[0].Start(ResourceResult.Transient("flaky"));

        var task = runner.StartAsync(1, CancellationToken.None, CancellationToken.None);
        await Task.Delay(50);
        Assert.That(task.IsCompleted, Is.False);
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "stop a" }));

        Time.Advance(TimeSpan.FromSeconds(4));
        await Task.Delay(50);
        Assert.That(task.IsCompleted, Is.False, "restarted before RestartDelay passed");

        Time.Advance(TimeSpan.FromSeconds(1));
        var outcome = await Bounded(task);
        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a" }));
    }

    [Test]
    public async Task Monitor_all_running_succeeds_without_other_actions()
    {
        var (runner, _) = Create("a", "b");
        await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));
        TakeLog();

        var outcome = await Bounded(runner.MonitorAsync(CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "monitor b" }));
    }

    [Test]
    public async Task Monitor_degraded_reports_Degraded_and_takes_no_action()
    {
        var (runner, resources) = Create("a", "b", "c");
        resources[1].Monitor(MonitorResult.Degraded("replica lagging"));

        var outcome = await Bounded(runner.MonitorAsync(CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Degraded));
        Assert.That(outcome.Resource, Is.EqualTo("b"));
        Assert.That(outcome.Message, Is.EqualTo("replica lagging"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "monitor b", "monitor c" }));
        Assert.That(runner.Restarts.RestartsInWindow, Is.Zero);
    }

    [Test]
    public async Task Monitor_not_running_restarts_failed_and_later_resources_in_order()
    {
        var (runner, resources) = Create("a", "b", "c", "d");
        await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));
        TakeLog();
        resources[1].Monitor(MonitorResult.NotRunning("exited with code 1"));

        var outcome = await Bounded(runner.MonitorAsync(CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Recovered));
        Assert.That(outcome.Resource, Is.EqualTo("b"));
        Assert.That(outcome.Restarts, Is.EqualTo(1));
        Assert.That(TakeLog(), Is.EqualTo(new[]
        {
            "monitor a", "monitor b", "stop d", "stop c", "stop b", "start b", "start c", "start d",
        }));
    }

    [Test]
    public async Task Monitor_transient_failed_and_monitor_exception_also_restart()
    {
        var (runner, resources) = Create("a", "b");
        resources[1].Monitor(MonitorResult.Failed(ResourceFailureKind.Transient, "health check 500"));
        resources[0].Monitor(_ => throw new InvalidOperationException("probe crashed"));

        var first = await Bounded(runner.MonitorAsync(CancellationToken.None));
        Assert.That(first.Outcome, Is.EqualTo(GroupOutcome.Recovered));
        Assert.That(first.Resource, Is.EqualTo("a"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "stop b", "stop a", "start a", "start b" }));
        var record = Records.First(r => r.Action == ResourceAction.Monitor);
        Assert.That(record.Status, Is.EqualTo(ResourceStatus.Failed));
        Assert.That(record.FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(record.Message, Does.Contain("probe crashed"));

        var second = await Bounded(runner.MonitorAsync(CancellationToken.None));
        Assert.That(second.Outcome, Is.EqualTo(GroupOutcome.Recovered));
        Assert.That(second.Resource, Is.EqualTo("b"));
        Assert.That(second.Restarts, Is.EqualTo(2));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "monitor b", "stop b", "start b" }));
    }

    [Test]
    public async Task Monitor_repeated_failures_exhaust_max_restarts_fail_transient()
    {
        var (runner, resources) = Create(Options(maxRestarts: 2), "a", "b");
        resources[1].DefaultMonitor = _ => new(MonitorResult.NotRunning("gone"));

        Assert.That((await Bounded(runner.MonitorAsync(CancellationToken.None))).Outcome, Is.EqualTo(GroupOutcome.Recovered));
        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.That((await Bounded(runner.MonitorAsync(CancellationToken.None))).Outcome, Is.EqualTo(GroupOutcome.Recovered));
        Time.Advance(TimeSpan.FromMinutes(1));
        TakeLog();

        var third = await Bounded(runner.MonitorAsync(CancellationToken.None));

        Assert.That(third.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(third.FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(third.Resource, Is.EqualTo("b"));
        Assert.That(third.Restarts, Is.EqualTo(2));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "monitor b" }), "no restart once the budget is exhausted");
    }

    [Test]
    public async Task Monitor_budget_exhausted_during_restart_fails_transient()
    {
        var (runner, resources) = Create(Options(maxRestarts: 2), "a", "b");
        resources[0].Monitor(MonitorResult.NotRunning("gone"));
        resources[0].DefaultStart = _ => new(ResourceResult.Transient("cannot bind"));

        var outcome = await Bounded(runner.MonitorAsync(CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(outcome.FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(outcome.Resource, Is.EqualTo("a"));
        Assert.That(outcome.Message, Does.Contain("cannot bind"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "stop b", "stop a", "start a", "stop a", "start a" }));
    }

    [Test]
    public async Task Monitor_restarts_older_than_the_window_no_longer_count()
    {
        var (runner, resources) = Create(Options(maxRestarts: 1, window: TimeSpan.FromMinutes(10)), "a");
        resources[0].DefaultMonitor = _ => new(MonitorResult.NotRunning("gone"));

        var first = await Bounded(runner.MonitorAsync(CancellationToken.None));
        Assert.That(first.Outcome, Is.EqualTo(GroupOutcome.Recovered));

        Time.Advance(TimeSpan.FromMinutes(9));
        var second = await Bounded(runner.MonitorAsync(CancellationToken.None));
        Assert.That(second.Outcome, Is.EqualTo(GroupOutcome.Failed), "the first restart still counts within the window");

        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.That(runner.Restarts.RestartsInWindow, Is.Zero);
        var third = await Bounded(runner.MonitorAsync(CancellationToken.None));
        Assert.That(third.Outcome, Is.EqualTo(GroupOutcome.Recovered));
        Assert.That(third.Restarts, Is.EqualTo(1));
    }

    [TestCase(ResourceFailureKind.PermanentOnNode)]
    [TestCase(ResourceFailureKind.Fatal)]
    public async Task Monitor_permanent_or_fatal_fails_immediately_without_restart(ResourceFailureKind kind)
    {
        var (runner, resources) = Create("a", "b", "c");
        resources[1].Monitor(MonitorResult.Failed(kind, "disk gone"));

        var outcome = await Bounded(runner.MonitorAsync(CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(outcome.FailureKind, Is.EqualTo(kind));
        Assert.That(outcome.Resource, Is.EqualTo("b"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "monitor b" }));
        Assert.That(runner.Restarts.RestartsInWindow, Is.Zero);
    }

    [Test]
    public async Task Monitor_stop_failure_during_restart_is_blocked()
    {
        var (runner, resources) = Create("a", "b", "c");
        resources[0].Monitor(MonitorResult.NotRunning());
        resources[1].Stop(ResourceResult.Transient("umount: target is busy"));

        var outcome = await Bounded(runner.MonitorAsync(CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Blocked));
        Assert.That(outcome.Resource, Is.EqualTo("b"));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "stop c", "stop b" }));
    }

    [Test]
    public async Task Monitor_timeout_is_transient_and_restarts()
    {
        var (runner, resources) = Create("a");
        resources[0].Monitor(RecordingResource.Hang<MonitorResult>);

        var outcome = await Drive(runner.MonitorAsync(CancellationToken.None), TimeSpan.FromSeconds(1));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Recovered));
        var record = Records.First();
        Assert.That(record.Action, Is.EqualTo(ResourceAction.Monitor));
        Assert.That(record.TimedOut, Is.True);
        Assert.That(record.Status, Is.EqualTo(ResourceStatus.Failed));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "monitor a", "stop a", "start a" }));
    }

    [TestCase(ResourceFailureKind.PermanentOnNode)]
    [TestCase(ResourceFailureKind.Fatal)]
    [TestCase(ResourceFailureKind.Transient)]
    public async Task A_ResourceException_carries_its_kind(ResourceFailureKind kind)
    {
        var (runner, resources) = Create(Options(maxRestarts: 0), "a");
        resources[0].Start(_ => throw new ResourceException(kind, "agent says no"));

        var outcome = await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(outcome.FailureKind, Is.EqualTo(kind));
        Assert.That(outcome.Message, Does.Contain("agent says no"));
        Assert.That(Records[0].FailureKind, Is.EqualTo(kind));
    }

    [Test]
    public async Task Plain_exception_is_transient_and_retried()
    {
        var (runner, resources) = Create("a");
        resources[0].Start(_ => throw new InvalidOperationException("boom"));

        var outcome = await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(outcome.Restarts, Is.EqualTo(1));
        Assert.That(Records[0].FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(Records[0].Message, Does.Contain("boom"));
        Assert.That(Records[0].TimedOut, Is.False);
    }

    [Test]
    public async Task Ownership_cancellation_inside_resource_is_transient_not_propagated()
    {
        var (runner, resources) = Create(Options(maxRestarts: 0), "a");
        using var ownership = new CancellationTokenSource();
        ownership.Cancel();
        resources[0].Start(_ => throw new OperationCanceledException(ownership.Token));

        var outcome = await Bounded(runner.StartAsync(1, ownership.Token, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Failed));
        Assert.That(outcome.FailureKind, Is.EqualTo(ResourceFailureKind.Transient));
    }

    [Test]
    public async Task Caller_cancellation_propagates()
    {
        var (runner, resources) = Create("a", "b");
        resources[1].Start(RecordingResource.Hang<ResourceResult>);
        using var shutdown = new CancellationTokenSource();

        var task = runner.StartAsync(1, CancellationToken.None, shutdown.Token);
        Assert.That(task.IsCompleted, Is.False);
        await shutdown.CancelAsync();

        Assert.That(async () => await task.WaitAsync(Bound), Throws.InstanceOf<OperationCanceledException>());
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "start b" }));
        Assert.That(Records.Select(r => r.Resource), Is.EqualTo(new[] { "a" }), "no record for the interrupted action");

        // The runner is usable again afterwards.
        var stop = await Bounded(runner.StopAsync(CancellationToken.None));
        Assert.That(stop.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
    }

    [Test]
    public async Task ActionCompleted_is_raised_for_every_action()
    {
        var (runner, resources) = Create("a", "b");
        resources[1].Monitor(MonitorResult.Degraded("slow"));

        await Bounded(runner.StartAsync(5, CancellationToken.None, CancellationToken.None));
        await Bounded(runner.MonitorAsync(CancellationToken.None));
        await Bounded(runner.StopAsync(CancellationToken.None));

        Assert.That(Records.Select(r => (r.Action, r.Resource)), Is.EqualTo(new[]
        {
            (ResourceAction.Start, "a"), (ResourceAction.Start, "b"),
            (ResourceAction.Monitor, "a"), (ResourceAction.Monitor, "b"),
            (ResourceAction.Stop, "b"), (ResourceAction.Stop, "a"),
        }));
        Assert.That(Records.Select(r => r.Group), Is.All.EqualTo("web"));
        Assert.That(Records.Where(r => r.Action != ResourceAction.Monitor).Select(r => r.Status), Is.All.Null);
        Assert.That(Records.Where(r => r.Action == ResourceAction.Monitor).Select(r => r.Status),
            Is.EqualTo(new ResourceStatus?[] { ResourceStatus.Running, ResourceStatus.Degraded }));
        Assert.That(Records.Select(r => r.FailureKind), Is.All.EqualTo(ResourceFailureKind.None));
    }

    [Test]
    public async Task Throwing_event_handler_does_not_break_the_runner()
    {
        var (runner, _) = Create("a", "b");
        runner.ActionCompleted += _ => throw new InvalidOperationException("bad handler");

        var outcome = await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));

        Assert.That(outcome.Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a", "start b" }));
    }

    [Test]
    public async Task Actions_are_serialized()
    {
        var (runner, resources) = Create("a", "b");
        var release = new TaskCompletionSource<ResourceResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        resources[0].Start(_ => new(release.Task));

        var start = runner.StartAsync(1, CancellationToken.None, CancellationToken.None);
        var monitor = runner.MonitorAsync(CancellationToken.None);
        await Task.Delay(50);
        Assert.That(monitor.IsCompleted, Is.False);
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start a" }));

        release.SetResult(ResourceResult.Success);
        await Bounded(start);
        await Bounded(monitor);
        Assert.That(TakeLog(), Is.EqualTo(new[] { "start b", "monitor a", "monitor b" }));
    }

    [Test]
    public void Duplicate_resource_names_are_rejected()
    {
        var log = new List<string>();
        Assert.That(
            () => new ResourceGroupRunner(Options(), [new RecordingResource("a", log), new RecordingResource("a", log)], "n", Time),
            Throws.ArgumentException);
    }

    [Test]
    public async Task Action_results_are_logged()
    {
        var logger = new Microsoft.Extensions.Logging.Testing.FakeLogger();
        var a = new RecordingResource("nginx", Log).Monitor(MonitorResult.NotRunning("exited with code 1"));
        var runner = new ResourceGroupRunner(Options(), [a], "node1", Time, logger);

        await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));
        await Bounded(runner.MonitorAsync(CancellationToken.None));

        var messages = logger.Collector.GetSnapshot().Select(r => r.Message).ToList();
        Assert.That(messages, Has.Member("group web: start nginx ok in 0 ms"));
        Assert.That(messages, Has.Member("group web: monitor nginx failed (NotRunning: exited with code 1), restarting (1/3 in 00:10:00)"));
    }

    [Test]
    public async Task Group_decisions_are_logged_by_the_runner()
    {
        var logger = new Microsoft.Extensions.Logging.Testing.FakeLogger();
        var a = new RecordingResource("nginx", Log).Stop(ResourceResult.Transient("device busy"));
        var b = new RecordingResource("db", Log);
        b.DefaultStart = _ => new(ResourceResult.Transient("port busy"));
        var runner = new ResourceGroupRunner(Options(maxRestarts: 1), [a, b], "node1", Time, logger);

        await Bounded(runner.StartAsync(1, CancellationToken.None, CancellationToken.None));

        var messages = logger.Collector.GetSnapshot().Select(r => r.Message).ToList();
        Assert.That(messages, Has.Member("group web: start db failed (Transient: port busy), restarting (1/1 in 00:10:00)"));
        Assert.That(messages, Has.Member("group web: db failed (Transient: port busy), restart budget exhausted (1 in 00:10:00); the group must move"));
        Assert.That(messages, Has.Member("group web: stop nginx failed (device busy); the group is blocked until this node is fenced or the failure is cleared"));
    }
}
