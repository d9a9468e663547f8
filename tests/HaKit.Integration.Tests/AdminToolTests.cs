using System.Diagnostics;
using System.Text.Json.Nodes;
using Grpc.Core;
using HaKit.Admin;
using HaKit.Admin.V1;
using HaKit.Integration.Harness;

namespace HaKit.Integration.Tests;

/// <summary>
/// The TwoNode sample pair operated only from outside, through the <c>hakit</c> tool as a real process against each node's admin
/// socket (issue 10): status shows the owner, switchover moves <c>web</c>, takeover asked on the standby brings it back, standby
/// empties a node, events follow a failover with consecutive sequence numbers, and a watcher that reconnects misses nothing.
/// Every test has its own ports and state directory; TearDown kills and reaps every process.
/// </summary>
[TestFixture]
[NonParallelizable]
[Platform(Include = "Linux", Reason = "Unix domain sockets with file modes, SIGKILL via kill(2)")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AdminToolTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MoveTimeout = TimeSpan.FromSeconds(15);

    private SamplePair _pair = null!;
    private readonly List<Process> _tools = [];

    [SetUp]
    public void SetUp() => _pair = new SamplePair("Lan");

    [TearDown]
    public async Task TearDown()
    {
        try
        {
            foreach (var tool in _tools)
            {
                if (!tool.HasExited)
                {
                    tool.Kill(entireProcessTree: true);
                }

                await tool.WaitForExitAsync();
                tool.Dispose();
            }
        }
        finally
        {
            // The pair is disposed whatever happened to the tools: no node process outlives the test.
            _tools.Clear();
            if (TestContext.CurrentContext.Result.Outcome.Status != NUnit.Framework.Interfaces.TestStatus.Passed)
            {
                await TestContext.Out.WriteLineAsync(_pair.Transcripts());
            }

            await _pair.DisposeAsync();
        }

        Assert.That(_pair.Started.All(p => p.HasExited), Is.True, "every process is reaped");
        Assert.That(Directory.Exists(_pair.StateDirectory), Is.False, "the state directory and its admin sockets are removed");
    }

    private static string Admin(SampleNode node) => node.Lines.First(l => l.IsReady)["admin"]!;

    private async Task<(SampleNode A, SampleNode B)> StartOwnerA() =>
        await _pair.StartWithOwnerAAsync(StartTimeout, settle: _pair.Timing.InitialDeadTime + TimeSpan.FromMilliseconds(200));

    private static async Task<JsonObject> StatusJson(SampleNode node)
    {
        var r = await HakitTool.RunAsync(ToolTimeout, "status", "--json", "--endpoint", Admin(node));
        Assert.That(r.ExitCode, Is.Zero, r.ToString());
        return (JsonObject)JsonNode.Parse(r.Stdout)!;
    }

    private static JsonObject Web(JsonObject status) => status["groups"]!.AsArray().Select(g => (JsonObject)g!).Single(g => (string?)g["name"] == "web");

    private async Task WaitForOwner(string node)
    {
        var answer = await HttpProbe.WaitForAnswerAsync(_pair.Service, x => x.Node == node, MoveTimeout, TimeSpan.FromMilliseconds(20));
        Assert.That(answer?.Node, Is.EqualTo(node), $"{node} never answered on {_pair.Service} within {MoveTimeout.TotalSeconds} s");
    }

    [Test]
    public async Task Status_shows_the_owner_on_both_nodes_and_the_peer_with_its_link()
    {
        var (a, b) = await StartOwnerA();

        var onA = await StatusJson(a);
        Assert.That((string?)onA["node"], Is.EqualTo("a"));
        Assert.That((string?)Web(onA)["role"], Is.EqualTo("active"));
        Assert.That((string?)Web(onA)["owner"], Is.EqualTo("a"));
        Assert.That((ulong?)Web(onA)["epoch"], Is.EqualTo(1UL));
        var peer = (JsonObject)onA["peers"]!.AsArray().Single()!;
        Assert.That((string?)peer["name"], Is.EqualTo("b"));
        Assert.That((string?)peer["health"], Is.EqualTo("alive"));
        Assert.That(peer["links"]!.AsArray().Select(l => (string?)l!["name"]), Does.Contain("lan0"));

        var onB = await StatusJson(b);
        Assert.That((string?)Web(onB)["role"], Is.EqualTo("standby"));
        Assert.That((string?)Web(onB)["owner"], Is.EqualTo("a"), "the standby knows who owns web");

        var table = await HakitTool.RunAsync(ToolTimeout, "status", "--endpoint", Admin(b));
        Assert.That(table.ExitCode, Is.Zero, table.ToString());
        Assert.That(table.Stdout, Does.Contain("web").And.Contain("a"), "the crm_mon-like table names the group and its owner");
    }

    [Test]
    public async Task Switchover_asked_on_the_standby_moves_web_and_takeover_asked_on_the_new_standby_brings_it_back()
    {
        var (a, b) = await StartOwnerA();

        // Asked on b, which does not own web: forwarded to a, which hands web to b.
        var move = await HakitTool.RunAsync(ToolTimeout, "switchover", "web", "--to", "b", "--endpoint", Admin(b));
        Assert.That(move.ExitCode, Is.Zero, move.ToString());
        await WaitForOwner("b");
        Assert.That((string?)Web(await StatusJson(a))["role"], Is.EqualTo("standby"));

        // hb_takeover on a: the owner b hands web back to a.
        var takeover = await HakitTool.RunAsync(ToolTimeout, "takeover", "web", "--endpoint", Admin(a));
        Assert.That(takeover.ExitCode, Is.Zero, takeover.ToString());
        await WaitForOwner("a");
        var onA = await StatusJson(a);
        Assert.That((string?)Web(onA)["role"], Is.EqualTo("active"));
        Assert.That((ulong?)Web(onA)["epoch"], Is.EqualTo(3UL), "each move is a new ownership with a higher epoch");
    }

    [Test]
    public async Task Standby_empties_the_owner_and_takeover_of_a_group_this_node_already_owns_is_refused_with_a_reason()
    {
        var (a, b) = await StartOwnerA();

        var standby = await HakitTool.RunAsync(ToolTimeout, "standby", "on", "--endpoint", Admin(a));
        Assert.That(standby.ExitCode, Is.Zero, standby.ToString());
        await WaitForOwner("b");
        var onA = await StatusJson(a);
        Assert.That((string?)Web(onA)["role"], Is.EqualTo("standby"));
        Assert.That((bool?)Web(onA)["eligible"], Is.False, "a node in standby may run nothing");

        var refused = await HakitTool.RunAsync(ToolTimeout, "takeover", "web", "--endpoint", Admin(b));
        Assert.That(refused.ExitCode, Is.EqualTo(1), "refused: " + refused);
        Assert.That(refused.Stdout + refused.Stderr, Is.Not.Empty, "a refusal prints the reason");

        var back = await HakitTool.RunAsync(ToolTimeout, "standby", "off", "--endpoint", Admin(a));
        Assert.That(back.ExitCode, Is.Zero, back.ToString());
        Assert.That((bool?)Web(await StatusJson(a))["eligible"], Is.True);
    }

    [Test]
    public async Task Events_follow_a_failover_with_consecutive_sequence_numbers()
    {
        var (a, b) = await StartOwnerA();

        var follow = HakitTool.Start("events", "--follow", "--json", "--endpoint", Admin(b));
        _tools.Add(follow);
        var lines = new List<JsonObject>();
        var reader = Task.Run(async () =>
        {
            while (await follow.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.StartsWith('{'))
                {
                    lock (lines)
                    {
                        lines.Add((JsonObject)JsonNode.Parse(line)!);
                    }
                }
            }
        });

        await WaitUntil(() => lines.Count > 0, "the snapshot");
        a.Kill();
        await WaitForOwner("b");
        await WaitUntil(() => lines.Any(e => (string?)e["kind"] == "RoleChanged" && (string?)e["role"] == "active"), "b's RoleChanged to active");

        List<JsonObject> seen;
        lock (lines)
        {
            seen = [.. lines];
        }

        Assert.That((string?)seen[0]["kind"], Is.EqualTo("Snapshot"), "a new watcher gets the current state first");
        var sequences = seen.Select(e => (ulong)e["sequence"]!).ToList();
        for (var i = 1; i < sequences.Count; i++)
        {
            Assert.That(sequences[i], Is.EqualTo(sequences[i - 1] + 1), $"consecutive sequence numbers: {string.Join(", ", sequences)}");
        }

        Assert.That(seen.Any(e => (string?)e["kind"] == "PeerHealthChanged" && (string?)e["node"] == "a"), Is.True, "the peer's death is an event");
        follow.Kill(entireProcessTree: true);
        await reader.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task A_watcher_that_reconnects_gets_exactly_the_events_it_missed()
    {
        var (a, b) = await StartOwnerA();
        using var channel = AdminChannel.Create(Admin(b));
        var client = new ClusterAdmin.ClusterAdminClient(channel);

        // First connection: the snapshot, then disconnect.
        WatchEvent snapshot;
        using (var cts = new CancellationTokenSource(ToolTimeout))
        using (var first = client.Watch(new WatchRequest(), cancellationToken: cts.Token))
        {
            Assert.That(await first.ResponseStream.MoveNext(cts.Token), Is.True);
            snapshot = first.ResponseStream.Current;
        }

        Assert.That(snapshot.Kind, Is.EqualTo("Snapshot"));

        // While nobody watches, web moves to b (events on b).
        var move = await HakitTool.RunAsync(ToolTimeout, "switchover", "web", "--to", "b", "--endpoint", Admin(a));
        Assert.That(move.ExitCode, Is.Zero, move.ToString());
        await WaitForOwner("b");

        // Reconnect after the snapshot's sequence: exactly the missed events, in order, no gap, no snapshot.
        var missed = new List<WatchEvent>();
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3)))
        using (var again = client.Watch(new WatchRequest { Incarnation = snapshot.Incarnation, AfterSequence = snapshot.Sequence }, cancellationToken: cts.Token))
        {
            try
            {
                while (await again.ResponseStream.MoveNext(cts.Token))
                {
                    missed.Add(again.ResponseStream.Current);
                    if (missed[^1].Kind == "RoleChanged" && missed[^1].Role == Role.Active)
                    {
                        break;
                    }
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled)
            {
            }
        }

        Assert.That(missed, Is.Not.Empty);
        Assert.That(missed.Select(e => e.Kind), Does.Not.Contain("Snapshot"), "nothing was lost, so no gap snapshot");
        Assert.That(missed[0].Sequence, Is.EqualTo(snapshot.Sequence + 1), "the first missed event follows the last seen one");
        for (var i = 1; i < missed.Count; i++)
        {
            Assert.That(missed[i].Sequence, Is.EqualTo(missed[i - 1].Sequence + 1));
        }

        Assert.That(missed.Any(e => e.Kind == "RoleChanged" && e.Group == "web" && e.Role == Role.Active && e.Epoch == 2), Is.True,
            "the missed events include b becoming the owner of web with epoch 2");
    }

    [Test]
    public async Task The_admin_socket_is_private_to_the_node_user()
    {
        var (a, _) = await StartOwnerA();
        var path = Admin(a)["unix:".Length..];
        Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), "mode 0600");

        var unreachable = await HakitTool.RunAsync(ToolTimeout, "status", "--endpoint", "unix:" + Path.Combine(_pair.StateDirectory, "nobody.admin.sock"), "--timeout", "2");
        Assert.That(unreachable.ExitCode, Is.EqualTo(3), "a missing socket is 'unreachable': " + unreachable);
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > MoveTimeout)
            {
                Assert.Fail($"timed out after {MoveTimeout.TotalSeconds} s waiting for {what}");
            }

            await Task.Delay(20);
        }
    }
}
