using System.Net;
using HaKit.Wire;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HaKit.Witness.Tests;

/// <summary>Validation of <see cref="WitnessOptions"/>, binding from configuration, AddHaKitWitness in a host, the example config.</summary>
[TestFixture]
[CancelAfter(60_000)]
public class WitnessOptionsTests
{
    private static WitnessOptions Valid() => new()
    {
        Listen = "127.0.0.1:0",
        StateDirectory = "/tmp/unused",
        Clusters = [WitnessFixture.Cluster("demo", WitnessFixture.SecretOne, "a", "b")],
    };

    private static string Single(WitnessOptions o)
    {
        var errors = WitnessOptionsValidator.Validate(o);
        Assert.That(errors, Has.Count.EqualTo(1), string.Join("\n", errors));
        return errors[0];
    }

    [Test]
    public void Valid_options_have_no_errors_and_defaults_are_documented_values()
    {
        var defaults = new WitnessOptions();

        Assert.That(WitnessOptionsValidator.Validate(Valid()), Is.Empty);
        Assert.That(defaults.Name, Is.EqualTo("witness"));
        Assert.That(defaults.Listen, Is.EqualTo("0.0.0.0:5405"));
        Assert.That(defaults.MaxLeaseTtl, Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(defaults.MaxGroupsPerCluster, Is.EqualTo(1024));
        Assert.That(defaults.StateDirectory, Is.EqualTo("/var/lib/hakit-witness"));
    }

    [TestCase("localhost:5405")]
    [TestCase("127.0.0.1")]
    [TestCase("127.0.0.1:")]
    [TestCase("127.0.0.1:70000")]
    [TestCase("::1")]
    [TestCase("")]
    public void A_bad_Listen_names_the_key_the_value_and_the_fix(string listen)
    {
        var o = Valid();
        o.Listen = listen;

        var error = Single(o);

        Assert.That(error, Does.StartWith($"HaKit:Witness:Listen = '{listen}':"));
        Assert.That(error, Does.Contain("0.0.0.0:5405"));
    }

    [TestCase("0.0.0.0:5405", "0.0.0.0:5405")]
    [TestCase("[::]:5405", "[::]:5405")]
    [TestCase("10.1.2.3:1", "10.1.2.3:1")]
    public void Listen_accepts_ip_and_port(string text, string expected)
    {
        Assert.That(WitnessOptionsValidator.TryParseListen(text, out var ep), Is.True);
        Assert.That(ep, Is.EqualTo(IPEndPoint.Parse(expected)));
    }

    [Test]
    public void No_clusters_is_an_error_saying_what_to_add()
    {
        var o = Valid();
        o.Clusters.Clear();

        Assert.That(Single(o), Does.StartWith("HaKit:Witness:Clusters = (none):").And.Contain("HaKit:Witness:Clusters:0:Name"));
    }

    [Test]
    public void The_witness_name_must_not_be_a_node_name()
    {
        var o = Valid();
        o.Name = "b";

        var error = Single(o);

        Assert.That(error, Does.StartWith("HaKit:Witness:Name = 'b':").And.Contain("Clusters:0:Nodes:1").And.Contain("HaKit:Arbiter:Witness:Name"));
    }

    [Test]
    public void Cluster_names_are_unique_and_clusters_have_two_distinct_nodes()
    {
        var o = Valid();
        o.Clusters.Add(WitnessFixture.Cluster("demo", WitnessFixture.SecretTwo, "c"));
        o.Clusters.Add(WitnessFixture.Cluster("", WitnessFixture.SecretTwo, "a", "a"));

        var errors = WitnessOptionsValidator.Validate(o);

        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:Clusters:1:Name = 'demo':").And.Some.Contains("Clusters:0:Name already uses it"));
        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:Clusters:1:Nodes = (1 node(s)):"));
        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:Clusters:2:Name = '':"));
        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:Clusters:2:Nodes:1 = 'a':").And.Some.Contains("listed twice"));
        Assert.That(errors, Has.Count.EqualTo(4), string.Join("\n", errors));
    }

    [Test]
    public void Bad_keys_are_reported_under_the_cluster_without_the_secret()
    {
        var o = Valid();
        o.Clusters[0].Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = "c2hvcnQ=" }], SendKeyId = 1 };
        var p = Valid();
        p.Clusters[0].Auth.SendKeyId = 2;

        var shortKey = Single(o);
        var wrongSend = Single(p);

        Assert.That(shortKey, Does.StartWith("HaKit:Witness:Clusters:0:Auth:Keys[0]:Secret").And.Contain("at least 32").And.Not.Contain("c2hvcnQ="));
        Assert.That(wrongSend, Does.StartWith("HaKit:Witness:Clusters:0:Auth:SendKeyId is 2"));
    }

    [TestCase("00:00:00")]
    [TestCase("-00:00:01")]
    [TestCase("30.00:00:00")]
    public void MaxLeaseTtl_must_be_positive_and_at_most_an_hour(string ttl)
    {
        var o = Valid();
        o.MaxLeaseTtl = TimeSpan.Parse(ttl, System.Globalization.CultureInfo.InvariantCulture);

        Assert.That(Single(o), Does.StartWith($"HaKit:Witness:MaxLeaseTtl = '{ttl}':").And.Contain("positive and at most 01:00:00"));
    }

    [TestCase(0)]
    [TestCase(-5)]
    [TestCase(100_001)]
    public void MaxGroupsPerCluster_must_be_between_1_and_the_limit(int max)
    {
        var o = Valid();
        o.MaxGroupsPerCluster = max;

        Assert.That(Single(o), Does.StartWith($"HaKit:Witness:MaxGroupsPerCluster = {max}:").And.Contain("between 1 and 100000"));
    }

    [Test]
    public void Binding_reports_every_unknown_key_and_unconvertible_value_without_showing_secrets()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HaKit:Witness:Lisen"] = "127.0.0.1:1",
            ["HaKit:Witness:MaxLeaseTtl"] = "thirty",
            ["HaKit:Witness:MaxGroupsPerCluster"] = "many",
            ["HaKit:Witness:Clusters:0:Name"] = "demo",
            ["HaKit:Witness:Clusters:0:Nodes:0"] = "a",
            ["HaKit:Witness:Clusters:0:Nodes:1"] = "b",
            ["HaKit:Witness:Clusters:0:Auth:SendKeyId"] = "one",
            ["HaKit:Witness:Clusters:0:Auth:Keys:0:Id"] = "1",
            ["HaKit:Witness:Clusters:0:Auth:Keys:0:Secret"] = WitnessFixture.SecretOne,
            ["HaKit:Witness:Clusters:0:Auth:Keys:0:Secrt"] = "hunter2-hunter2",
        }).Build();
        var o = new WitnessOptions();

        WitnessServiceCollectionExtensions.Bind(o, config.GetSection(WitnessOptions.Section));
        var errors = WitnessOptionsValidator.Validate(o);

        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:Lisen = '127.0.0.1:1': unknown setting").And.Some.Contains("Listen"));
        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:MaxLeaseTtl = 'thirty': expects a duration"));
        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:MaxGroupsPerCluster = 'many': expects a whole number"));
        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:Clusters:0:Auth:SendKeyId = 'one': expects a whole number"));
        Assert.That(errors, Has.Some.StartsWith("HaKit:Witness:Clusters:0:Auth:Keys:0:Secrt = (not shown): unknown setting"));
        Assert.That(string.Join("\n", errors), Does.Not.Contain("hunter2").And.Not.Contain(WitnessFixture.SecretOne));
        Assert.That(o.Clusters.Single().Nodes, Is.EqualTo(new[] { "a", "b" }), "the valid keys were bound");
    }

    [Test]
    public void The_server_refuses_invalid_options_listing_every_problem()
    {
        var o = Valid();
        o.Listen = "nowhere";
        o.Name = "a";

        var ex = Assert.Throws<ArgumentException>(() => _ = new WitnessServer(o));

        Assert.That(ex!.Message, Does.Contain("HaKit:Witness:Listen = 'nowhere'").And.Contain("HaKit:Witness:Name = 'a'"));
    }

    [Test]
    public async Task AddHaKitWitness_validates_on_start_with_every_failure_named()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["HaKit:Witness:Listen"] = "localhost",
            ["HaKit:Witness:MaxLeaseTtl"] = "soon",
        }).Build();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services.AddHaKitWitness(config);
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(CancellationToken.None));

        Assert.That(ex!.Failures, Has.Some.StartsWith("HaKit:Witness:Listen = 'localhost':"));
        Assert.That(ex.Failures, Has.Some.StartsWith("HaKit:Witness:Clusters = (none):"));
        Assert.That(ex.Failures, Has.Some.StartsWith("HaKit:Witness:MaxLeaseTtl = 'soon':"));
    }

    [Test]
    public async Task AddHaKitWitness_binds_configuration_and_runs_the_server_with_the_host()
    {
        var state = Path.Combine(Path.GetTempPath(), "hakit-witness-host-" + Guid.NewGuid().ToString("N"));
        try
        {
            var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["HaKit:Witness:Name"] = "qnetd",
                ["HaKit:Witness:Listen"] = "127.0.0.1:0",
                ["HaKit:Witness:MaxLeaseTtl"] = "00:00:20",
                ["HaKit:Witness:MaxGroupsPerCluster"] = "64",
                ["HaKit:Witness:StateDirectory"] = state,
                ["HaKit:Witness:Clusters:0:Name"] = "demo",
                ["HaKit:Witness:Clusters:0:Nodes:0"] = "a",
                ["HaKit:Witness:Clusters:0:Nodes:1"] = "b",
                ["HaKit:Witness:Clusters:0:Auth:Keys:0:Id"] = "1",
                ["HaKit:Witness:Clusters:0:Auth:Keys:0:Secret"] = WitnessFixture.SecretOne,
                ["HaKit:Witness:Clusters:0:Auth:SendKeyId"] = "1",
            }).Build();
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.Services.AddLogging();
            builder.Services.AddHaKitWitness(config);
            using var host = builder.Build();
            var options = host.Services.GetRequiredService<IOptions<WitnessOptions>>().Value;

            await host.StartAsync(CancellationToken.None);
            var server = host.Services.GetRequiredService<WitnessServer>();
            using var a = new TestNode("demo", "a", WitnessFixture.SecretOne, acceptFrom: ["qnetd"]);
            var reply = await a.AskAsync(server.LocalEndpoint!, "web", 1, 1000);
            await host.StopAsync(CancellationToken.None);

            Assert.That(options.MaxLeaseTtl, Is.EqualTo(TimeSpan.FromSeconds(20)));
            Assert.That(server.MaxGroupsPerCluster, Is.EqualTo(64));
            Assert.That(options.Clusters.Single().Nodes, Is.EqualTo(new[] { "a", "b" }));
            Assert.That(server.Name, Is.EqualTo("qnetd"));
            Assert.That(reply.Granted, Is.False, "quiet for 20 s after the start");
            Assert.That(reply.Reason, Does.Contain("voter qnetd started"));
            Assert.That(File.Exists(Path.Combine(state, "demo.state")));
        }
        finally
        {
            if (Directory.Exists(state))
            {
                Directory.Delete(state, recursive: true);
            }
        }
    }

    [Test]
    public void AddHaKitWitness_twice_is_an_error()
    {
        var services = new ServiceCollection();
        var config = new ConfigurationBuilder().Build();
        services.AddHaKitWitness(config);

        Assert.Throws<InvalidOperationException>(() => services.AddHaKitWitness(config));
    }

    [Test]
    public void The_example_config_is_valid_and_matches_the_TwoNode_sample()
    {
        var root = RepositoryRoot();
        var witness = new ConfigurationBuilder().AddJsonFile(Path.Combine(root, "src/HaKit.Witness/witness.example.json")).Build();
        var sample = new ConfigurationBuilder().AddJsonFile(Path.Combine(root, "samples/TwoNode.Console/appsettings.json")).Build();
        var o = new WitnessOptions();

        WitnessServiceCollectionExtensions.Bind(o, witness.GetSection(WitnessOptions.Section));

        Assert.That(WitnessOptionsValidator.Validate(o), Is.Empty);
        Assert.That(o.Listen, Is.EqualTo("127.0.0.1:5405"));
        Assert.That(o.StateDirectory, Does.StartWith("/tmp/"));
        var cluster = o.Clusters.Single();
        Assert.That(cluster.Name, Is.EqualTo(sample["HaKit:ClusterName"]));
        Assert.That(cluster.Nodes, Is.EqualTo(new[] { sample["HaKit:Nodes:0:Name"], sample["HaKit:Nodes:1:Name"] }));
        Assert.That(cluster.Auth.Keys.Single().Secret, Is.EqualTo(sample["HaKit:Auth:Keys:0:Secret"]));
        Assert.That(cluster.Auth.SendKeyId.ToString(System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(sample["HaKit:Auth:SendKeyId"]));
    }

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HaKit.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("HaKit.sln not found above " + AppContext.BaseDirectory);
    }
}
