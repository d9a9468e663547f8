using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Runtime;
using HaKit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Tests;

/// <summary>
/// HaKit.Hosting needs neither HaKit.Etcd nor etcd's client (it does use gRPC: it serves the admin API): a host that does not use etcd never loads them, and one
/// in Etcd mode gets its lease store from the container (<c>UseEtcd()</c> of HaKit.Etcd, or any <see cref="ILeaseStore"/>).
/// This test project does not reference HaKit.Etcd (directly or through another project): its dependency manifest names none.
/// </summary>
[TestFixture]
[NonParallelizable]
public class EtcdIndependenceTests : HostFixture
{
    protected override string StatePrefix => "hakit-hosting-etcd-";

    private static bool IsEtcd(string? name) =>
        name is not null && (name == "HaKit.Etcd" || name == "dotnet-etcd");

    private IHost Host(Dictionary<string, string?> config, Action<IHaKitBuilder> register, Action<IServiceCollection>? services = null)
    {
        var host = TestHosts.Build(config, register, services);
        Hosts.Add(host);
        return host;
    }

    /// <summary>A valid Etcd-mode configuration for node a alone (b is never started): a takes web after the initial dead time.</summary>
    private Dictionary<string, string?> EtcdConfig()
    {
        var config = TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir);
        config["HaKit:Arbiter:Mode"] = "Etcd";
        config["HaKit:Arbiter:LeaseTtl"] = "00:00:02";
        config["HaKit:Arbiter:LeaseDriftMargin"] = "00:00:00.300";
        config["HaKit:Arbiter:RetryInterval"] = "00:00:00.200";
        config["HaKit:Arbiter:Etcd:Endpoints:0"] = "http://127.0.0.1:2379";
        config["HaKit:Arbiter:Etcd:RequestTimeout"] = "00:00:00.500";
        return config;
    }

    [Test]
    public void The_hosting_assembly_references_neither_HaKit_Etcd_nor_dotnet_etcd()
    {
        var referenced = typeof(IHaKitBuilder).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();

        Assert.That(referenced, Does.Contain("HaKit"), "the check sees the hosting assembly's references (the core is one)");
        Assert.That(referenced, Does.Contain("Microsoft.Extensions.Hosting.Abstractions"));
        Assert.That(referenced.Where(IsEtcd), Is.Empty);
    }

    [Test]
    public void This_test_project_does_not_bring_HaKit_Etcd_along()
    {
        // The dependency manifest written by every build (a stale HaKit.Etcd.dll left in bin/ by an older build does not count).
        var deps = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "HaKit.Hosting.Tests.deps.json"));
        Assert.That(deps, Does.Contain("\"HaKit.Hosting/"), "the check reads the manifest that lists this project's dependencies");
        Assert.That(deps, Does.Not.Contain("HaKit.Etcd"));
        Assert.That(deps, Does.Not.Contain("dotnet-etcd"));
    }

    [Test]
    public async Task A_TwoNode_host_starts_serves_and_never_loads_etcd()
    {
        var recorder = new Recorder();
        var host = Host(TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir), b => b.AddResource("web", _ => recorder.Resource("a")));

        await host.StartAsync();
        var node = host.Services.GetRequiredService<ClusterNode>();
        await TestHosts.WaitFor(() => node.GetStatus().Groups.Single().Role == GroupRole.Active && recorder.Running == 1, "a alone runs web (b never started)");

        var loaded = AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).ToList();
        Assert.That(loaded, Does.Contain("HaKit.Hosting"), "the check sees the assemblies this host loaded");
        Assert.That(loaded, Does.Contain("HaKit"));
        Assert.That(loaded.Where(IsEtcd), Is.Empty);
    }

    [Test]
    public async Task Etcd_mode_without_a_lease_store_stops_the_host_at_start_naming_the_key_the_value_and_the_fix()
    {
        var recorder = new Recorder();
        var host = Host(EtcdConfig(), b => b.AddResource("web", _ => recorder.Resource("a")));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(ex!.Failures, Is.EqualTo(new[]
        {
            "HaKit:Arbiter:Mode = Etcd: no lease store is registered; add the HaKit.Etcd package and call .UseEtcd() on AddHaKit() (or register an ILeaseStore)",
        }));
        Assert.That(recorder.Log, Is.Empty, "nothing ran");
        Assert.That(Directory.EnumerateFiles(StateDir), Is.Empty, "the node never started (no state file written)");
    }

    [Test]
    public async Task A_grpc_link_without_UseGrpcLinks_stops_the_host_at_start_naming_the_key_and_the_fix()
    {
        var recorder = new Recorder();
        var config = TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir);
        config["HaKit:Links:1:Name"] = "grpc0";
        config["HaKit:Links:1:Kind"] = "Grpc";
        config["HaKit:Links:1:AllowPlaintext"] = "true";
        config["HaKit:Nodes:0:Addresses:grpc0"] = "127.0.0.1:7411";
        config["HaKit:Nodes:1:Addresses:grpc0"] = "127.0.0.1:7412";
        var host = Host(config, b => b.AddResource("web", _ => recorder.Resource("a")));

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(ex!.Failures, Is.EqualTo(new[]
        {
            "HaKit:Links[1]:Kind = Grpc: link grpc0 needs the HaKit.Grpc package; reference it and call .UseGrpcLinks() on AddHaKit()",
        }));
        Assert.That(recorder.Log, Is.Empty, "nothing ran");
    }

    [Test]
    public async Task Etcd_mode_uses_an_ILeaseStore_registered_in_the_container()
    {
        var recorder = new Recorder();
        var store = new LockedLeaseStore(new InMemoryLeaseStore(TimeProvider.System, "test store"));
        var host = Host(EtcdConfig(), b => b.AddResource("web", _ => recorder.Resource("a")), s => s.AddSingleton<ILeaseStore>(store));

        await host.StartAsync();
        var node = host.Services.GetRequiredService<ClusterNode>();
        await TestHosts.WaitFor(() => node.GetStatus().Groups.Single().Role == GroupRole.Active && recorder.Running == 1, "a takes web through the store");

        var holder = await store.GetAsync("/hakit/hosting-test/groups/web", CancellationToken.None);
        Assert.That(holder?.Value, Is.EqualTo("a"), "ownership is the key in the registered store");
        Assert.That(node.GetStatus().Groups.Single().Epoch, Is.EqualTo((ulong)holder!.CreateRevision));
    }

    [Test]
    public async Task Etcd_mode_with_an_arbiter_of_the_applications_own_needs_no_lease_store()
    {
        var recorder = new Recorder();
        var host = Host(EtcdConfig(), b => b.AddResource("web", _ => recorder.Resource("a")).UseArbiter<GrantingArbiter>());

        await host.StartAsync();
        var node = host.Services.GetRequiredService<ClusterNode>();
        await TestHosts.WaitFor(() => node.GetStatus().Groups.Single().Role == GroupRole.Active && recorder.Running == 1, "a takes web on its own arbiter's word");
    }

    /// <summary>An arbiter of the application's own: grants every request (one node in this test).</summary>
    private sealed class GrantingArbiter : IArbiter
    {
        public string Name => "granting";

        public ValueTask<ArbiterDecision> RequestAsync(ArbiterRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult(ArbiterDecision.Grant("test arbiter grants"));

        public ValueTask ReleaseAsync(string group, string node, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    /// <summary><see cref="InMemoryLeaseStore"/> is written for one thread (the simulator); the node calls from several tasks.</summary>
    private sealed class LockedLeaseStore(InMemoryLeaseStore inner) : ILeaseStore
    {
        private readonly Lock _gate = new();

        public string Name => inner.Name;

        public ValueTask<(long LeaseId, TimeSpan Ttl)> GrantLeaseAsync(TimeSpan ttl, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return ValueTask.FromResult(inner.GrantLeaseAsync(ttl, cancellationToken).Result);
            }
        }

        public ValueTask<TimeSpan?> KeepAliveAsync(long leaseId, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return ValueTask.FromResult(inner.KeepAliveAsync(leaseId, cancellationToken).Result);
            }
        }

        public ValueTask RevokeLeaseAsync(long leaseId, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                inner.RevokeLeaseAsync(leaseId, cancellationToken).AsTask().GetAwaiter().GetResult();
                return ValueTask.CompletedTask;
            }
        }

        public ValueTask<LeaseClaim> PutIfAbsentAsync(string key, string value, long leaseId, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return ValueTask.FromResult(inner.PutIfAbsentAsync(key, value, leaseId, cancellationToken).Result);
            }
        }

        public ValueTask<LeaseHolder?> GetAsync(string key, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return ValueTask.FromResult(inner.GetAsync(key, cancellationToken).Result);
            }
        }

        public ValueTask<bool> DeleteIfLeaseAsync(string key, long leaseId, CancellationToken cancellationToken)
        {
            lock (_gate)
            {
                return ValueTask.FromResult(inner.DeleteIfLeaseAsync(key, leaseId, cancellationToken).Result);
            }
        }
    }
}
