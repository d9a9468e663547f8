using System.Text.Json.Nodes;

namespace HaKit.Cli.Tests;

public sealed class OfflineTests
{
    private DirectoryInfo _dir = null!;

    private const string Valid = """
        {
          // comments are allowed, as in the node's appsettings.json
          "Logging": { "LogLevel": { "Default": "Information" } },
          "HaKit": {
            "ClusterName": "pair",
            "Nodes": [
              { "Name": "a", "Addresses": { "lan0": "10.0.0.1:7401" } },
              { "Name": "b", "Addresses": { "lan0": "10.0.0.2:7401" } }
            ],
            "Links": [ { "Name": "lan0", "Kind": "Udp" } ],
            "Auth": { "Keys": [ KEY ], "SendKeyId": 1 },
            "Groups": [ { "Name": "web", "PreferredNode": "a", "Resources": [ "http" ] } ]
          },
          "MyApp": { "Anything": [ 1, 2, 3 ], "Unknown": "to HaKit" }
        }
        """;

    private const string Key = """{ "Id": 1, "Secret": "VVpl2j8xBEY2MHfgvAVeZimCwi5gH5A1pglA6JNk4dg=" }""";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("hakit-cli-");

    [TearDown]
    public void TearDown() => _dir.Delete(recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Test]
    public async Task A_valid_file_is_checked_as_every_node_with_its_budget_and_other_sections_ignored()
    {
        var file = Write("appsettings.json", Valid.Replace("KEY", Key, StringComparison.Ordinal));
        var result = await Cli.RunAsync("config", "check", file);
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        Assert.That(result.Out, Does.Contain("as node a: valid").And.Contain("as node b: valid"));
        Assert.That(result.Out, Does.Contain("timing budget: worst-case detection"));
    }

    [Test]
    public async Task An_invalid_file_exits_1_naming_key_value_and_fix()
    {
        var file = Write("bad.json", Valid.Replace("KEY", Key, StringComparison.Ordinal)
            .Replace("\"ClusterName\": \"pair\",", "\"ClusterName\": \"pair\", \"Timing\": { \"DeadTme\": \"00:00:01\", \"Interval\": \"soon\" },", StringComparison.Ordinal)
            .Replace("10.0.0.2:7401", "10.0.0.2", StringComparison.Ordinal));
        var result = await Cli.RunAsync("config", "check", file, "--node", "a");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Refused), result.ToString());
        Assert.That(result.Out, Does.Contain("INVALID"));
        Assert.That(result.Out, Does.Contain("HaKit:Timing:DeadTme").And.Contain("unknown setting"), "a misspelt key, by name");
        Assert.That(result.Out, Does.Contain("HaKit:Timing:Interval = 'soon'").And.Contain("duration"), "a value that does not convert, with the expected form");
        Assert.That(result.Out, Does.Contain("HaKit:Nodes:1:Addresses:lan0").And.Contain("ip:port"), "the validator's rule, key, value and fix");
        Assert.That(result.Out, Does.Not.Contain("MyApp"), "an application's own section is not HaKit's business");
    }

    [Test]
    public async Task The_replication_section_is_checked_as_the_node_would_check_it()
    {
        const string Replication = """
            "Replication": {
              "Protocol": "Tcp",
              "Addresses": { "a": "10.0.0.1:7511", "b": "10.0.0.2:7511" },
              "Tls": { "CertificateFile": "CERT", "KeyFile": "KEYFILE", "TrustedCaFile": "CA" },
              "Groups": { "web": { "Mode": "Durable", "DegradeAfter": "00:00:05" } }
            },
            "Groups": [
            """;
        var valid = Valid.Replace("KEY", Key, StringComparison.Ordinal).Replace("\"Groups\": [", Replication, StringComparison.Ordinal);
        var certificates = new HaKit.Grpc.Tests.TestCertificates();
        try
        {
            var (cert, key, _) = certificates.Issue("a");
            valid = valid.Replace("KEYFILE", key, StringComparison.Ordinal).Replace("CERT", cert, StringComparison.Ordinal).Replace("CA", certificates.CaFile, StringComparison.Ordinal);
            var good = await Cli.RunAsync("config", "check", Write("good.json", valid), "--node", "a");
            Assert.That(good.Code, Is.EqualTo(0), good.ToString());

            // Wrong values and a misspelt key under HaKit:Replication: refused by key, value and fix, as the node would at start-up.
            var bad = valid.Replace("\"Protocol\": \"Tcp\"", "\"Protocol\": \"Quic\"", StringComparison.Ordinal)
                .Replace("\"Mode\": \"Durable\"", "\"Mode\": \"Fast\", \"Modus\": 1", StringComparison.Ordinal)
                .Replace("\"b\": \"10.0.0.2:7511\"", "\"c\": \"10.0.0.2:7511\"", StringComparison.Ordinal);
            var result = await Cli.RunAsync("config", "check", Write("bad.json", bad), "--node", "a");
            Assert.That(result.Code, Is.EqualTo(ExitCodes.Refused), result.ToString());
            Assert.That(result.Out, Does.Contain("HaKit:Replication:Protocol = 'Quic': expects one of: Tcp, Grpc"));
            Assert.That(result.Out, Does.Contain("HaKit:Replication:Groups:web:Mode = 'Fast': expects one of: Async, Received, Durable"));
            Assert.That(result.Out, Does.Contain("HaKit:Replication:Groups:web:Modus").And.Contain("unknown setting"));
            Assert.That(result.Out, Does.Contain("HaKit:Replication:Addresses:c").And.Contain("no node named c"));
        }
        finally
        {
            certificates.Dispose();
        }
    }

    [Test]
    public async Task Checking_as_a_node_that_is_not_listed_fails_on_the_node_name()
    {
        var file = Write("appsettings.json", Valid.Replace("KEY", Key, StringComparison.Ordinal));
        var result = await Cli.RunAsync("config", "check", file, "--node", "c");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Refused), result.ToString());
        Assert.That(result.Out, Does.Contain("HaKit:NodeName"));
    }

    [Test]
    public async Task Malformed_json_exits_1_naming_the_file()
    {
        var file = Write("broken.json", "{ \"HaKit\": { \"Nodes\": [ }");
        var result = await Cli.RunAsync("config", "check", file);
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Refused), result.ToString());
        Assert.That(result.Error, Does.Contain("broken.json"));
    }

    [Test]
    public async Task Keygen_output_is_accepted_by_config_check_and_is_new_each_time()
    {
        var first = await Cli.RunAsync("keygen");
        var second = await Cli.RunAsync("keygen", "--id", "7");
        Assert.That(first.Code, Is.EqualTo(0), first.ToString());
        Assert.That(second.Out, Does.Contain("\"Id\": 7"));
        var key = JsonNode.Parse(first.Out)!.AsObject();
        Assert.That(key["Secret"]!.GetValue<string>(), Is.Not.EqualTo(JsonNode.Parse(second.Out)!["Secret"]!.GetValue<string>()));
        Assert.That(Convert.FromBase64String(key["Secret"]!.GetValue<string>()), Has.Length.EqualTo(32));

        var file = Write("appsettings.json", Valid.Replace("KEY", first.Out.Trim(), StringComparison.Ordinal));
        var check = await Cli.RunAsync("config", "check", file);
        Assert.That(check.Code, Is.EqualTo(0), check.ToString());
        Assert.That((await Cli.RunAsync("keygen", "--id", "0")).Code, Is.EqualTo(ExitCodes.Usage));
    }
}
