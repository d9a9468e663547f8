using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Etcd.Tests.Harness;
using HaKit.Hosting;
using HaKit.Resources;
using HaKit.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace HaKit.Etcd.Tests;

/// <summary><c>AddHaKit().UseEtcd()</c> in Etcd mode against a real etcd: the lease store comes from <c>HaKit:Arbiter:Etcd</c>, is logged, used and disposed with the host.</summary>
[TestFixture]
[NonParallelizable]
public class HostingEtcdTests
{
    private EtcdProcess _etcd = null!;
    private string _stateDir = "";

    [SetUp]
    public async Task SetUp()
    {
        _etcd = await EtcdProcess.StartAsync();
        _stateDir = Directory.CreateTempSubdirectory("hakit-etcd-host-").FullName;
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_etcd is not null)
        {
            await _etcd.DisposeAsync();
        }

        if (_stateDir.Length > 0)
        {
            Directory.Delete(_stateDir, recursive: true);
        }
    }

    private Dictionary<string, string?> Config(string cluster)
    {
        var config = SingleNodeConfig.For(cluster, _stateDir, "Etcd", _etcd.ClientUrl);
        config["HaKit:Arbiter:RetryInterval"] = "00:00:00.200";
        return config;
    }

    [Test]
    public async Task UseEtcd_builds_the_store_from_configuration_logs_it_owns_the_group_through_etcd_and_disposes_the_store()
    {
        var cluster = "host" + Guid.NewGuid().ToString("N")[..8];
        var logs = new LogSink();
        var running = false;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(Config(cluster));
        builder.Logging.AddProvider(logs);
        builder.Services.AddHaKit().UseEtcd().AddResource("web", _ => new DelegateResource(
            "svc",
            (_, _) => { running = true; return ValueTask.FromResult(ResourceResult.Success); },
            (_, _) => { running = false; return ValueTask.FromResult(ResourceResult.Success); },
            (_, _) => ValueTask.FromResult(running ? MonitorResult.Running : MonitorResult.NotRunning())));
        EtcdLeaseStore store;
        using (var host = builder.Build())
        {
            await host.StartAsync();
            var node = host.Services.GetRequiredService<ClusterNode>();
            store = (EtcdLeaseStore)host.Services.GetRequiredService<ILeaseStore>();
            Assert.That(store.Endpoints, Is.EqualTo(new[] { _etcd.ClientUrl }));
            Assert.That(store.RequestTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(500)));

            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (node.GetStatus().Groups.Single().Role != GroupRole.Active)
            {
                Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "a alone takes the group through etcd");
                await Task.Delay(20);
            }

            var holder = await store.GetAsync($"/apps/{cluster}/groups/web", CancellationToken.None);
            Assert.That(holder?.Value, Is.EqualTo("a"), "ownership is the key under the configured prefix");
            Assert.That(node.GetStatus().Groups.Single().Epoch, Is.EqualTo((ulong)holder!.CreateRevision));
            Assert.That(logs.Lines, Has.Some.Contains($"etcd arbiter: etcd {_etcd.ClientUrl}, lease ttl 2 s"));

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await host.StopAsync(cts.Token);
            Assert.That(await store.GetAsync($"/apps/{cluster}/groups/web", CancellationToken.None), Is.Null, "a graceful stop releases the key");
        }

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.GetAsync("/k", CancellationToken.None), "disposed with the host");
    }

    [Test]
    public async Task UseEtcd_settings_in_code_win_over_configuration()
    {
        var cluster = "host" + Guid.NewGuid().ToString("N")[..8];
        var config = Config(cluster);
        config["HaKit:Arbiter:Etcd:Endpoints:0"] = "http://127.0.0.1:1"; // replaced in code by the running etcd
        var running = false;
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(config);
        builder.Services.AddHaKit()
            .UseEtcd(o =>
            {
                o.Endpoints = [_etcd.ClientUrl];
                o.KeyPrefix = "/code";
                o.RequestTimeout = TimeSpan.FromMilliseconds(400);
            })
            .AddResource("web", _ => new DelegateResource(
                "svc",
                (_, _) => { running = true; return ValueTask.FromResult(ResourceResult.Success); },
                (_, _) => { running = false; return ValueTask.FromResult(ResourceResult.Success); },
                (_, _) => ValueTask.FromResult(running ? MonitorResult.Running : MonitorResult.NotRunning())));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var store = (EtcdLeaseStore)host.Services.GetRequiredService<ILeaseStore>();
            Assert.That(store.Endpoints, Is.EqualTo(new[] { _etcd.ClientUrl }));
            Assert.That(store.RequestTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(400)));
            var node = host.Services.GetRequiredService<ClusterNode>();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            while (node.GetStatus().Groups.Single().Role != GroupRole.Active)
            {
                Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "a alone takes the group through etcd");
                await Task.Delay(20);
            }

            var holder = await store.GetAsync($"/code/{cluster}/groups/web", CancellationToken.None);
            Assert.That(holder?.Value, Is.EqualTo("a"), "the key is under the prefix set in code");
        }
        finally
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await host.StopAsync(cts.Token);
        }
    }
}
