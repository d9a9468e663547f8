using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Etcd.Tests.Harness;
using HaKit.Hosting;
using HaKit.Resources;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HaKit.Etcd.Tests;

/// <summary>
/// <c>UseEtcd()</c> without an etcd process: what it registers, that the etcd keys are validated at start-up (also when set in
/// code), and that a host in another mode never creates the store. Nothing here connects to etcd.
/// </summary>
[TestFixture]
[NonParallelizable]
public class UseEtcdTests
{
    private readonly List<IHost> _hosts = [];
    private string _stateDir = "";

    [SetUp]
    public void SetUp() => _stateDir = Directory.CreateTempSubdirectory("hakit-use-etcd-").FullName;

    [TearDown]
    public async Task TearDown()
    {
        foreach (var host in _hosts)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await host.StopAsync(cts.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or OptionsValidationException or InvalidOperationException)
            {
            }

            host.Dispose();
        }

        _hosts.Clear();
        Directory.Delete(_stateDir, recursive: true);
    }

    private Dictionary<string, string?> Config(string mode) => SingleNodeConfig.For("use-etcd", _stateDir, mode, "http://127.0.0.1:2379");

    private IHost Host(Dictionary<string, string?> config, Action<IHaKitBuilder> use, LogSink? logs = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(config);
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        var hakit = builder.Services.AddHaKit();
        use(hakit);
        var running = false;
        hakit.AddResource("web", _ => new DelegateResource(
            "svc",
            (_, _) => { running = true; return ValueTask.FromResult(ResourceResult.Success); },
            (_, _) => { running = false; return ValueTask.FromResult(ResourceResult.Success); },
            (_, _) => ValueTask.FromResult(running ? MonitorResult.Running : MonitorResult.NotRunning())));
        var host = builder.Build();
        _hosts.Add(host);
        return host;
    }

    [Test]
    public void UseEtcd_registers_one_etcd_store_built_from_the_configuration_even_when_called_twice()
    {
        var services = new ServiceCollection();
        services.AddHaKit().UseEtcd().UseEtcd();
        Assert.That(services.Count(d => d.ServiceType == typeof(ILeaseStore)), Is.EqualTo(1));

        var host = Host(Config("Etcd"), b => b.UseEtcd());
        var store = host.Services.GetRequiredService<ILeaseStore>();
        Assert.That(store, Is.TypeOf<EtcdLeaseStore>());
        Assert.That(((EtcdLeaseStore)store).Endpoints, Is.EqualTo(new[] { "http://127.0.0.1:2379" }));
        Assert.That(((EtcdLeaseStore)store).RequestTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
        Assert.That(host.Services.GetRequiredService<ILeaseStore>(), Is.SameAs(store), "one store per host");
    }

    [Test]
    public void A_lease_store_registered_before_UseEtcd_is_kept()
    {
        var services = new ServiceCollection();
        using var own = new EtcdLeaseStore(["http://127.0.0.1:1"], TimeSpan.FromSeconds(1));
        services.AddSingleton<ILeaseStore>(own);
        services.AddHaKit().UseEtcd();
        using var provider = services.BuildServiceProvider();
        Assert.That(provider.GetRequiredService<ILeaseStore>(), Is.SameAs(own));
    }

    [Test]
    public async Task A_bad_etcd_endpoint_stops_the_host_at_start_naming_the_key_the_value_and_the_fix()
    {
        var config = Config("Etcd");
        config["HaKit:Arbiter:Etcd:Endpoints:0"] = "localhost:2379";
        var host = Host(config, b => b.UseEtcd());

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(ex!.Failures, Has.Some.EqualTo("HaKit:Arbiter:Etcd:Endpoints:0 = 'localhost:2379': must be an absolute http:// or https:// URL, e.g. http://10.0.0.5:2379"));
        Assert.That(Directory.EnumerateFiles(_stateDir), Is.Empty, "the node never started (no state file written)");
    }

    [Test]
    public async Task Etcd_settings_set_in_code_are_validated_at_start_too()
    {
        var host = Host(Config("Etcd"), b => b.UseEtcd(o => o.KeyPrefix = "apps"));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(ex!.Failures, Is.EqualTo(new[] { "HaKit:Arbiter:Etcd:KeyPrefix = 'apps': must start with '/', e.g. /hakit" }));
    }

    [Test]
    public async Task In_TwoNode_mode_UseEtcd_never_creates_the_store()
    {
        var logs = new LogSink();
        var host = Host(Config("TwoNode"), b => b.UseEtcd(), logs);

        await host.StartAsync();
        var node = host.Services.GetRequiredService<ClusterNode>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (node.GetStatus().Groups.Single().Role != GroupRole.Active)
        {
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "a alone takes the group in TwoNode mode");
            await Task.Delay(20);
        }

        Assert.That(logs.Lines, Is.Not.Empty, "the sink sees the host's log lines");
        Assert.That(logs.Lines, Has.None.Contains("etcd arbiter"), "the store is created (and logged) only in Etcd mode");
    }
}
