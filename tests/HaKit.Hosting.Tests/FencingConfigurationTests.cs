using HaKit.Fencing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Tests;

/// <summary>Binding and validating <c>HaKit:Fencing:Agents</c> (the built-in fence agents as fencing levels).</summary>
[TestFixture]
public class FencingConfigurationTests
{
    private static readonly int[] Ports = [7401, 7402];

    private static ServiceProvider Provider(Dictionary<string, string?> config)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(config).Build());
        services.AddHaKit().AddResource("web", _ => new Recorder().Resource("a"));
        return services.BuildServiceProvider();
    }

    private static IReadOnlyList<string> Failures(Dictionary<string, string?> config)
    {
        using var sp = Provider(config);
        var ex = Assert.Throws<OptionsValidationException>(() => _ = sp.GetRequiredService<IOptions<HaKitOptions>>().Value);
        return ex!.Failures.ToList();
    }

    private static Dictionary<string, string?> TwoAgents()
    {
        var config = TestHosts.Config("b", Ports, "/tmp/state");
        config["HaKit:Fencing:Agents:0:Name"] = "ipmi-a";
        config["HaKit:Fencing:Agents:0:Type"] = "Script";
        config["HaKit:Fencing:Agents:0:Command"] = "/usr/local/sbin/fence-ipmi";
        config["HaKit:Fencing:Agents:0:Arguments:0"] = "--ip";
        config["HaKit:Fencing:Agents:0:Arguments:1"] = "10.0.0.11";
        config["HaKit:Fencing:Agents:0:Nodes:0"] = "a";
        config["HaKit:Fencing:Agents:1:Name"] = "pdu";
        config["HaKit:Fencing:Agents:1:Type"] = "http";
        config["HaKit:Fencing:Agents:1:Url"] = "https://pdu.example/api/{cluster}/outlets/{node}/off";
        config["HaKit:Fencing:Agents:1:StatusUrl"] = "https://pdu.example/api/{cluster}/outlets/{node}";
        config["HaKit:Fencing:Agents:1:BearerToken"] = "tok";
        config["HaKit:Fencing:Agents:1:Confirm"] = "false";
        return config;
    }

    [Test]
    public async Task A_two_agent_list_binds_in_order_with_its_defaults()
    {
        await using var sp = Provider(TwoAgents());
        var agents = sp.GetRequiredService<IOptions<HaKitOptions>>().Value.Fencing.Agents;

        Assert.That(agents.Select(a => a.Name), Is.EqualTo(new[] { "ipmi-a", "pdu" }));
        Assert.That(agents[0].Type, Is.EqualTo(FenceAgentType.Script));
        Assert.That(agents[0].Command, Is.EqualTo("/usr/local/sbin/fence-ipmi"));
        Assert.That(agents[0].Arguments, Is.EqualTo(new[] { "--ip", "10.0.0.11" }));
        Assert.That(agents[0].Nodes, Is.EqualTo(new[] { "a" }));
        Assert.That(agents[0].Confirm, Is.True, "confirmation is on by default");
        Assert.That(agents[1].Type, Is.EqualTo(FenceAgentType.Http));
        Assert.That(agents[1].Url, Is.EqualTo("https://pdu.example/api/{cluster}/outlets/{node}/off"));
        Assert.That(agents[1].StatusUrl, Is.EqualTo("https://pdu.example/api/{cluster}/outlets/{node}"));
        Assert.That(agents[1].BearerToken, Is.EqualTo("tok"));
        Assert.That(agents[1].Confirm, Is.False);
        Assert.That(agents[1].Nodes, Is.Empty);

        var node = sp.GetRequiredService<HaKit.ClusterNode>();
        var options = sp.GetRequiredService<IOptions<HaKitOptions>>().Value;
        var unfenced = TimingBudget.From(options, new Dictionary<string, int> { [options.Groups[0].Name] = 1 }, fencing: false);
        Assert.That(node.Budget.WorstCaseTakeover - unfenced.WorstCaseTakeover, Is.EqualTo(options.Fencing.Timeout),
            "the node built with the configured agents counts a fencing step in its takeover");
    }

    [Test]
    public void A_script_agent_without_a_command_names_key_and_fix()
    {
        var config = TwoAgents();
        config.Remove("HaKit:Fencing:Agents:0:Command");
        Assert.That(Failures(config), Is.EqualTo(new[]
        {
            "HaKit:Fencing:Agents:0:Command = (empty): required for Type Script: the executable to run as '<command> [args] off|status <node>', e.g. /usr/local/sbin/fence-ipmi",
        }));
    }

    [Test]
    public void An_http_agent_url_must_be_absolute_http_and_contain_the_node_placeholder()
    {
        var config = TwoAgents();
        config["HaKit:Fencing:Agents:1:Url"] = "pdu.example/off/{node}";
        Assert.That(Failures(config), Is.EqualTo(new[]
        {
            "HaKit:Fencing:Agents:1:Url = 'pdu.example/off/{node}': must be an absolute http:// or https:// URL containing {node}, e.g. https://pdu.example/api/outlets/{node}/off",
        }));

        config["HaKit:Fencing:Agents:1:Url"] = "ftp://pdu.example/{node}";
        Assert.That(Failures(config), Has.One.StartsWith("HaKit:Fencing:Agents:1:Url = 'ftp://pdu.example/{node}': must be an absolute http:// or https:// URL"));

        config["HaKit:Fencing:Agents:1:Url"] = "https://pdu.example/off";
        Assert.That(Failures(config), Is.EqualTo(new[]
        {
            "HaKit:Fencing:Agents:1:Url = 'https://pdu.example/off': must contain the placeholder {node} (replaced by the URI-escaped node name), e.g. https://pdu.example/api/outlets/{node}/off",
        }));

        config.Remove("HaKit:Fencing:Agents:1:Url");
        config["HaKit:Fencing:Agents:1:StatusUrl"] = "/relative";
        Assert.That(Failures(config), Is.EqualTo(new[]
        {
            "HaKit:Fencing:Agents:1:Url = (empty): required for Type Http: an absolute http:// or https:// URL containing {node}, e.g. https://pdu.example/api/outlets/{node}/off",
            "HaKit:Fencing:Agents:1:StatusUrl = '/relative': must be an absolute http:// or https:// URL, e.g. https://pdu.example/api/outlets/{node}/status",
        }));
    }

    [Test]
    public void An_unknown_or_missing_type_names_the_allowed_types()
    {
        var config = TwoAgents();
        config["HaKit:Fencing:Agents:0:Type"] = "Ssh";
        Assert.That(Failures(config), Has.Some.EqualTo("HaKit:Fencing:Agents:0:Type = 'Ssh': expects one of: Script, Http"));

        config.Remove("HaKit:Fencing:Agents:0:Type");
        Assert.That(Failures(config), Is.EqualTo(new[] { "HaKit:Fencing:Agents:0:Type = (missing): required: one of Script, Http" }));
    }

    [Test]
    public void Agent_names_must_be_unique_and_present()
    {
        var config = TwoAgents();
        config["HaKit:Fencing:Agents:1:Name"] = "ipmi-a";
        Assert.That(Failures(config), Is.EqualTo(new[] { "HaKit:Fencing:Agents:1:Name = 'ipmi-a': duplicate fence agent name; agent names must be unique" }));

        config.Remove("HaKit:Fencing:Agents:1:Name");
        Assert.That(Failures(config), Is.EqualTo(new[] { "HaKit:Fencing:Agents:1:Name = (empty): every fence agent needs a unique, non-empty name (used in logs), e.g. ipmi-b" }));
    }

    [Test]
    public void Nodes_must_name_cluster_nodes()
    {
        var config = TwoAgents();
        config["HaKit:Fencing:Agents:0:Nodes:1"] = "c";
        Assert.That(Failures(config), Is.EqualTo(new[] { "HaKit:Fencing:Agents:0:Nodes:1 = 'c': not in HaKit:Nodes; expected one of: a, b" }));
    }

    [Test]
    public void A_misspelt_agent_key_is_reported()
    {
        var config = TwoAgents();
        config["HaKit:Fencing:Agents:0:Cmd"] = "/bin/true";
        Assert.That(Failures(config), Has.Some.StartsWith("HaKit:Fencing:Agents:0:Cmd = '/bin/true': unknown setting"));
    }

    [Test]
    public void The_bearer_token_is_never_shown_in_validation_errors()
    {
        var config = TwoAgents();
        config["HaKit:Fencing:Agents:1:Url"] = "nope";
        config["HaKit:Fencing:Agents:1:BearerToken"] = "very-secret-token";
        Assert.That(string.Join("\n", Failures(config)), Does.Not.Contain("very-secret-token"));
    }
}
