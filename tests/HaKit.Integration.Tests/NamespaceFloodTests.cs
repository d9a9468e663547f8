using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using HaKit.Integration.Harness;
using HaKit.Integration.Namespaces;
using HaKit.Tests.Transport;

namespace HaKit.Integration.Tests;

/// <summary>
/// Issue 13, section 2, across hosts: the <c>Lan</c> sample pair with each node in its own network namespace on a bridge, flooded
/// from the test's namespace on that bridge (another host's address) with 50,000 junk datagrams a second to each node's heartbeat
/// address (random bytes and envelope-shaped junk with the right cluster and a known sender), plus 1,000 forged datagrams a second
/// from each node's own address and port to the other (raw socket). No peer may change state and no role may change; the junk must
/// be dropped by the kernel (each link's socket is connected to its one peer: the namespace's UDP <c>NoPorts</c> counter takes it, the
/// node never sees it), and the forgeries, which pass that filter, are dropped by the node and counted in its aggregated drop lines.
/// Prints the nodes' CPU per 100,000 junk datagrams (docs/benchmarks.md). CI floods for 10 s; a longer measurement takes run
/// parameters, e.g. <c>dotnet test ... -- TestRunParameters.Parameter(name=\"FloodSeconds\", value=\"30\")</c> (also
/// <c>IdleSeconds</c>, default 5, and <c>SettleSeconds</c>, default 0: time after start-up before the idle measurement).
/// </summary>
[TestFixture]
[NonParallelizable]
[Platform(Include = "Linux", Reason = "network namespaces, raw sockets for the forgeries, /proc for CPU time and UDP counters")]
public sealed partial class NamespaceFloodTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static TimeSpan IdleTime => Seconds("IdleSeconds", 5);

    private static TimeSpan FloodTime => Seconds("FloodSeconds", 10);

    private static TimeSpan SettleTime => Seconds("SettleSeconds", 0);

    /// <summary>A drop summary is written every 10 s (LogAggregator.DefaultInterval): the last counts of the flood are in the log after one.</summary>
    private static readonly TimeSpan SummaryWait = TimeSpan.FromSeconds(12);

    private const int JunkPerSecond = 50_000;
    private const int ForgedPerSecond = 1_000;

    [Test]
    public async Task A_junk_flood_from_another_host_changes_no_peer_state_and_no_role_and_the_forgeries_are_dropped_and_counted()
    {
        NetNs.IgnoreIfUnavailable();
        if (!Flooder.CanForge())
        {
            Assert.Ignore("forging datagrams from a node's own address needs a raw socket (root or CAP_NET_RAW)");
        }

        var pair = NamespaceSamplePair.Create("Lan");
        var passed = false;
        try
        {
            var (a, b) = await pair.StartWithOwnerAAsync(StartTimeout);
            var net = pair.Net;
            await TestContext.Out.WriteLineAsync(
                $"bridge {net.Bridge} {net.HostAddress} (flood source), a {pair.HeartbeatA} in {net.NamespaceA}, b {pair.HeartbeatB} in {net.NamespaceB}; " +
                $"root namespace: rp_filter all={Sysctl("net/ipv4/conf/all/rp_filter")} bridge-nf-call-iptables={Sysctl("net/bridge/bridge-nf-call-iptables")}; " +
                $"load {File.ReadAllText("/proc/loadavg").Trim()}");

            // Idle cost first, to take it out of the flood's CPU (after start-up work such as tiered compilation, when asked).
            await Task.Delay(SettleTime);
            var idleClock = Stopwatch.StartNew();
            var idleA0 = Cpu(a);
            var idleB0 = Cpu(b);
            await Task.Delay(IdleTime);
            var idleA = Cpu(a) - idleA0;
            var idleB = Cpu(b) - idleB0;
            var idleSeconds = idleClock.Elapsed.TotalSeconds;

            var peerLines = a.Lines.Count(l => l.IsPeer) + b.Lines.Count(l => l.IsPeer);
            var roleLines = a.Lines.Count(l => l.IsRole) + b.Lines.Count(l => l.IsRole);
            var udpA0 = UdpCounters.Of(a.Pid);
            var udpB0 = UdpCounters.Of(b.Pid);
            long sentA, sentB, forged;
            double floodSeconds;
            TimeSpan cpuA, cpuB;
            await using (var flood = new Flooder([(pair.HeartbeatA, "b"), (pair.HeartbeatB, "a")], "twonode", JunkPerSecond, FloodTime,
                             forged: ([pair.HeartbeatB, pair.HeartbeatA], ForgedPerSecond), source: net.HostAddress))
            {
                var cpuA0 = Cpu(a);
                var cpuB0 = Cpu(b);
                flood.Start();
                await flood.Completion.WaitAsync(FloodTime + TimeSpan.FromSeconds(30));
                cpuA = Cpu(a) - cpuA0;
                cpuB = Cpu(b) - cpuB0;
                (sentA, sentB, forged, floodSeconds) = (flood.SentTo(0), flood.SentTo(1), flood.ForgedSent, flood.Elapsed.TotalSeconds);
                await TestContext.Out.WriteLineAsync(
                    $"flood: {floodSeconds:0.0} s, sent {sentA:N0} junk to a and {sentB:N0} to b ({sentA / floodSeconds:N0} and {sentB / floodSeconds:N0} per second), " +
                    $"{forged:N0} forged (half to each), {flood.Failed} sends failed");
            }

            // Give the kernel a moment to finish what was queued, then read what it did with the junk.
            await Task.Delay(200);
            var udpA = UdpCounters.Of(a.Pid).Since(udpA0);
            var udpB = UdpCounters.Of(b.Pid).Since(udpB0);
            await TestContext.Out.WriteLineAsync($"kernel UDP counters during the flood: a {udpA}, b {udpB}");

            // The last drop counts reach the log with the next summary.
            await Task.Delay(SummaryWait);
            var droppedA = DropsLogged(a.Stderr);
            var droppedB = DropsLogged(b.Stderr);
            var idleShare = floodSeconds / idleSeconds;
            var netCpu = (cpuA - (idleA * idleShare)) + (cpuB - (idleB * idleShare));
            var per100k = netCpu.TotalMilliseconds / 2 / ((sentA + sentB) / 2.0 / 100_000);
            var gross100k = (cpuA + cpuB).TotalMilliseconds / 2 / ((sentA + sentB) / 2.0 / 100_000);
            var changes = a.Lines.Where(l => l.IsPeer || l.IsRole).Select(l => $"a: {l.Raw}")
                .Concat(b.Lines.Where(l => l.IsPeer || l.IsRole).Select(l => $"b: {l.Raw}")).ToList();
            await TestContext.Out.WriteLineAsync(
                $"drops the nodes logged (first lines and summaries): a {droppedA:N0}, b {droppedB:N0}; process CPU during the flood: a {cpuA.TotalSeconds:0.00} s, " +
                $"b {cpuB.TotalSeconds:0.00} s (idle: a {idleA.TotalSeconds:0.00} s, b {idleB.TotalSeconds:0.00} s in {idleSeconds:0.0} s); " +
                $"{per100k:0.0} ms of CPU per 100,000 junk datagrams per node net of idle ({gross100k:0.0} ms gross); load {File.ReadAllText("/proc/loadavg").Trim()}");

            var forgedEach = forged / 2;
            Assert.Multiple(() =>
            {
                Assert.That(a.Lines.Count(l => l.IsPeer) + b.Lines.Count(l => l.IsPeer) - peerLines, Is.Zero, () => "no peer-state change during the flood:\n" + string.Join('\n', changes));
                Assert.That(a.Lines.Count(l => l.IsRole) + b.Lines.Count(l => l.IsRole) - roleLines, Is.Zero, () => "no role change during the flood:\n" + string.Join('\n', changes));
                Assert.That(a.HasExited || b.HasExited, Is.False, "both nodes still run");

                // The flood ran at (nearly) its rate to each node, and reached each host: the kernel took it in and found no socket for it.
                // (70 %: on a loaded 2-core machine one of the test's sending threads can fall behind; the rates achieved are printed.)
                Assert.That(sentA, Is.GreaterThanOrEqualTo(0.7 * JunkPerSecond * FloodTime.TotalSeconds), "junk sent to a");
                Assert.That(sentB, Is.GreaterThanOrEqualTo(0.7 * JunkPerSecond * FloodTime.TotalSeconds), "junk sent to b");
                Assert.That(forgedEach, Is.GreaterThanOrEqualTo(0.5 * ForgedPerSecond * FloodTime.TotalSeconds), "forgeries sent to each node");
                Assert.That(udpA.NoPorts, Is.GreaterThanOrEqualTo(0.95 * sentA), "a's kernel dropped the junk from the other address (no socket matched)");
                Assert.That(udpB.NoPorts, Is.GreaterThanOrEqualTo(0.95 * sentB), "b's kernel dropped the junk from the other address (no socket matched)");

                // The forgeries come from the peer's own address and port, so the connected socket takes them: the node drops and counts
                // every one of them, and (since the junk never reached it) nothing else.
                Assert.That(a.Stderr, Does.Contain("Link lan0: dropping datagrams (BadMac)"), "a logged the forgeries in b's name");
                Assert.That(b.Stderr, Does.Contain("Link lan0: dropping datagrams (BadMac)"), "b logged the forgeries in a's name");
                Assert.That(droppedA, Is.InRange(0.95 * forgedEach, forgedEach), "a's logged drops are the forgeries it was sent");
                Assert.That(droppedB, Is.InRange(0.95 * forgedEach, forgedEach), "b's logged drops are the forgeries it was sent");
            });
            passed = true;
        }
        finally
        {
            if (!passed)
            {
                await TestContext.Out.WriteLineAsync(pair.Transcripts());
            }

            await pair.DisposeAsync();
        }
    }

    private static TimeSpan Seconds(string parameter, double fallback) =>
        TimeSpan.FromSeconds(double.Parse(TestContext.Parameters.Get(parameter, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture));

    private static TimeSpan Cpu(SampleNode node) =>
        ProcessCpu.Read(node.Pid) ?? throw new InvalidOperationException($"cannot read the CPU time of node {node.Name} (pid {node.Pid})");

    private static string Sysctl(string path) => File.Exists($"/proc/sys/{path}") ? File.ReadAllText($"/proc/sys/{path}").Trim() : "n/a";

    /// <summary>
    /// The datagrams a node's drop lines account for: one per <c>dropping datagrams (Reason)</c> line (the first of a run, logged at
    /// once) plus the counts of the <c>datagrams dropped (Reason) repeated N times</c> summaries.
    /// </summary>
    private static long DropsLogged(string stderr) =>
        FirstDrop().Count(stderr) + RepeatedDrops().Matches(stderr).Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"dropping datagrams \(\w+\)")]
    private static partial Regex FirstDrop();

    [GeneratedRegex(@"datagrams dropped \(\w+\) repeated (\d+) times")]
    private static partial Regex RepeatedDrops();
}
