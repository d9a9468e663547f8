using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Tests;

/// <summary>
/// Real <see cref="IHost"/>s in this process, heartbeating over UDP on free loopback ports. Every wait is bounded and
/// every host is stopped and disposed after it (<see cref="HostFixture"/>).
/// </summary>
[TestFixture]
[NonParallelizable]
public class HostTests : HostFixture
{
    protected override string StatePrefix => "hakit-hosting-test-";

    private IHost Host(Dictionary<string, string?> config, Action<IHaKitBuilder> register, Action<IServiceCollection>? services = null, LogSink? logs = null)
    {
        var host = TestHosts.Build(config, register, services, logs);
        Hosts.Add(host);
        return host;
    }

    private static GroupStatusView Web(IHost host) => host.Services.GetRequiredService<ClusterNode>().GetStatus().Groups.Single(g => g.Group == "web");

    private static Task<HealthReport> Health(IHost host) => host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

    [Test]
    public async Task A_bad_value_stops_the_host_at_start_with_key_value_and_fix()
    {
        var config = TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir);
        config["HaKit:Timing:DeadTime"] = "00:00:00.080";
        var recorder = new Recorder();
        var host = Host(config, b => b.AddResource("web", _ => recorder.Resource("a")));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(ex!.Message, Does.Contain("HaKit:Timing:DeadTime = 00:00:00.0800000: must be at least twice Timing:Interval (00:00:00.0500000)"));
        Assert.That(ex.Message, Does.Contain("raise DeadTime or lower Interval"));
        Assert.That(recorder.Log, Is.Empty, "nothing ran");
        Assert.That(Directory.EnumerateFiles(StateDir), Is.Empty, "the node never started (no state file written)");
    }

    [Test]
    public async Task A_missing_resource_stops_the_host_at_start()
    {
        var host = Host(TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir), _ => { });
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.That(ex!.Message, Does.Contain("HaKit:Groups:0:Resources = (none): group web has no resources; register one with AddResource<T>(\"web\") or by listing a resource of HaKit:Resources"));
    }

    [Test]
    public async Task A_short_shutdown_timeout_is_raised_to_fit_a_graceful_handover_and_logged()
    {
        var logs = new LogSink();
        var config = TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir);
        var recorder = new Recorder();
        var host = Host(
            config,
            b => b.AddResource("web", _ => recorder.Resource("a", "one")).AddResource("web", _ => recorder.Resource("a", "two")),
            s => s.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(1)),
            logs);

        await host.StartAsync();

        // 2 resources x 2 s stop timeout + 2 x 300 ms dead time + 5 s
        var expected = TimeSpan.FromSeconds(4) + TimeSpan.FromMilliseconds(600) + TimeSpan.FromSeconds(5);
        Assert.That(host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout, Is.EqualTo(expected));
        Assert.That(logs.Lines, Has.Some.StartsWith("raised HostOptions.ShutdownTimeout from 00:00:01 to 00:00:09.6000000"));
    }

    [Test]
    public async Task A_long_enough_shutdown_timeout_is_left_alone()
    {
        var recorder = new Recorder();
        var host = Host(
            TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir),
            b => b.AddResource("web", _ => recorder.Resource("a")),
            s => s.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMinutes(2)));
        await host.StartAsync();
        Assert.That(host.Services.GetRequiredService<IOptions<HostOptions>>().Value.ShutdownTimeout, Is.EqualTo(TimeSpan.FromMinutes(2)));
    }

    [TestCase(true, new[] { "a start second epoch=1", "a start first epoch=1" })]
    [TestCase(false, new[] { "a start first epoch=1", "a start second epoch=1" })]
    public async Task Resources_start_in_the_listed_order_else_in_registration_order(bool listed, string[] expected)
    {
        var config = TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir);
        if (listed)
        {
            config["HaKit:Groups:0:Resources:0"] = "second";
            config["HaKit:Groups:0:Resources:1"] = "first";
        }

        var recorder = new Recorder();
        var host = Host(config, b => b
            .AddResource("web", _ => recorder.Resource("a", "first"))
            .AddResource("web", _ => recorder.Resource("a", "second")));

        // Alone: node a takes the group once b was never heard within the initial dead time.
        await host.StartAsync();
        await TestHosts.WaitFor(() => recorder.Log.Count == 2, "both resources started");

        Assert.That(recorder.Log, Is.EqualTo(expected));
    }

    [Test]
    public async Task Two_hosts_elect_one_owner_and_the_owners_host_shutdown_hands_over_with_no_overlap()
    {
        var ports = TestHosts.FreeUdpPorts(2);
        var recorder = new Recorder();
        var logsA = new LogSink();
        var a = Host(TestHosts.Config("a", ports, StateDir), b => b.AddResource("web", _ => recorder.Resource("a")), logs: logsA);
        var b = Host(TestHosts.Config("b", ports, StateDir), x => x.AddResource("web", _ => recorder.Resource("b")));
        await a.StartAsync();
        await b.StartAsync();

        await TestHosts.WaitFor(() => Web(a).Role == GroupRole.Active && Web(b).Owner == "a" && recorder.Running == 1, "a (the preferred node) owns web and b sees it");
        Assert.That(Web(b).Role, Is.EqualTo(GroupRole.Standby));
        var epoch = Web(a).Epoch;
        var healthA = await Health(a);
        var healthB = await Health(b);
        Assert.That(healthA.Status, Is.EqualTo(HealthStatus.Healthy), healthA.Entries["hakit"].Description);
        Assert.That(healthA.Entries["hakit"].Description, Is.EqualTo($"a: web Active epoch {epoch}; peer b Alive (lan0 up)"));
        Assert.That(healthB.Entries["hakit"].Description, Is.EqualTo($"b: web Standby owner a epoch {epoch}; peer a Alive (lan0 up)"));

        using (var cts = new CancellationTokenSource(TestHosts.Bound))
        {
            await a.StopAsync(cts.Token);
        }

        // The host's stop returned only after b took the group: b is already Starting or Active.
        Assert.That(Web(b).Role, Is.AnyOf(GroupRole.Starting, GroupRole.Active));
        Assert.That(logsA.Lines, Has.Some.EqualTo("group web handed over to b"));
        await TestHosts.WaitFor(() => Web(b).Role == GroupRole.Active && recorder.Running == 1, "b runs web");

        Assert.That(recorder.MaxRunning, Is.EqualTo(1), "never both: " + string.Join(" | ", recorder.Log));
        Assert.That(recorder.Log, Is.EqualTo(new[] { $"a start http epoch={epoch}", $"a stop http epoch={epoch}", $"b start http epoch={epoch + 1}" }));
        Assert.That((await Health(a)).Status, Is.EqualTo(HealthStatus.Unhealthy), "a's node is stopped");
        await TestHosts.WaitFor(() => Health(b).Result.Entries["hakit"].Data["peer.a.health"] is "Dead", "b sees a dead");
        var after = await Health(b);
        Assert.That(after.Status, Is.EqualTo(HealthStatus.Degraded), after.Entries["hakit"].Description);
        Assert.That(after.Entries["hakit"].Description, Is.EqualTo($"b: web Active epoch {epoch + 1}; peer a Dead leaving (lan0 down)"));
    }

    [Test]
    public async Task A_fatal_resource_failure_makes_the_live_health_check_unhealthy()
    {
        var fatal = new HaKit.Resources.DelegateResource(
            "http",
            (_, _) => ValueTask.FromResult(HaKit.ResourceResult.Fatal("config file missing")),
            (_, _) => ValueTask.FromResult(HaKit.ResourceResult.Success));
        var host = Host(TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir), b => b.AddResource("web", _ => fatal));
        Assert.That((await Health(host)).Status, Is.EqualTo(HealthStatus.Unhealthy), "not started yet");

        await host.StartAsync();

        await TestHosts.WaitFor(() => Health(host).Result.Entries["hakit"].Data.ContainsKey("group.web.fatal"), "the group is fatally stopped");
        var report = await Health(host);
        Assert.That(report.Status, Is.EqualTo(HealthStatus.Unhealthy), report.Entries["hakit"].Description);
        Assert.That(report.Entries["hakit"].Description, Does.Contain("fatally stopped everywhere"));
    }
}
