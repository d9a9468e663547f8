using System.Collections.Concurrent;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.Tests.Configuration;
using HaKit.Tests.Runtime;

namespace HaKit.Tests.Fencing;

/// <summary>
/// Two real <see cref="ClusterNode"/>s on loopback UDP with short real-time timings and a configured
/// <c>HaKit:Fencing:Agents</c> script agent (a real shell script): node b takes a's group only after the script fenced a.
/// Every wait is bounded; nodes, scripts and the state directory are removed after each test.
/// </summary>
[TestFixture]
[NonParallelizable]
[Platform(Exclude = "Win")]
public class FencingEndToEndTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly List<ClusterNode> _nodes = [];
    private string _dir = "";

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("hakit-fence-e2e-").FullName;

    [TearDown]
    public async Task TearDown()
    {
        foreach (var n in _nodes)
        {
            await n.AbortAsync(); // tear down as before: no handover (DisposeAsync alone would hand groups over)
            await n.DisposeAsync();
        }

        _nodes.Clear();
        Directory.Delete(_dir, recursive: true);
    }

    private ClusterNode Node(string name, int[] ports, string script, ConcurrentQueue<string> log, ConcurrentDictionary<string, bool> running)
    {
        var o = HaKitOptionsValidatorTests.Valid();
        o.ClusterName = "e2e";
        o.NodeName = name;
        o.Nodes[0].Addresses["lan0"] = $"127.0.0.1:{ports[0]}";
        o.Nodes[1].Addresses["lan0"] = $"127.0.0.1:{ports[1]}";
        o.Timing = new TimingOptions
        {
            Interval = TimeSpan.FromMilliseconds(50),
            WarnTime = TimeSpan.FromMilliseconds(150),
            DeadTime = TimeSpan.FromMilliseconds(300),
            InitialDeadTime = TimeSpan.FromMilliseconds(600),
        };
        o.Groups[0].MonitorInterval = TimeSpan.FromMilliseconds(100);
        o.StateDirectory = _dir;
        o.Fencing.Timeout = TimeSpan.FromSeconds(5);
        o.Fencing.RetryInterval = TimeSpan.FromMilliseconds(200);
        o.Fencing.Agents.Add(new FenceAgentOptions { Name = "script", Type = FenceAgentType.Script, Command = script, Arguments = ["--fence-test"] });
        var resource = new DelegateResource(
            "http",
            (ctx, _) =>
            {
                log.Enqueue($"{name} start epoch={ctx.Epoch}");
                running[name] = true;
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (_, _) =>
            {
                running[name] = false;
                return ValueTask.FromResult(ResourceResult.Success);
            },
            (_, _) => ValueTask.FromResult(running.GetValueOrDefault(name) ? MonitorResult.Running : MonitorResult.NotRunning()));
        var node = new ClusterNode(o, new Dictionary<string, IReadOnlyList<IResource>> { ["web"] = [resource] });
        _nodes.Add(node);
        return node;
    }

    /// <summary>A fence script: records every call; "off" succeeds only while the file <c>allow</c> exists; "status" says off (exit 2).</summary>
    private string FenceScript()
    {
        var calls = Path.Combine(_dir, "calls");
        var allow = Path.Combine(_dir, "allow");
        return ScriptFenceAgentTests.Script(_dir, "fence", $"""
            echo "$HAKIT_ACTION $HAKIT_NODE $HAKIT_CLUSTER $1" >> '{calls}'
            if [ "$HAKIT_ACTION" = status ]; then exit 2; fi
            if [ -e '{allow}' ]; then echo "node $HAKIT_NODE powered off"; exit 0; fi
            echo "bmc of $HAKIT_NODE does not answer" >&2
            exit 1
            """);
    }

    private static GroupRole Role(ClusterNode n) => n.GetStatus().Groups.Single().Role;

    private static async Task WaitFor(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(Bound);
        while (!condition())
        {
            if (cts.IsCancellationRequested)
            {
                Assert.Fail($"timed out after {Bound.TotalSeconds} s waiting for: {what}");
            }

            await Task.Delay(10);
        }
    }

    private async Task<(ClusterNode A, ClusterNode B, ConcurrentQueue<string> Log, ConcurrentQueue<ClusterEvent> Events)> StartPairAndKillA()
    {
        var ports = ClusterNodeTests.FreeUdpPorts(2);
        var script = FenceScript();
        var log = new ConcurrentQueue<string>();
        var running = new ConcurrentDictionary<string, bool>();
        var a = Node("a", ports, script, log, running);
        var b = Node("b", ports, script, log, running);
        var events = new ConcurrentQueue<ClusterEvent>();
        b.EventRaised += (_, e) => events.Enqueue(e);
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        await WaitFor(() => Role(a) == GroupRole.Active && Role(b) == GroupRole.Standby, "a active, b standby");

        await a.AbortAsync(); // a crash as far as b can tell; its last announcement was Active, so b must fence it
        return (a, b, log, events);
    }

    [Test]
    public async Task The_peer_takes_over_only_after_the_script_fenced_the_dead_owner()
    {
        File.WriteAllText(Path.Combine(_dir, "allow"), "");
        var (_, b, log, events) = await StartPairAndKillA();

        await WaitFor(() => Role(b) == GroupRole.Active, "b takes over");

        Assert.That(log, Does.Contain("b start epoch=2"));
        Assert.That(File.ReadAllLines(Path.Combine(_dir, "calls")), Is.EqualTo(new[] { "off a e2e --fence-test", "status a e2e --fence-test" }));
        var list = events.ToList();
        var fence = list.OfType<FenceCompleted>().Single();
        Assert.That(fence.Node, Is.EqualTo("a"));
        Assert.That(fence.Result.Succeeded, Is.True, fence.Result.Explanation);
        Assert.That(fence.Result.Explanation, Does.StartWith("script: off a exited with code 0; status confirmed off"));
        var active = list.OfType<RoleChanged>().Last(r => r.To == GroupRole.Active);
        Assert.That(list.IndexOf(fence), Is.LessThan(list.IndexOf(active)), "fenced before the group started");
        Assert.That(active.Why.Fence?.Succeeded, Is.True, "the decision names the fence result");
        Assert.That(b.GetStatus().Peers.Single().Fenced, Is.True);
    }

    [Test]
    public async Task A_failing_script_keeps_the_group_down_with_fence_failure_events_and_a_later_success_takes_over()
    {
        var (_, b, log, events) = await StartPairAndKillA();

        await WaitFor(() => events.OfType<FenceCompleted>().Count() >= 3, "three failed fence attempts (retried every 200 ms)");

        Assert.That(Role(b), Is.Not.EqualTo(GroupRole.Active));
        Assert.That(log, Does.Not.Contain("b start epoch=2"), "the group stays down while fencing fails");
        var failure = events.OfType<FenceCompleted>().First();
        Assert.That(failure.Result.Succeeded, Is.False);
        Assert.That(failure.Result.Explanation, Does.Contain("script: off a exited with code 1: bmc of a does not answer"));
        Assert.That(events.OfType<TakeoverDelayed>().Select(t => t.Reason), Has.Some.Contains("fencing node a failed"));
        Assert.That(events.OfType<RoleChanged>().Where(r => r.To == GroupRole.Active), Is.Empty);

        File.WriteAllText(Path.Combine(_dir, "allow"), "");
        await WaitFor(() => Role(b) == GroupRole.Active, "b takes over once the fence succeeds");
        Assert.That(log, Does.Contain("b start epoch=2"));
        Assert.That(events.OfType<FenceCompleted>().Last().Result.Succeeded, Is.True);
    }
}
