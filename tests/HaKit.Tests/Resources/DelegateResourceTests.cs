using HaKit.Resources;

namespace HaKit.Tests.Resources;

[TestFixture]
public sealed class DelegateResourceTests
{
    private static readonly ResourceContext Context = new("web", "node1", 7, CancellationToken.None);

    [Test]
    public async Task Default_monitor_follows_successful_start_and_stop()
    {
        int starts = 0;
        var resource = new DelegateResource(
            "listener",
            (_, _) => { starts++; return new ValueTask<ResourceResult>(starts == 1 ? ResourceResult.Transient("first fails") : ResourceResult.Success); },
            (_, _) => new ValueTask<ResourceResult>(ResourceResult.Success));

        Assert.That((await resource.MonitorAsync(Context, CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.NotRunning));
        Assert.That((await resource.StartAsync(Context, CancellationToken.None)).Kind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That((await resource.MonitorAsync(Context, CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.NotRunning), "a failed start does not make it Running");
        Assert.That((await resource.StartAsync(Context, CancellationToken.None)).Succeeded, Is.True);
        Assert.That((await resource.MonitorAsync(Context, CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.Running));
        Assert.That((await resource.StopAsync(Context, CancellationToken.None)).Succeeded, Is.True);
        Assert.That((await resource.MonitorAsync(Context, CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.NotRunning));
    }

    [Test]
    public async Task Custom_monitor_is_used_and_sees_the_context()
    {
        ResourceContext? seen = null;
        var resource = new DelegateResource(
            "db",
            (_, _) => new ValueTask<ResourceResult>(ResourceResult.Success),
            (_, _) => new ValueTask<ResourceResult>(ResourceResult.Success),
            (ctx, _) => { seen = ctx; return new ValueTask<MonitorResult>(MonitorResult.Degraded("lag")); });

        var result = await resource.MonitorAsync(Context, CancellationToken.None);

        Assert.That(result.Status, Is.EqualTo(ResourceStatus.Degraded));
        Assert.That(seen, Is.EqualTo(Context));
    }

    [Test]
    public async Task The_task_constructor_maps_success_and_exceptions()
    {
        var attempt = 0;
        var resource = new DelegateResource(
            "svc",
            (ctx, _) =>
            {
                attempt++;
                return attempt switch
                {
                    1 => throw new ResourceException(ResourceFailureKind.PermanentOnNode, "not installed"),
                    2 => Task.FromException(new IOException("flaky")),
                    _ => Task.CompletedTask,
                };
            },
            (_, _) => Task.CompletedTask);

        var first = await resource.StartAsync(Context, CancellationToken.None);
        Assert.That(first.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(first.Message, Is.EqualTo("not installed"));

        var second = await resource.StartAsync(Context, CancellationToken.None);
        Assert.That(second.Kind, Is.EqualTo(ResourceFailureKind.Transient));
        Assert.That(second.Exception, Is.InstanceOf<IOException>());

        Assert.That((await resource.StartAsync(Context, CancellationToken.None)).Succeeded, Is.True);
        Assert.That((await resource.MonitorAsync(Context, CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.Running));
    }

    [Test]
    public void The_task_constructor_propagates_cancellation_of_its_own_token()
    {
        var resource = new DelegateResource(
            "svc",
            async (_, ct) => await Task.Delay(Timeout.Infinite, ct),
            (_, _) => Task.CompletedTask);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        Assert.That(async () => await resource.StartAsync(Context, cts.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task Works_inside_a_runner()
    {
        var log = new List<string>();
        var a = new DelegateResource("a", (_, _) => { log.Add("start a"); return Task.CompletedTask; }, (_, _) => { log.Add("stop a"); return Task.CompletedTask; });
        var b = new DelegateResource("b", (_, _) => { log.Add("start b"); return Task.CompletedTask; }, (_, _) => { log.Add("stop b"); return Task.CompletedTask; });
        var runner = new ResourceGroupRunner(new GroupOptions { Name = "g" }, [a, b], "n1", TimeProvider.System);

        Assert.That((await runner.StartAsync(1, CancellationToken.None, CancellationToken.None)).Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That((await runner.MonitorAsync(CancellationToken.None)).Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That((await runner.StopAsync(CancellationToken.None)).Outcome, Is.EqualTo(GroupOutcome.Succeeded));
        Assert.That(log, Is.EqualTo(new[] { "start a", "start b", "stop b", "stop a" }));
    }

    [Test]
    public async Task A_stop_tells_every_resource_why_and_the_next_start_and_monitor_carry_no_reason()
    {
        var seen = new List<string>();
        var a = new DelegateResource(
            "a",
            (ctx, _) => { seen.Add($"start {ctx.StopReason?.ToString() ?? "-"}"); return Task.CompletedTask; },
            (ctx, _) => { seen.Add($"stop {ctx.StopReason?.ToString() ?? "-"}"); return Task.CompletedTask; });
        var runner = new ResourceGroupRunner(new GroupOptions { Name = "g" }, [a], "n1", TimeProvider.System);

        await runner.StartAsync(1, CancellationToken.None, CancellationToken.None);
        await runner.StopAsync(CancellationToken.None, StopReason.Switchover);
        await runner.StartAsync(2, CancellationToken.None, CancellationToken.None);
        await runner.StopAsync(CancellationToken.None, StopReason.ResourceFailure);
        await runner.StartAsync(3, CancellationToken.None, CancellationToken.None);
        await runner.StopAsync(CancellationToken.None);
        Assert.That(seen, Is.EqualTo(new[] { "start -", "stop Switchover", "start -", "stop ResourceFailure", "start -", "stop -" }));
    }
}
