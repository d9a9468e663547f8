using System.Text.Json.Nodes;
using HaKit.Admin.V1;

namespace HaKit.Cli.Tests;

/// <summary>Every online command against an in-process fake node on a temporary Unix socket.</summary>
public sealed class OnlineTests
{
    private FakeAdminServer _server = null!;

    private FakeAdmin Admin => _server.Admin;

    [SetUp]
    public async Task SetUp() => _server = await FakeAdminServer.StartAsync();

    [TearDown]
    public async Task TearDown() => await _server.DisposeAsync();

    private Task<CliResult> Run(params string[] args) => Cli.RunAsync([.. args, "--endpoint", _server.Endpoint]);

    [Test]
    public async Task Status_shows_node_arbiter_budget_groups_and_peers()
    {
        Admin.Status.Groups[0].Banned = "3 failures in 10 min";
        Admin.Status.Arbiter.Unavailable = "ping 10.0.0.1 timed out";
        var result = await Run("status");
        await TestContext.Out.WriteLineAsync(result.Out);
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        foreach (var expected in new[] { "Node a", "twonode", "TwoNode", "unavailable: ping 10.0.0.1 timed out", "worst-case detection 850 ms",
                     "web", "active", "3 failures in 10 min", "lan0: alive", "last heard 120 ms ago" })
        {
            Assert.That(result.Out, Does.Contain(expected));
        }
    }

    [Test]
    public async Task Status_json_has_the_documented_shape()
    {
        Admin.Status.Groups.Add(new GroupStatus { Name = "db", Role = Role.Standby, Owner = "b", Epoch = 0 });
        var result = await Run("status", "--json");
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        var json = JsonNode.Parse(result.Out)!;
        Assert.That(json["node"]!.GetValue<string>(), Is.EqualTo("a"));
        var web = json["groups"]![0]!;
        Assert.That((web["name"]!.GetValue<string>(), web["role"]!.GetValue<string>(), web["epoch"]!.GetValue<ulong>(), web["owner"]!.GetValue<string>()), Is.EqualTo(("web", "active", 7ul, "a")));
        Assert.That(json["groups"]![1]!["role"]!.GetValue<string>(), Is.EqualTo("standby"));
        var peer = json["peers"]![0]!;
        Assert.That((peer["name"]!.GetValue<string>(), peer["health"]!.GetValue<string>()), Is.EqualTo(("b", "alive")));
        Assert.That(peer["links"]![0]!["name"]!.GetValue<string>(), Is.EqualTo("lan0"));
        Assert.That(peer["links"]![0]!["health"]!.GetValue<string>(), Is.EqualTo("alive"));
    }

    [Test]
    public async Task Every_command_sends_its_request_and_prints_the_answer()
    {
        (string[] Args, Google.Protobuf.IMessage Expected)[] cases =
        [
            (["standby", "on"], new SetStandbyRequest { Standby = true }),
            (["standby", "off"], new SetStandbyRequest { Standby = false }),
            (["switchover", "web"], new SwitchoverRequest { Group = "web" }),
            (["switchover", "web", "--to", "b"], new SwitchoverRequest { Group = "web", Target = "b" }),
            (["takeover", "web"], new TakeoverRequest { Group = "web" }),
            (["takeover", "web", "--force"], new TakeoverRequest { Group = "web", Force = true }),
            (["maintenance", "web", "on"], new SetMaintenanceRequest { Group = "web", Maintenance = true }),
            (["maintenance", "web", "off"], new SetMaintenanceRequest { Group = "web", Maintenance = false }),
            (["cleanup", "web"], new CleanupRequest { Group = "web" }),
            (["confirm-down", "b"], new ConfirmDownRequest { Node = "b" }),
        ];
        foreach (var (args, expected) in cases)
        {
            var result = await Run(args);
            Assert.That(result.Code, Is.EqualTo(0), string.Join(' ', args) + ": " + result);
            Assert.That(result.Out, Does.Contain("done by the fake").And.Contain("decided by a"));
            Assert.That(Admin.Commands.TryDequeue(out var sent), Is.True, string.Join(' ', args));
            Assert.That(sent, Is.EqualTo(expected), string.Join(' ', args));
        }
    }

    [Test]
    public async Task A_refused_command_exits_1_with_the_nodes_reason()
    {
        Admin.Reply = new CommandReply { Accepted = false, Message = "owner b is unreachable; confirm it down first (hakit confirm-down b)", HandledBy = "a" };
        var result = await Run("takeover", "web");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Refused), result.ToString());
        Assert.That(result.Error, Does.Contain("refused").And.Contain("owner b is unreachable; confirm it down first"));
    }

    [Test]
    public async Task Events_without_follow_prints_the_snapshot_and_buffered_events_then_stops_when_quiet()
    {
        Admin.Watcher = (_, _) => [FakeAdmin.Snapshot(3, 4, FakeAdmin.SampleStatus()), FakeAdmin.Event(3, 5, "web active epoch 5"), FakeAdmin.Event(3, 6, "web active epoch 6")];
        var result = await Run("events");
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(3), result.ToString());
        Assert.That(lines[0], Does.StartWith("#4 ").And.Contain("Snapshot").And.Contain("web active epoch 7 owner a"));
        Assert.That(lines[1], Does.StartWith("#5 ").And.Contain("RoleChanged").And.Contain("group=web"));
        Assert.That(lines[2], Does.StartWith("#6 "));
        Assert.That(result.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task Events_json_prints_one_object_per_line()
    {
        Admin.Watcher = (_, _) => [FakeAdmin.Snapshot(3, 4, FakeAdmin.SampleStatus()), FakeAdmin.Event(3, 5, "x")];
        var result = await Run("events", "--json");
        var lines = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToArray();
        Assert.That(lines.Select(l => l["sequence"]!.GetValue<ulong>()), Is.EqualTo(new ulong[] { 4, 5 }));
        Assert.That(lines[0]["snapshot"]!["groups"]![0]!["name"]!.GetValue<string>(), Is.EqualTo("web"));
        Assert.That(lines[1]["role"]!.GetValue<string>(), Is.EqualTo("active"));
    }

    [Test]
    public async Task Events_follow_reconnects_after_a_dropped_stream_from_the_last_sequence_and_misses_nothing()
    {
        // Call 1: snapshot at #2, events 3 and 4, then the stream drops. Call 2 (the reconnect) replays from what it was told:
        // it sends 4 again (a duplicate the tool must skip), then 5 and 6.
        Admin.HoldAfter = call => call > 1;
        Admin.Watcher = (request, call) => call == 1
            ? [FakeAdmin.Snapshot(9, 2, FakeAdmin.SampleStatus()), FakeAdmin.Event(9, 3, "three"), FakeAdmin.Event(9, 4, "four")]
            : [FakeAdmin.Event(9, 4, "four again"), FakeAdmin.Event(9, 5, "five"), FakeAdmin.Event(9, 6, "six")];
        using var stop = new CancellationTokenSource(Cli.Bound);
        var (run, output, error) = Cli.Start(stop.Token, "events", "--follow", "--endpoint", _server.Endpoint);
        await Cli.Until(() => output.Text.Contains("#6 ", StringComparison.Ordinal), "event 6 after the reconnect");
        await stop.CancelAsync();
        Assert.That(await run.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(0));

        var requests = Admin.WatchRequests.ToArray();
        Assert.That(requests[0], Is.EqualTo(new WatchRequest()), "a new subscriber");
        Assert.That(requests[1], Is.EqualTo(new WatchRequest { Incarnation = 9, AfterSequence = 4 }), "the reconnect names the last sequence seen");
        var sequences = output.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).ToArray();
        Assert.That(sequences, Is.EqualTo(new[] { "#2", "#3", "#4", "#5", "#6" }), output.Text);
        Assert.That(error.Text, Does.Contain("reconnecting").And.Contain("after #4"));
    }

    [Test]
    public async Task A_watcher_dropped_for_reading_too_slowly_resumes()
    {
        Admin.HoldAfter = call => call > 1;
        Admin.Watcher = (request, call) => call == 1
            ? [FakeAdmin.Snapshot(9, 2, FakeAdmin.SampleStatus()), FakeAdmin.Event(9, 3, "three"), FakeAdmin.Fail(global::Grpc.Core.StatusCode.ResourceExhausted, "watcher too slow")]
            : [FakeAdmin.Event(9, 4, "four")];
        using var stop = new CancellationTokenSource(Cli.Bound);
        var (run, output, error) = Cli.Start(stop.Token, "events", "--follow", "--endpoint", _server.Endpoint);
        await Cli.Until(() => output.Text.Contains("#4 ", StringComparison.Ordinal) || run.IsCompleted, "event 4 after the resume");
        Assert.That(run.IsCompleted, Is.False, "still following: " + error.Text);
        await stop.CancelAsync();
        Assert.That(await run.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(0));
        Assert.That(error.Text, Does.Contain("watcher too slow"));
    }

    [Test]
    public async Task A_stream_the_node_refuses_exits_1_with_its_reason()
    {
        Admin.Watcher = (_, _) => [FakeAdmin.Fail(global::Grpc.Core.StatusCode.PermissionDenied, "not for you")];
        var result = await Run("events");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Refused), result.ToString());
        Assert.That(result.Error, Does.Contain("not for you"));
    }

    [Test]
    public async Task A_starting_node_is_unreachable_for_now()
    {
        Admin.Watcher = (_, _) => [FakeAdmin.Fail(global::Grpc.Core.StatusCode.Unavailable, "node a is starting; try again in a moment")];
        var result = await Run("events");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Unreachable), result.ToString());
        Assert.That(result.Error, Does.Contain("is starting"));
    }

    [Test]
    public async Task A_resumed_stream_may_stay_quiet_longer_than_the_timeout()
    {
        // The node resumes from the client's sequence and has nothing to replay yet: that is not an unreachable node.
        Admin.HoldAfter = call => call > 1;
        Admin.Watcher = (request, call) => call == 1
            ? [FakeAdmin.Snapshot(9, 2, FakeAdmin.SampleStatus()), FakeAdmin.Event(9, 3, "three")]
            : [FakeAdmin.Pause(2500), FakeAdmin.Event(9, 4, "four")];
        using var stop = new CancellationTokenSource(Cli.Bound);
        var (run, output, error) = Cli.Start(stop.Token, "events", "--follow", "--timeout", "1", "--endpoint", _server.Endpoint);
        await Cli.Until(() => output.Text.Contains("#4 ", StringComparison.Ordinal) || run.IsCompleted, "event 4 after a quiet resume");
        Assert.That(run.IsCompleted, Is.False, "still following: " + error.Text);
        await stop.CancelAsync();
        Assert.That(await run.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(0));
        Assert.That(Admin.WatchRequests.ToArray()[1], Is.EqualTo(new WatchRequest { Incarnation = 9, AfterSequence = 3 }));
    }

    [Test]
    public async Task Events_follow_says_so_when_the_node_reports_a_gap()
    {
        Admin.HoldAfter = call => call > 1;
        Admin.Watcher = (request, call) => call == 1
            ? [FakeAdmin.Snapshot(9, 2, FakeAdmin.SampleStatus()), FakeAdmin.Event(9, 3, "three")]
            : [FakeAdmin.Snapshot(10, 0, FakeAdmin.SampleStatus(owner: "b", role: Role.Standby), gap: true), FakeAdmin.Event(10, 1, "one")];
        using var stop = new CancellationTokenSource(Cli.Bound);
        var (run, output, error) = Cli.Start(stop.Token, "events", "--follow", "--endpoint", _server.Endpoint);
        await Cli.Until(() => output.Text.Contains("#1 ", StringComparison.Ordinal), "the event after the gap");
        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(error.Text, Does.Contain("GAP").And.Contain("restarted").And.Contain("after #3"));
        Assert.That(output.Text, Does.Contain("(gap)").And.Contain("owner b"));
    }

    [Test]
    public async Task Status_watch_renders_again_after_each_event_with_a_fresh_status()
    {
        Admin.Watcher = (_, _) => [FakeAdmin.Snapshot(3, 1, FakeAdmin.SampleStatus()), FakeAdmin.Event(3, 2, "web standby")];
        var fetched = 0;
        Admin.OnStatus = () =>
        {
            if (Interlocked.Increment(ref fetched) >= 2)
            {
                Admin.Status = FakeAdmin.SampleStatus(owner: "b", role: Role.Standby, epoch: 8);
            }
        };
        using var stop = new CancellationTokenSource(Cli.Bound);
        var (run, output, _) = Cli.Start(stop.Token, "status", "--watch", "--endpoint", _server.Endpoint);
        await Cli.Until(() => output.Text.Contains("after #2", StringComparison.Ordinal) && output.Text.Contains("standby", StringComparison.Ordinal), "a second rendering");
        await stop.CancelAsync();
        Assert.That(await run.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(0));
        Assert.That(output.Text, Does.Contain("active"), "the first rendering");
        Assert.That(output.Text, Does.Not.Contain("after #1"), "the opening snapshot is the state just shown");
        Assert.That(fetched, Is.GreaterThanOrEqualTo(2), "the status is fetched again on each event");
    }

    [Test]
    public async Task The_socket_is_found_from_the_nodes_configuration_file()
    {
        var dir = Directory.CreateTempSubdirectory("hakit-cli-");
        try
        {
            await using var local = await FakeAdminServer.StartAsync(socketPath: Path.Combine(dir.FullName, "a.admin.sock"));
            var config = Path.Combine(dir.FullName, "appsettings.json");
            File.WriteAllText(config, """{ "HaKit": { "StateDirectory": "." } }""");
            var result = await Cli.RunAsync("status", "--json", "--config", config, "--node", "a");
            Assert.That(result.Code, Is.EqualTo(0), result.ToString());
            Assert.That(JsonNode.Parse(result.Out)!["node"]!.GetValue<string>(), Is.EqualTo("a"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
