using System.Net.Sockets;

namespace HaKit.Cli.Tests;

public sealed class ParserAndEndpointTests
{
    [TestCase("", TestName = "no command")]
    [TestCase("bogus", TestName = "unknown command")]
    [TestCase("standby maybe --endpoint unix:/tmp/x.sock", TestName = "standby takes on|off")]
    [TestCase("maintenance web", TestName = "maintenance without on|off")]
    [TestCase("switchover", TestName = "switchover without a group")]
    [TestCase("status --no-such-option", TestName = "unknown option")]
    [TestCase("status --timeout -1", TestName = "negative timeout")]
    [TestCase("status --endpoint ftp://host:1", TestName = "endpoint neither unix: nor https:")]
    [TestCase("status --endpoint unix:/tmp/x.sock --cert c.pem --key k.pem", TestName = "TLS files with a Unix socket")]
    [TestCase("config check /nonexistent/appsettings.json", TestName = "config check of a missing file")]
    public async Task Usage_errors_exit_2(string commandLine)
    {
        var result = await Cli.RunAsync(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Usage), result.ToString());
        Assert.That(result.Error, Is.Not.Empty);
    }

    [Test]
    public async Task Help_exits_0_and_lists_every_command()
    {
        var result = await Cli.RunAsync("--help");
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        foreach (var command in new[] { "status", "standby", "switchover", "takeover", "maintenance", "cleanup", "confirm-down", "events", "config", "keygen", "import" })
        {
            Assert.That(result.Out, Does.Contain(command));
        }
    }

    [Test]
    public async Task A_missing_socket_is_unreachable_exit_3()
    {
        var result = await Cli.RunAsync("status", "--endpoint", "unix:/tmp/hakit-cli-no-such.sock");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Unreachable), result.ToString());
        Assert.That(result.Error, Does.Contain("/tmp/hakit-cli-no-such.sock"));
    }

    [Test]
    public async Task A_socket_nobody_listens_on_is_unreachable_exit_3()
    {
        // A socket file left behind by a dead node: connecting is refused.
        var path = Path.Combine(Path.GetTempPath(), $"hakit-cli-{Guid.NewGuid():N}"[..20] + ".sock");
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
        }

        try
        {
            var result = await Cli.RunAsync("switchover", "web", "--endpoint", "unix:" + path, "--timeout", "2");
            Assert.That(result.Code, Is.EqualTo(ExitCodes.Unreachable), result.ToString());
            Assert.That(result.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public async Task A_node_that_never_answers_is_unreachable_within_the_timeout()
    {
        // Accepts connections but never speaks HTTP/2: the call must give up after --timeout.
        var path = Path.Combine(Path.GetTempPath(), $"hakit-cli-{Guid.NewGuid():N}"[..20] + ".sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(8);
        try
        {
            foreach (var command in new[] { new[] { "status" }, new[] { "events", "--follow" } })
            {
                var result = await Cli.RunAsync([.. command, "--endpoint", "unix:" + path, "--timeout", "0.5"]);
                Assert.That(result.Code, Is.EqualTo(ExitCodes.Unreachable), result.ToString());
                Assert.That(result.Elapsed, Is.LessThan(TimeSpan.FromSeconds(8)), "bounded by --timeout");
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void The_local_socket_is_found_from_the_configuration()
    {
        var dir = Directory.CreateTempSubdirectory("hakit-cli-");
        try
        {
            var file = Path.Combine(dir.FullName, "appsettings.json");
            File.WriteAllText(file, """{ "HaKit": { "NodeName": "a", "StateDirectory": "state" }, "App": { "X": 1 } }""");
            Assert.That(LocalEndpoint.Resolve(file, null).SocketPath, Is.EqualTo(Path.Combine(dir.FullName, "state", "a.admin.sock")), "relative StateDirectory: relative to the file's directory");
            Assert.That(LocalEndpoint.Resolve(file, "b").SocketPath, Is.EqualTo(Path.Combine(dir.FullName, "state", "b.admin.sock")), "--node wins");

            File.WriteAllText(file, """{ "HaKit": { "Nodes": [ { "Name": "a" } ] } }""");
            Assert.That(LocalEndpoint.Resolve(file, "a").SocketPath, Is.EqualTo(Path.Combine(dir.FullName, "hakit-state", "a.admin.sock")), "the node's default StateDirectory");
            var none = Assert.Throws<CliException>(() => LocalEndpoint.Resolve(file, null))!;
            Assert.That(none.ExitCode, Is.EqualTo(ExitCodes.Usage));
            Assert.That(none.Message, Does.Contain("HaKit:NodeName"));

            File.WriteAllText(file, """{ "HaKit": { "NodeName": "a", "StateDirectory": "/var/lib/hakit", "Admin": { "SocketPath": "/run/hakit/admin.sock" } } }""");
            Assert.That(LocalEndpoint.Resolve(file, null).SocketPath, Is.EqualTo("/run/hakit/admin.sock"), "HaKit:Admin:SocketPath wins");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Test]
    public async Task Without_endpoint_or_configuration_the_tool_says_what_to_pass()
    {
        var result = await Cli.RunAsync("status", "--config", "/nonexistent/appsettings.json");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Usage), result.ToString());
        Assert.That(result.Error, Does.Contain("file not found"));
    }

    [Test]
    public void Endpoints_parse()
    {
        Assert.That(AdminEndpoint.Parse("unix:/run/a.sock").SocketPath, Is.EqualTo("/run/a.sock"));
        Assert.That(AdminEndpoint.Parse("unix:///run/a.sock").SocketPath, Is.EqualTo("/run/a.sock"));
        Assert.That(AdminEndpoint.Parse("https://node-a:7500").Address, Is.EqualTo(new Uri("https://node-a:7500")));
        Assert.That(() => AdminEndpoint.Parse("http://node-a:7500"), Throws.TypeOf<CliException>(), "plaintext TCP is not offered");
    }
}
