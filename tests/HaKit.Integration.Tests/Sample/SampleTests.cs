using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TwoNode;

namespace HaKit.Integration.Tests;

/// <summary>The TwoNode sample's parts: command line, stdout lines, the HTTP resource (real sockets on free loopback ports).</summary>
[TestFixture]
[NonParallelizable]
public partial class SampleTests
{
    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (.*)$")]
    private static partial Regex Line();

    private static int FreeTcpPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static HttpServiceResource Http(int port, StdoutReporter reporter) =>
        new(Options.Create(new SampleOptions { HttpAddress = $"127.0.0.1:{port}" }), reporter, NullLogger<HttpServiceResource>.Instance);

    private static ResourceContext Context(string node, ulong epoch) => new("web", node, epoch, CancellationToken.None);

    private static async Task<string> Get(int port)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return await client.GetStringAsync($"http://127.0.0.1:{port}/any/path");
    }

    [Test]
    public void Node_and_config_options_are_translated_for_the_host()
    {
        var file = Path.Combine(AppContext.BaseDirectory, "appsettings.failback.json");
        Assert.That(CommandLine.TryTranslate(["--node", "b", "--config", file, "--HaKit:Preset=Fast"], out var hostArgs, out var config, out var error), Is.True, error);
        Assert.That(hostArgs, Is.EqualTo(new[] { "--HaKit:NodeName=b", "--HaKit:Preset=Fast" }));
        Assert.That(config, Is.EqualTo(new[] { file }));

        Assert.That(CommandLine.TryTranslate(["--node=a"], out hostArgs, out config, out _), Is.True);
        Assert.That(hostArgs, Is.EqualTo(new[] { "--HaKit:NodeName=a" }));
        Assert.That(config, Is.Empty);
    }

    [TestCase("etcd", "appsettings.etcd.json")]
    [TestCase("witness", "appsettings.witness.json")]
    [TestCase("Etcd", "appsettings.etcd.json")]
    [TestCase("WITNESS", "appsettings.witness.json")]
    public void Arbiter_option_selects_its_overlay_file_next_to_the_program(string mode, string overlay)
    {
        foreach (var args in new[] { new[] { "--node", "a", "--arbiter", mode, "--HaKit:Preset=Fast" }, ["--node", "a", $"--arbiter={mode}", "--HaKit:Preset=Fast"] })
        {
            Assert.That(CommandLine.TryTranslate(args, out var hostArgs, out var files, out var error), Is.True, error);
            Assert.That(hostArgs, Is.EqualTo(new[] { "--HaKit:NodeName=a", "--HaKit:Preset=Fast" }), "--arbiter is taken out, the rest passed on");
            Assert.That(files, Is.EqualTo(new[] { Path.Combine(AppContext.BaseDirectory, overlay) }));
            Assert.That(File.Exists(files[0]), Is.True, "the overlay is copied next to the program");
        }
    }

    [Test]
    public void Arbiter_twonode_adds_no_overlay_and_a_config_file_is_layered_after_the_arbiter_overlay()
    {
        Assert.That(CommandLine.TryTranslate(["--arbiter", "twonode", "--node", "b"], out var hostArgs, out var files, out var error), Is.True, error);
        Assert.That(hostArgs, Is.EqualTo(new[] { "--HaKit:NodeName=b" }));
        Assert.That(files, Is.Empty, "twonode is appsettings.json as it is");

        var failback = Path.Combine(AppContext.BaseDirectory, "appsettings.failback.json");
        Assert.That(CommandLine.TryTranslate(["--config", failback, "--arbiter", "etcd"], out _, out files, out error), Is.True, error);
        Assert.That(files, Is.EqualTo(new[] { Path.Combine(AppContext.BaseDirectory, "appsettings.etcd.json"), failback }));

        Assert.That(CommandLine.TryTranslate(["--arbiter", "etcd", "--arbiter", "twonode"], out _, out files, out error), Is.True, error);
        Assert.That(files, Is.Empty, "the last --arbiter wins");
    }

    [TestCase(new[] { "--node" }, "--node needs a value")]
    [TestCase(new[] { "--node", "--config", "x" }, "--node needs a value")]
    [TestCase(new[] { "--config", "no-such-file.json" }, "--config no-such-file.json: file not found")]
    [TestCase(new[] { "--arbiter" }, "--arbiter needs a value, e.g. --arbiter etcd")]
    [TestCase(new[] { "--arbiter", "--node", "a" }, "--arbiter needs a value")]
    [TestCase(new[] { "--arbiter=" }, "--arbiter needs a non-empty value")]
    [TestCase(new[] { "--node", "a", "--arbiter", "zookeeper" }, "--arbiter zookeeper: unknown arbiter; allowed: twonode, witness, etcd")]
    [TestCase(new[] { "--arbiter=pacemaker" }, "--arbiter pacemaker: unknown arbiter; allowed: twonode, witness, etcd")]
    public void Bad_sample_options_are_explained(string[] args, string expected)
    {
        Assert.That(CommandLine.TryTranslate(args, out _, out _, out var error), Is.False);
        Assert.That(error, Does.StartWith(expected));
    }

    [Test]
    public void Stdout_lines_carry_a_utc_timestamp_and_the_documented_fields_and_wait_for_ready()
    {
        var output = new StringWriter();
        using var reporter = new StdoutReporter(output);
        var why = new DecisionContext("test", [], null, null, 1, new Dictionary<string, ulong>());
        reporter.OnEvent(null, new PeerHealthChanged(TimeSpan.Zero, "b", PeerHealth.Alive, PeerHealth.Dead, new PeerObservation("b", PeerHealth.Dead, [], false), null));
        Assert.That(output.ToString(), Is.Empty, "held until ready");

        reporter.Ready("a", "Etcd");
        reporter.OnEvent(null, new RoleChanged(TimeSpan.Zero, "web", "a", GroupRole.Starting, GroupRole.Active, 2, why, TimeSpan.FromMilliseconds(12.4), TakeoverReason.Failover));
        reporter.OnEvent(null, new RoleChanged(TimeSpan.Zero, "web", "a", GroupRole.Active, GroupRole.Stopping, 2, why));
        reporter.OnEvent(null, new LocalPauseDetected(TimeSpan.Zero, TimeSpan.FromSeconds(1)));
        reporter.HttpListening("web", "127.0.0.1:8080", 2);
        reporter.HttpStopped("web", "127.0.0.1:8080");
        reporter.Exit();

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.All.Match(Line().ToString()));
        Assert.That(lines.Select(l => Line().Match(l).Groups[1].Value), Is.EqualTo(new[]
        {
            "ready node=a arbiter=Etcd",
            "peer node=b health=Dead",
            "role group=web from=Starting to=Active epoch=2 reason=failover takeover_ms=12",
            "role group=web from=Active to=Stopping epoch=2 reason=- takeover_ms=-",
            "http listening group=web address=127.0.0.1:8080 epoch=2",
            "http stopped group=web address=127.0.0.1:8080",
            "exit",
        }));
    }

    /// <summary>A writer whose writes wait until it is opened: stdout piped to a reader that stopped reading.</summary>
    private sealed class BlockedWriter : StringWriter
    {
        public ManualResetEventSlim Open { get; } = new();

        public ManualResetEventSlim Entered { get; } = new();

        public override void Write(string? value)
        {
            Entered.Set();
            Open.Wait(TimeSpan.FromSeconds(30));
            base.Write(value);
        }
    }

    [Test]
    public void A_stdout_that_blocks_never_blocks_the_caller_and_overflowing_lines_are_counted()
    {
        // OnEvent runs on the node's loop: with the line written in place, a reader that stopped reading would stall the node.
        using var output = new BlockedWriter();
        using var reporter = new StdoutReporter(output);
        reporter.Ready("a");
        Assert.That(output.Entered.Wait(TimeSpan.FromSeconds(10)), Is.True, "the writer holds the ready line");
        var why = new DecisionContext("test", [], null, null, 1, new Dictionary<string, ulong>());
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < StdoutReporter.Capacity + 5; i++)
        {
            reporter.OnEvent(null, new RoleChanged(TimeSpan.Zero, "web", "a", GroupRole.Starting, GroupRole.Active, (ulong)i, why));
        }

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "the caller returned while the writer was blocked");
        Assert.That(reporter.Flush(TimeSpan.FromMilliseconds(50)), Is.False, "nothing written while the reader is away");

        output.Open.Set();
        Assert.That(reporter.Flush(TimeSpan.FromSeconds(20)), Is.True);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Does.EndWith(" ready node=a"));
            // The writer held the ready line while Capacity lines queued behind it; the 5 beyond were dropped and counted.
            Assert.That(lines.Count(l => l.Contains(" role group=web ", StringComparison.Ordinal)), Is.EqualTo(StdoutReporter.Capacity));
            Assert.That(lines.Where(l => l.Contains(" dropped lines=", StringComparison.Ordinal)).Select(l => l[(l.IndexOf(' ') + 1)..]), Is.EqualTo(new[] { "dropped lines=5" }));
        });
    }

    [Test]
    public async Task The_http_resource_serves_its_node_and_epoch_only_while_started()
    {
        var port = FreeTcpPort();
        var output = new StringWriter();
        using var reporter = new StdoutReporter(output);
        reporter.Ready("a");
        var http = Http(port, reporter);
        try
        {
            Assert.That((await http.StartAsync(Context("a", 7), CancellationToken.None)).Succeeded, Is.True);
            Assert.That(await http.MonitorAsync(Context("a", 7), CancellationToken.None), Is.EqualTo(MonitorResult.Running));
            Assert.That(await Get(port), Is.EqualTo("node=a epoch=7\n"));
            Assert.That(await Get(port), Is.EqualTo("node=a epoch=7\n"), "one response per connection, many connections");

            Assert.That((await http.StopAsync(Context("a", 7), CancellationToken.None)).Succeeded, Is.True);
            Assert.That((await http.MonitorAsync(Context("a", 7), CancellationToken.None)).Status, Is.EqualTo(ResourceStatus.NotRunning));
            await Assert.ThrowsAsync<HttpRequestException>(() => Get(port), "nothing listens after stop");
            Assert.That(reporter.Flush(TimeSpan.FromSeconds(5)), Is.True);
            Assert.That(output.ToString(), Does.Contain($"http listening group=web address=127.0.0.1:{port} epoch=7\n"));
            Assert.That(output.ToString(), Does.Contain($"http stopped group=web address=127.0.0.1:{port}\n"));
        }
        finally
        {
            await http.StopAsync(Context("a", 7), CancellationToken.None);
        }
    }

    [Test]
    public async Task Only_one_owner_can_bind_the_address_and_the_next_owner_rebinds_at_once_after_a_stop()
    {
        var port = FreeTcpPort();
        using var reporter = new StdoutReporter(TextWriter.Null);
        var a = Http(port, reporter);
        var b = Http(port, reporter);
        try
        {
            Assert.That((await a.StartAsync(Context("a", 1), CancellationToken.None)).Succeeded, Is.True);
            Assert.That(await Get(port), Is.EqualTo("node=a epoch=1\n"), "leaves a server-side TIME_WAIT behind");

            var refused = await b.StartAsync(Context("b", 2), CancellationToken.None);
            Assert.That(refused.Kind, Is.EqualTo(ResourceFailureKind.Transient), "no SO_REUSEPORT: a second listener is refused");
            Assert.That(refused.Message, Does.StartWith($"cannot bind 127.0.0.1:{port}: AddressAlreadyInUse"));

            await a.StopAsync(Context("a", 1), CancellationToken.None);
            Assert.That((await b.StartAsync(Context("b", 2), CancellationToken.None)).Succeeded, Is.True, "SO_REUSEADDR: rebinding next to TIME_WAIT works");
            Assert.That(await Get(port), Is.EqualTo("node=b epoch=2\n"));
        }
        finally
        {
            await a.StopAsync(Context("a", 1), CancellationToken.None);
            await b.StopAsync(Context("b", 2), CancellationToken.None);
        }
    }

    [Test]
    public async Task Stop_closes_connections_that_never_send_a_request()
    {
        var port = FreeTcpPort();
        using var reporter = new StdoutReporter(TextWriter.Null);
        var http = Http(port, reporter);
        await http.StartAsync(Context("a", 1), CancellationToken.None);
        using var idle = new TcpClient();
        await idle.ConnectAsync(IPAddress.Loopback, port);
        await Task.Delay(50);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        var stopped = await http.StopAsync(Context("a", 1), cts.Token);

        Assert.That(stopped.Succeeded, Is.True, stopped.Message);
        var read = await idle.GetStream().ReadAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(2));
        Assert.That(read, Is.Zero, "the server closed the idle connection");
    }
}
