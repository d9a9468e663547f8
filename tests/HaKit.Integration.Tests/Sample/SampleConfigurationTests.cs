using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Etcd;
using HaKit.Hosting;
using HaKit.Resources;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TwoNode;

namespace HaKit.Integration.Tests;

/// <summary>
/// The TwoNode sample's configuration layers as the program builds them (<see cref="SampleHost.CreateBuilder"/>): the
/// <c>--arbiter</c> overlays, the three-node etcd config, command-line keys over both, one HTTP resource per group.
/// Nothing is started: the options are bound and validated only.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SampleConfigurationTests
{
    private static readonly StdoutReporter Reporter = new(TextWriter.Null);

    [OneTimeTearDown]
    public static void DisposeReporter() => Reporter.Dispose();

    private static IHost Build(params string[] args)
    {
        Assert.That(CommandLine.TryTranslate(args, out var hostArgs, out var files, out var error), Is.True, error);
        return SampleHost.CreateBuilder(hostArgs, files, Reporter).Build();
    }

    private static HaKitOptions HaKit(IHost host) => host.Services.GetRequiredService<IOptions<HaKitOptions>>().Value;

    private static SampleOptions Sample(IHost host) => host.Services.GetRequiredService<IOptions<SampleOptions>>().Value;

    [Test]
    public void Without_arbiter_the_pair_runs_in_TwoNode_mode()
    {
        using var host = Build("--node", "a");
        var o = HaKit(host);
        Assert.That(o.Arbiter.Mode, Is.EqualTo(ArbiterMode.TwoNode));
        Assert.That(o.Nodes.Select(n => n.Name), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public void Arbiter_etcd_sets_etcd_mode_on_the_local_etcd_with_a_two_second_lease()
    {
        using var host = Build("--node", "b", "--arbiter", "etcd");
        var o = HaKit(host);
        Assert.That(o.NodeName, Is.EqualTo("b"));
        Assert.That(o.Arbiter.Mode, Is.EqualTo(ArbiterMode.Etcd));
        Assert.That(o.Arbiter.Etcd.Endpoints, Is.EqualTo(new[] { "http://127.0.0.1:2379" }));
        Assert.That(o.Arbiter.Etcd.RequestTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
        Assert.That(o.Arbiter.LeaseTtl, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That(o.Arbiter.LeaseDriftMargin, Is.EqualTo(TimeSpan.FromMilliseconds(300)));
        Assert.That(o.Nodes, Has.Count.EqualTo(2), "still the pair of appsettings.json");
    }

    [Test]
    public void Arbiter_witness_sets_witness_mode_on_the_local_witness_with_a_two_second_lease()
    {
        using var host = Build("--node", "a", "--arbiter", "witness");
        var o = HaKit(host);
        Assert.That(o.Arbiter.Mode, Is.EqualTo(ArbiterMode.Witness));
        Assert.That(o.Arbiter.Witness.Endpoint, Is.EqualTo("127.0.0.1:5405"));
        Assert.That(o.Arbiter.Witness.Name, Is.EqualTo("witness"));
        Assert.That(o.Arbiter.LeaseTtl, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That(o.Arbiter.LeaseDriftMargin, Is.EqualTo(TimeSpan.FromMilliseconds(300)));
        Assert.That(o.ClusterName, Is.EqualTo("twonode"), "the cluster the example witness serves");
    }

    [Test]
    public void Command_line_keys_and_a_config_file_win_over_the_arbiter_overlay()
    {
        var failback = Path.Combine(AppContext.BaseDirectory, "appsettings.failback.json");
        using var host = Build("--node", "a", "--arbiter", "etcd", "--config", failback,
            "--HaKit:Arbiter:Etcd:Endpoints:0=http://127.0.0.1:12379", "--HaKit:Arbiter:LeaseTtl=00:00:03");
        var o = HaKit(host);
        Assert.That(o.Arbiter.Mode, Is.EqualTo(ArbiterMode.Etcd));
        Assert.That(o.Arbiter.Etcd.Endpoints, Is.EqualTo(new[] { "http://127.0.0.1:12379" }));
        Assert.That(o.Arbiter.LeaseTtl, Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(o.Groups.Single().AutoFailback, Is.True, "the --config file is layered too");
    }

    [Test]
    public void The_sample_calls_UseEtcd_so_its_lease_store_is_the_etcd_store_of_the_configured_endpoints()
    {
        using var host = Build("--node", "a", "--arbiter", "etcd", "--HaKit:Arbiter:Etcd:Endpoints:0=http://127.0.0.1:12379");
        var store = host.Services.GetRequiredService<ILeaseStore>();
        Assert.That(store, Is.TypeOf<EtcdLeaseStore>());
        Assert.That(((EtcdLeaseStore)store).Endpoints, Is.EqualTo(new[] { "http://127.0.0.1:12379" }));
        Assert.That(((EtcdLeaseStore)store).RequestTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(500)), "appsettings.etcd.json");
    }

    [Test]
    public void An_overlay_setting_that_breaks_a_rule_is_reported_naming_the_key()
    {
        using var host = Build("--node", "a", "--arbiter", "etcd", "--HaKit:Arbiter:Etcd:RequestTimeout=00:00:01");
        var ex = Assert.Throws<OptionsValidationException>(() => HaKit(host));
        Assert.That(ex!.Failures, Has.Some.Contains("Arbiter:Etcd:RequestTimeout"));
    }

    [Test]
    public void The_three_node_etcd_config_has_three_nodes_and_two_groups_each_with_its_own_address()
    {
        using var host = Build("--node", "c", "--config", "appsettings.threenode-etcd.json");
        var o = HaKit(host);
        Assert.That(o.NodeName, Is.EqualTo("c"));
        Assert.That(o.ClusterName, Is.EqualTo("threenode"));
        Assert.That(o.Arbiter.Mode, Is.EqualTo(ArbiterMode.Etcd));
        Assert.That(o.Arbiter.Etcd.Endpoints, Is.EqualTo(new[] { "http://127.0.0.1:2379" }));
        Assert.That(o.Nodes.Select(n => (n.Name, n.Addresses["lan0"])), Is.EqualTo(new[]
        {
            ("a", "127.0.0.1:7401"), ("b", "127.0.0.1:7402"), ("c", "127.0.0.1:7403"),
        }));
        Assert.That(o.Groups.Select(g => (g.Name, g.PreferredNode)), Is.EqualTo(new[] { ("web", "a"), ("api", "b") }));

        var sample = Sample(host);
        Assert.That(sample.AddressOf("web"), Is.EqualTo("127.0.0.1:8080"));
        Assert.That(sample.AddressOf("api"), Is.EqualTo("127.0.0.1:8081"));
    }

    [Test]
    public void Every_group_gets_an_http_resource_on_its_own_address()
    {
        using var host = Build("--node", "a", "--config", "appsettings.threenode-etcd.json", "--Sample:HttpAddresses:api=127.0.0.1:9091");
        var catalog = host.Services.GetRequiredService<ResourceCatalog>();
        var resolved = catalog.Resolve(HaKit(host));
        Assert.That(resolved.Errors, Is.Empty);
        Assert.That(resolved.ByGroup.Keys, Is.EquivalentTo(new[] { "web", "api" }));
        var http = resolved.ByGroup.ToDictionary(g => g.Key, g => (HttpServiceResource)g.Value.Single());
        Assert.That(http["web"].Group, Is.EqualTo("web"));
        Assert.That(http["web"].Address, Is.EqualTo("127.0.0.1:8080"));
        Assert.That(http["api"].Group, Is.EqualTo("api"));
        Assert.That(http["api"].Address, Is.EqualTo("127.0.0.1:9091"));
    }

    [Test]
    public void The_three_node_config_cannot_run_in_TwoNode_or_Witness_mode()
    {
        foreach (var mode in new[] { "TwoNode", "Witness" })
        {
            using var host = Build("--node", "a", "--config", "appsettings.threenode-etcd.json", $"--HaKit:Arbiter:Mode={mode}");
            var ex = Assert.Throws<OptionsValidationException>(() => HaKit(host), mode);
            Assert.That(ex!.Failures, Has.Some.Contains("Arbiter:Mode").And.Some.Contains("3 are listed"), mode);
        }
    }

    [Test]
    public void A_group_without_an_address_and_two_groups_on_one_address_are_refused()
    {
        var validation = new SampleOptionsValidation(["web", "api", "db"]);
        var options = new SampleOptions { HttpAddress = "127.0.0.1:8080", HttpAddresses = { ["api"] = "127.0.0.1:8080" } };
        var result = validation.Validate(null, options);
        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Is.EqualTo(new[]
        {
            "Sample:HttpAddresses:api = '127.0.0.1:8080': group web has the same address; give every group its own",
            "Sample:HttpAddresses:db = (none): group db has no HTTP address; set one, e.g. --Sample:HttpAddresses:db=127.0.0.1:8081",
        }));

        options.HttpAddresses["api"] = "127.0.0.1:8081";
        options.HttpAddresses["db"] = "localhost:1";
        Assert.That(validation.Validate(null, options).Failures, Is.EqualTo(new[]
        {
            "Sample:HttpAddresses:db = 'localhost:1': must be ip:port with a non-zero port, e.g. 127.0.0.1:8081",
        }));

        options.HttpAddresses["db"] = "127.0.0.1:8082";
        Assert.That(validation.Validate(null, options).Succeeded, Is.True);
    }

    [Test]
    public void The_ready_line_names_the_arbiter_mode_when_given()
    {
        var output = new StringWriter();
        using (var reporter = new StdoutReporter(output))
        {
            reporter.Ready("c", nameof(ArbiterMode.Etcd));
        }

        Assert.That(output.ToString(), Does.EndWith(" ready node=c arbiter=Etcd\n"));

        output = new StringWriter();
        using (var reporter = new StdoutReporter(output))
        {
            reporter.Ready("serve");
        }

        Assert.That(output.ToString(), Does.EndWith(" ready node=serve\n"));
    }

    [Test]
    public async Task An_api_group_resource_binds_its_own_address()
    {
        var port = SampleTestsPorts.FreeTcpPort();
        var output = new StringWriter();
        using var reporter = new StdoutReporter(output);
        reporter.Ready("b");
        var options = Options.Create(new SampleOptions { HttpAddresses = { ["api"] = $"127.0.0.1:{port}" } });
        var http = new HttpServiceResource(options, reporter, NullLogger<HttpServiceResource>.Instance, "api");
        var context = new ResourceContext("api", "b", 4, CancellationToken.None);
        try
        {
            Assert.That((await http.StartAsync(context, CancellationToken.None)).Succeeded, Is.True);
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            Assert.That(await client.GetStringAsync($"http://127.0.0.1:{port}/"), Is.EqualTo("node=b epoch=4\n"));
            Assert.That(reporter.Flush(TimeSpan.FromSeconds(5)), Is.True);
            Assert.That(output.ToString(), Does.Contain($"http listening group=api address=127.0.0.1:{port} epoch=4\n"));
        }
        finally
        {
            await http.StopAsync(context, CancellationToken.None);
        }
    }
}

/// <summary>Free loopback TCP ports for the sample tests.</summary>
internal static class SampleTestsPorts
{
    /// <summary>A TCP port nobody listens on right now (bound to port 0 and released).</summary>
    public static int FreeTcpPort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }
}
