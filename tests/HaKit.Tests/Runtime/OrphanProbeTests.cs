using System.Collections.Concurrent;
using HaKit.Resources;
using HaKit.Tests.Configuration;
using HaKit.Transport;

namespace HaKit.Tests.Runtime;

/// <summary>
/// The orphan probe (Pacemaker's initial probe): at node start, before any link is bound, every resource is monitored and one found
/// running on this node, which owns nothing yet, is stopped. And the re-announcement of announcing resources.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OrphanProbeTests
{
    private string _stateDir = "";

    [SetUp]
    public void SetUp() => _stateDir = Directory.CreateTempSubdirectory("hakit-probe-test-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_stateDir, recursive: true);

    private HaKitOptions Options()
    {
        var ports = ClusterNodeTests.FreeUdpPorts(2);
        var o = HaKitOptionsValidatorTests.Valid();
        o.NodeName = "b"; // not the preferred node: it must not take the group on its own within the test
        o.Nodes[0].Addresses["lan0"] = $"127.0.0.1:{ports[0]}";
        o.Nodes[1].Addresses["lan0"] = $"127.0.0.1:{ports[1]}";
        o.Groups[0].Resources = ["vip", "http"];
        o.Timing = new TimingOptions { InitialDeadTime = TimeSpan.FromSeconds(30) };
        o.StateDirectory = _stateDir;
        return o;
    }

    private static DelegateResource Resource(string name, ConcurrentDictionary<string, bool> running, ConcurrentQueue<string> log) => new(
        name,
        (_, _) =>
        {
            log.Enqueue($"start {name}");
            running[name] = true;
            return ValueTask.FromResult(ResourceResult.Success);
        },
        (ctx, _) =>
        {
            log.Enqueue($"stop {name} epoch={ctx.Epoch}");
            running[name] = false;
            return ValueTask.FromResult(ResourceResult.Success);
        },
        (_, _) =>
        {
            log.Enqueue($"monitor {name}");
            return ValueTask.FromResult(running.GetValueOrDefault(name) ? MonitorResult.Running : MonitorResult.NotRunning());
        });

    [Test]
    public async Task A_resource_left_running_is_stopped_before_the_node_starts_and_the_finding_is_an_event()
    {
        var running = new ConcurrentDictionary<string, bool> { ["vip"] = true }; // a VIP left by a crashed process
        var log = new ConcurrentQueue<string>();
        var events = new ConcurrentQueue<ClusterEvent>();
        await using var node = new ClusterNode(Options(), new Dictionary<string, IReadOnlyList<IResource>>
        {
            ["web"] = [Resource("vip", running, log), Resource("http", running, log)],
        });
        node.EventRaised += (_, e) => events.Enqueue(e);
        await node.StartAsync(CancellationToken.None);

        Assert.That(log.ToArray(), Is.EqualTo(new[] { "monitor http", "monitor vip", "stop vip epoch=0" }), "probed last to first; only the running one stopped, before StartAsync returned");
        Assert.That(running["vip"], Is.False);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!events.OfType<ResourceActionCompleted>().Any(e => e.Record is { Resource: "vip", Action: ResourceAction.Stop, FailureKind: ResourceFailureKind.None }))
        {
            await Task.Delay(10, bound.Token);
        }

        await node.AbortAsync();
    }

    [Test]
    public async Task Nothing_running_means_nothing_stopped()
    {
        var running = new ConcurrentDictionary<string, bool>();
        var log = new ConcurrentQueue<string>();
        await using var node = new ClusterNode(Options(), new Dictionary<string, IReadOnlyList<IResource>>
        {
            ["web"] = [Resource("vip", running, log), Resource("http", running, log)],
        });
        await node.StartAsync(CancellationToken.None);
        Assert.That(log.ToArray(), Is.EqualTo(new[] { "monitor http", "monitor vip" }));
        await node.AbortAsync();
    }

    [Test]
    public async Task The_runner_reports_a_resource_it_could_not_stop()
    {
        var stuck = new DelegateResource(
            "mount",
            (_, _) => ValueTask.FromResult(ResourceResult.Success),
            (_, _) => ValueTask.FromResult(ResourceResult.Transient("device busy")),
            (_, _) => ValueTask.FromResult(MonitorResult.Running));
        var runner = new ResourceGroupRunner(new GroupOptions { Name = "web", PreferredNode = "a" }, [stuck], "b", TimeProvider.System);
        var findings = await runner.ProbeAsync(CancellationToken.None);
        Assert.That(findings, Has.Count.EqualTo(1));
        Assert.That((findings[0].Resource, findings[0].Status, findings[0].Stopped, findings[0].StopMessage), Is.EqualTo(("mount", ResourceStatus.Running, false, "device busy")));
    }

    [Test]
    public async Task Announcing_resources_announce_again_and_others_are_left_alone()
    {
        var announcer = new Announcer();
        var other = new DelegateResource("http", (_, _) => ValueTask.FromResult(ResourceResult.Success), (_, _) => ValueTask.FromResult(ResourceResult.Success));
        var runner = new ResourceGroupRunner(new GroupOptions { Name = "web", PreferredNode = "a" }, [announcer, other], "a", TimeProvider.System);
        await runner.StartAsync(7, CancellationToken.None, CancellationToken.None);
        Assert.That(await runner.AnnounceAsync(CancellationToken.None), Is.EqualTo(1));
        Assert.That(announcer.Epochs, Is.EqualTo(new ulong[] { 7 }), "announced with the ownership's context");
    }

    [Test]
    public async Task The_node_that_wins_a_split_brain_announces_its_resources_again_and_the_loser_does_not()
    {
        var network = new InMemoryNetwork();
        var announcers = new Dictionary<string, RunningAnnouncer> { ["a"] = new(), ["b"] = new() };
        ClusterNode Make(string name)
        {
            var o = HaKitOptionsValidatorTests.Valid();
            o.NodeName = name;
            o.Groups[0].Resources = ["vip"];
            o.Timing = new TimingOptions { Interval = TimeSpan.FromMilliseconds(100), WarnTime = TimeSpan.FromMilliseconds(300), DeadTime = TimeSpan.FromMilliseconds(600), InitialDeadTime = TimeSpan.FromSeconds(1) };
            o.StateDirectory = Path.Combine(_stateDir, name);
            o.WarmUp = false;
            return new ClusterNode(o, new Dictionary<string, IReadOnlyList<IResource>> { ["web"] = [announcers[name]] }, new ClusterNodeServices { Transports = [network.CreateTransport(name, "lan0")] });
        }

        await using var a = Make("a");
        await using var b = Make("b");
        await a.StartAsync(CancellationToken.None);
        await b.StartAsync(CancellationToken.None);
        await Until(() => Role(a) == GroupRole.Active && Role(b) == GroupRole.Standby, "a owns web");
        var (announcedA, announcedB) = (announcers["a"].Announced, announcers["b"].Announced); // a busy start may have had its own split brain

        network.CutBoth("a", "b"); // both sides run web: b after the dead time, in a higher epoch
        await Until(() => Role(b) == GroupRole.Active, "b took web over while cut off");
        Assert.That((announcers["a"].Announced, announcers["b"].Announced), Is.EqualTo((announcedA, announcedB)), "nothing to announce before the split brain is seen");
        network.HealBoth("a", "b");

        await Until(() => Role(a) == GroupRole.Standby && announcers["b"].Announced > announcedB, () => $"the split brain resolved for b, which announced again (a {Role(a)} epoch {a.GetStatus().Groups.Single().Epoch}, b {Role(b)} epoch {b.GetStatus().Groups.Single().Epoch}, announced a {announcers["a"].Announced} b {announcers["b"].Announced})");
        Assert.That(announcers["b"].Epochs.Skip(announcedB), Is.All.EqualTo(b.GetStatus().Groups.Single().Epoch), "announced with the winner's ownership");
        Assert.That(announcers["a"].Announced, Is.EqualTo(announcedA), "the loser stops; it announces nothing");
    }

    private static GroupRole Role(ClusterNode n) => n.GetStatus().Groups.Single().Role;

    private static Task Until(Func<bool> condition, string what) => Until(condition, () => what);

    private static async Task Until(Func<bool> condition, Func<string> what)
    {
        var bound = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (bound.Elapsed > TimeSpan.FromSeconds(15))
            {
                Assert.Fail($"timed out after 15 s waiting for: {what()}");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>An announcing resource that runs while started and counts its announcements (thread-safe: the node calls it from its tasks).</summary>
    private sealed class RunningAnnouncer : IAnnouncingResource
    {
        private readonly ConcurrentQueue<ulong> _epochs = new();
        private volatile bool _running;

        public int Announced => _epochs.Count;

        public IReadOnlyList<ulong> Epochs => [.. _epochs];

        public string Name => "vip";

        public ValueTask AnnounceAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            _epochs.Enqueue(context.Epoch);
            return ValueTask.CompletedTask;
        }

        public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            _running = true;
            return ValueTask.FromResult(ResourceResult.Success);
        }

        public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            _running = false;
            return ValueTask.FromResult(ResourceResult.Success);
        }

        public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(_running ? MonitorResult.Running : MonitorResult.NotRunning());
    }

    private sealed class Announcer : IAnnouncingResource
    {
        public List<ulong> Epochs { get; } = [];

        public string Name => "vip";

        public ValueTask AnnounceAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            Epochs.Add(context.Epoch);
            return ValueTask.CompletedTask;
        }

        public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(ResourceResult.Success);

        public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(ResourceResult.Success);

        public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) => ValueTask.FromResult(MonitorResult.Running);
    }
}
