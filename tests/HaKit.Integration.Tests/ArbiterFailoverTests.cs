using System.Diagnostics;
using System.Globalization;
using System.Net;
using HaKit.Etcd.Tests.Harness;
using HaKit.Integration.Harness;

namespace HaKit.Integration.Tests;

/// <summary>
/// The TwoNode sample with a lease arbiter (<c>--arbiter etcd</c>; the witness follows the same pattern through
/// <see cref="StartPairAsync"/>) as real processes on loopback, against a real etcd on free ports. A crashed owner's group
/// moves only once its lease can have run out: later than in TwoNode mode, never before. TearDown kills and reaps every
/// process (nodes and etcd) and deletes their directories, also when a test fails.
/// </summary>
[TestFixture]
[NonParallelizable]
[Platform(Include = "Linux,MacOsX", Reason = "etcd-server and kill(2)")]
public sealed class ArbiterFailoverTests
{
    /// <summary>Process start-up and the first acquisition: generous for a loaded 2-core CI machine.</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The bound on the takeover after a SIGKILL in lease modes: lease (2 s) + retry interval (1 s) + dead time + a loaded machine.</summary>
    private static readonly TimeSpan LeaseTakeoverBound = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The sample's lease (<c>appsettings.etcd.json</c>: 2 s) less one renewal period (a third of it) and some slack for the
    /// renewal's own round trip: no takeover can come earlier, since the dead owner's last renewal still holds at etcd until then.
    /// </summary>
    private static readonly TimeSpan LeaseTakeoverFloor = TimeSpan.FromSeconds(2) - TimeSpan.FromSeconds(2) / 3 - TimeSpan.FromMilliseconds(300);

    private readonly List<SamplePair> _pairs = [];
    private readonly List<SampleNode> _nodes = [];
    private readonly List<string> _directories = [];
    private EtcdProcess? _etcd;

    [TearDown]
    public async Task TearDown()
    {
        if (TestContext.CurrentContext.Result.Outcome.Status != NUnit.Framework.Interfaces.TestStatus.Passed)
        {
            foreach (var pair in _pairs)
            {
                await TestContext.Out.WriteLineAsync(pair.Transcripts());
            }

            foreach (var node in _nodes)
            {
                await TestContext.Out.WriteLineAsync(node.Transcript());
            }

            if (_etcd is not null)
            {
                await TestContext.Out.WriteLineAsync("etcd:\n" + _etcd.RecentOutput);
            }
        }

        // One fixture instance runs every test: take this test's processes and directories out of the lists.
        var pairs = _pairs.ToArray();
        var nodes = _nodes.ToArray();
        var directories = _directories.ToArray();
        var etcd = _etcd;
        _pairs.Clear();
        _nodes.Clear();
        _directories.Clear();
        _etcd = null;
        try
        {
            await Task.WhenAll(pairs.Select(p => p.DisposeAsync().AsTask()).Concat(nodes.Select(n => n.DisposeAsync().AsTask())));
        }
        finally
        {
            if (etcd is not null)
            {
                await etcd.DisposeAsync();
            }

            foreach (var dir in directories.Where(Directory.Exists))
            {
                Directory.Delete(dir, recursive: true);
            }
        }

        Assert.That(pairs.SelectMany(p => p.Started).Concat(nodes).All(p => p.HasExited), Is.True, "every node process is reaped");
        Assert.That(etcd is null || !Directory.Exists(etcd.DataDirectory), Is.True, "etcd is stopped and its data directory removed");
        Assert.That(pairs.Any(p => Directory.Exists(p.StateDirectory)) || directories.Any(Directory.Exists), Is.False, "the state directories are removed");
    }

    /// <summary>
    /// A sample pair (preset Fast) with <paramref name="arbiterArgs"/> on every node, e.g. <c>--arbiter etcd
    /// --HaKit:Arbiter:Etcd:Endpoints:0=...</c> or <c>--arbiter witness --HaKit:Arbiter:Witness:Endpoint=...</c>: a starts and
    /// serves group web, then b joins as standby. Both report <c>ready ... arbiter=<paramref name="expectedMode"/></c>.
    /// </summary>
    private async Task<(SamplePair Pair, SampleNode A, SampleNode B, ServiceAnswer First)> StartPairAsync(string expectedMode, params string[] arbiterArgs)
    {
        var pair = new SamplePair("Fast", arbiterArgs);
        _pairs.Add(pair);
        var (a, b) = await pair.StartWithOwnerAAsync(StartTimeout, settle: pair.Timing.InitialDeadTime + TimeSpan.FromMilliseconds(200));
        foreach (var node in new[] { a, b })
        {
            Assert.That(node.Lines.First(l => l.IsReady)["arbiter"], Is.EqualTo(expectedMode), $"node {node.Name} runs in {expectedMode} mode");
        }

        var first = await HttpProbe.WaitForAnswerAsync(pair.Service, x => x.Node == "a", TimeSpan.FromSeconds(5));
        Assert.That(first, Is.Not.Null, $"a answers on {pair.Service}");
        Assert.That(b.Lines.Where(l => l.IsHttpListening), Is.Empty, "the standby does not bind the service address");
        return (pair, a, b, first!.Value);
    }

    /// <summary>SIGKILLs <paramref name="owner"/> and waits (bounded) for another node to answer on <paramref name="service"/>; the answer and the time from the signal.</summary>
    private static async Task<(ServiceAnswer Answer, TimeSpan Elapsed)> KillAndWaitForOtherAsync(IPEndPoint service, SampleNode owner, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        owner.Kill();
        var answer = await HttpProbe.WaitForAnswerAsync(service, x => x.Node != owner.Name, bound, TimeSpan.FromMilliseconds(2));
        var elapsed = clock.Elapsed;
        Assert.That(answer, Is.Not.Null, $"no other node answered on {service} within {bound.TotalSeconds} s of the SIGKILL of {owner.Name}");
        return (answer!.Value, elapsed);
    }

    /// <summary>
    /// Starts the witness server (<c>dotnet HaKit.Witness.dll</c>) as a real process for the sample's cluster (<c>twonode</c>,
    /// nodes a and b, the sample's demo key) on a free loopback UDP port, with a 2 s maximum lease (the sample's lease, so its
    /// quiet time after start is 2 s) and a temporary state directory; waits (bounded) until it listens.
    /// </summary>
    private async Task<(SampleNode Witness, int Port)> StartWitnessAsync(int port = 0, string? stateDirectory = null)
    {
        port = port == 0 ? FreePorts.Udp() : port;
        if (stateDirectory is null)
        {
            stateDirectory = Path.Combine(Path.GetTempPath(), "hakit-it-witness-" + Guid.NewGuid().ToString("N")[..8]);
            _directories.Add(stateDirectory);
        }

        var witness = SampleNode.StartDll("witness", SampleProgram.WitnessDllPath,
        [
            "--config", Path.Combine(Path.GetDirectoryName(SampleProgram.WitnessDllPath)!, "witness.example.json"),
            $"--HaKit:Witness:Listen=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}",
            $"--HaKit:Witness:StateDirectory={stateDirectory}",
            "--HaKit:Witness:MaxLeaseTtl=00:00:02",
        ]);
        _nodes.Add(witness);
        var watch = Stopwatch.StartNew();
        while (!(witness.UnparsedLines.Any(l => l.Contains("listening on udp", StringComparison.Ordinal)) || witness.Stderr.Contains("listening on udp", StringComparison.Ordinal)))
        {
            Assert.That(witness.HasExited, Is.False, () => "the witness exited: " + witness.Transcript());
            Assert.That(watch.Elapsed, Is.LessThan(StartTimeout), () => "the witness did not start listening: " + witness.Transcript());
            await Task.Delay(20);
        }

        return (witness, port);
    }

    [Test]
    public async Task Witness_mode_the_peer_takes_over_after_SIGKILL_once_the_owners_lease_ran_out()
    {
        var (witness, port) = await StartWitnessAsync();
        var (pair, a, b, first) = await StartPairAsync("Witness", "--arbiter", "witness", $"--HaKit:Arbiter:Witness:Endpoint=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");

        var (answer, elapsed) = await KillAndWaitForOtherAsync(pair.Service, a, LeaseTakeoverBound);
        Assert.That(answer.Node, Is.EqualTo("b"));
        await TestContext.Out.WriteLineAsync($"witness mode: takeover after SIGKILL {elapsed.TotalMilliseconds:0} ms ({first} -> {answer})");

        Assert.That(elapsed, Is.LessThanOrEqualTo(LeaseTakeoverBound));
        Assert.That(elapsed, Is.GreaterThanOrEqualTo(LeaseTakeoverFloor), "b cannot own web before a's last lease ran out at b's own voter and at the witness");
        Assert.That(answer.Epoch, Is.GreaterThan(first.Epoch));
        var active = await b.WaitForLineAsync(l => l.IsRoleTo("Active"), TimeSpan.FromSeconds(5), "role to=Active");
        Assert.That(active["reason"], Is.EqualTo("failover"));
        var witnessLog = witness.Stderr + string.Join("\n", witness.UnparsedLines);
        Assert.That(witnessLog, Does.Contain($"granted group web to b with epoch {answer.Epoch.ToString(CultureInfo.InvariantCulture)}"), "b's majority was itself and the witness");
    }

    [Test]
    public async Task Witness_mode_a_pair_keeps_serving_while_the_witness_is_killed_and_restarted()
    {
        var stateDirectory = Path.Combine(Path.GetTempPath(), "hakit-it-witness-" + Guid.NewGuid().ToString("N")[..8]);
        _directories.Add(stateDirectory);
        var (witness, port) = await StartWitnessAsync(stateDirectory: stateDirectory);
        var (pair, a, b, first) = await StartPairAsync("Witness", "--arbiter", "witness", $"--HaKit:Arbiter:Witness:Endpoint=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");

        witness.Kill();
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(6)) // three leases
        {
            var answer = await HttpProbe.AskAsync(pair.Service, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));
            Assert.That(answer, Is.EqualTo(first), "the pair alone is a majority: a keeps serving with the same epoch");
            await Task.Delay(100);
        }

        await StartWitnessAsync(port, stateDirectory); // same port and state: it keeps its epochs, forgets its leases
        await Task.Delay(TimeSpan.FromSeconds(3)); // past its quiet time
        Assert.That(await HttpProbe.AskAsync(pair.Service, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)), Is.EqualTo(first));
        Assert.That(a.Lines.Count(l => l.IsRoleTo("Stopping")), Is.Zero, "a never stopped its group");
        Assert.That(b.Lines.Where(l => l.IsHttpListening), Is.Empty);
    }

    [Test]
    public async Task Etcd_mode_the_peer_takes_over_after_SIGKILL_once_the_owners_lease_ran_out()
    {
        _etcd = await EtcdProcess.StartAsync();
        var (pair, a, b, first) = await StartPairAsync("Etcd", "--arbiter", "etcd", $"--HaKit:Arbiter:Etcd:Endpoints:0={_etcd.ClientUrl}");

        var (answer, elapsed) = await KillAndWaitForOtherAsync(pair.Service, a, LeaseTakeoverBound);
        Assert.That(answer.Node, Is.EqualTo("b"));
        await TestContext.Out.WriteLineAsync($"etcd mode: takeover after SIGKILL {elapsed.TotalMilliseconds:0} ms ({first} -> {answer})");

        Assert.That(elapsed, Is.LessThanOrEqualTo(LeaseTakeoverBound));
        Assert.That(elapsed, Is.GreaterThanOrEqualTo(LeaseTakeoverFloor), "b cannot own web before a's last lease ran out at etcd");
        Assert.That(answer.Epoch, Is.GreaterThan(first.Epoch), "the new owner's epoch (the key's etcd revision) is higher");

        var active = await b.WaitForLineAsync(l => l.IsRoleTo("Active"), TimeSpan.FromSeconds(5), "role to=Active");
        Assert.That(active["reason"], Is.EqualTo("failover"));
        Assert.That(active.Epoch, Is.EqualTo(answer.Epoch));
        Assert.That(b.Stderr, Does.Contain("is held by node a"), "b was refused while a's lease held");
        Assert.That(await HttpProbe.AskAsync(pair.Service, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)), Is.EqualTo(answer), "b keeps answering");
    }

    [Test]
    public async Task Three_node_etcd_config_serves_web_on_a_and_api_on_b_and_moves_web_when_a_dies()
    {
        _etcd = await EtcdProcess.StartAsync();
        var state = Directory.CreateTempSubdirectory("hakit-it3-").FullName;
        _directories.Add(state);
        var web = new IPEndPoint(IPAddress.Loopback, FreePorts.Tcp());
        var api = new IPEndPoint(IPAddress.Loopback, FreePorts.Tcp());
        var heartbeat = new[] { FreePorts.Udp(), FreePorts.Udp(), FreePorts.Udp() };
        string[] Args(string node) =>
        [
            "--node", node, "--config", "appsettings.threenode-etcd.json",
            $"--HaKit:Arbiter:Etcd:Endpoints:0={_etcd.ClientUrl}",
            .. heartbeat.Select((port, i) => $"--HaKit:Nodes:{i}:Addresses:lan0=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"),
            $"--HaKit:StateDirectory={state}",
            $"--Sample:HttpAddress={web}", $"--Sample:HttpAddresses:api={api}",

            // A node's first etcd request pays for the gRPC connection and its JIT; on a loaded 2-core machine it can miss
            // the 500 ms request timeout, and then the next candidate rightly takes the group. With failback the groups
            // still end on their preferred nodes, which is what this test checks, whatever the first request's latency.
            "--HaKit:Groups:0:AutoFailback=true", "--HaKit:Groups:1:AutoFailback=true",
        ];

        var nodes = new Dictionary<string, SampleNode>();
        foreach (var name in new[] { "a", "b", "c" })
        {
            var node = SampleNode.StartSample(name, Args(name));
            _nodes.Add(node);
            nodes[name] = node;
        }

        foreach (var node in nodes.Values)
        {
            var ready = await node.WaitForLineAsync(l => l.IsReady, StartTimeout, "ready");
            Assert.That(ready["arbiter"], Is.EqualTo("Etcd"));
        }

        var onA = await HttpProbe.WaitForAnswerAsync(web, x => x.Node == "a", StartTimeout);
        var onB = await HttpProbe.WaitForAnswerAsync(api, x => x.Node == "b", StartTimeout);
        Assert.That(onA?.Node, Is.EqualTo("a"), "web on its preferred node a");
        Assert.That(onA!.Value.Epoch, Is.GreaterThan(0UL));
        Assert.That(onB?.Node, Is.EqualTo("b"), "api on its preferred node b");
        Assert.That(onB!.Value.Epoch, Is.GreaterThan(0UL));
        Assert.That(nodes["c"].Lines.Where(l => l.IsHttpListening), Is.Empty, "the spare serves nothing");

        var (moved, elapsed) = await KillAndWaitForOtherAsync(web, nodes["a"], LeaseTakeoverBound);
        await TestContext.Out.WriteLineAsync($"three nodes, etcd: web moved after SIGKILL of a in {elapsed.TotalMilliseconds:0} ms ({onA} -> {moved})");
        Assert.That(moved.Node, Is.AnyOf("b", "c"));
        Assert.That(moved.Epoch, Is.GreaterThan(onA!.Value.Epoch), "the new owner's epoch is higher");
        Assert.That(elapsed, Is.GreaterThanOrEqualTo(LeaseTakeoverFloor), "web cannot move before a's last lease ran out at etcd");
        Assert.That(await HttpProbe.AskAsync(api, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1)), Is.EqualTo(onB), "api stays on b, same epoch");
        var other = moved.Node == "b" ? "c" : "b";
        Assert.That(nodes[other].Lines.Where(l => l.IsHttpListening && l["group"] == "web"), Is.Empty, "only one survivor serves web");
    }
}
