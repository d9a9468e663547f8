using System.Globalization;
using System.Security.Cryptography;
using HaKit.Integration.Harness;
using HaKit.Integration.Namespaces;
using HaKit.Tests.Transport;

namespace HaKit.Integration.Tests;

/// <summary>
/// Issue 12, ipfail on real kernels: nodes a and b of the sample pair each in their own network namespace, with two heartbeat links:
/// lan0 (one bridge) and lan1 on the "uplink" bridge, whose address in the test's namespace is the ping target (<c>icmp:…</c>).
/// Cutting a's uplink (its lan1 interface down, inside a's namespace) takes a's ping target and one heartbeat link away while
/// heartbeats continue on lan0: ipfail moves the group to b by the graceful handoff (a stops, b starts with a newer epoch), and
/// a's role change names the lost target. Every wait is bounded; processes, namespaces and bridges are removed in finally.
/// </summary>
[TestFixture]
[NonParallelizable]
[Platform(Include = "Linux", Reason = "network namespaces")]
public sealed class IpfailNamespaceTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MoveBound = TimeSpan.FromSeconds(15);

    [Test]
    public async Task Cutting_the_owners_uplink_moves_the_group_to_the_peer_while_heartbeats_continue_on_the_second_link()
    {
        NetNs.IgnoreIfUnavailable();
        var nodes = new List<SampleNode>();
        var stateDirectory = Directory.CreateTempSubdirectory("hakit-it-ipfail-").FullName;
        var net = NamespaceBridge.Create();
        var uplink = Uplink.Create(net);
        var passed = false;
        try
        {
            var target = $"icmp:{uplink.HostAddress}";
            SampleNode Start(string node)
            {
                var process = SampleNode.StartDll(node, SampleProgram.DllPath,
                [
                    "--node", node,
                    "--HaKit:Preset=Lan",
                    "--HaKit:Links:1:Name=lan1",
                    "--HaKit:Links:1:Kind=Udp",
                    $"--HaKit:Nodes:0:Addresses:lan0={net.AddressA}:7401",
                    $"--HaKit:Nodes:1:Addresses:lan0={net.AddressB}:7402",
                    $"--HaKit:Nodes:0:Addresses:lan1={uplink.AddressA}:7401",
                    $"--HaKit:Nodes:1:Addresses:lan1={uplink.AddressB}:7402",
                    $"--HaKit:StateDirectory={stateDirectory}",
                    "--Sample:HttpAddress=0.0.0.0:8080",
                    $"--HaKit:Arbiter:PingTargets:0={target}",
                    "--HaKit:Arbiter:PingTimeout=00:00:00.200",
                    "--HaKit:Arbiter:Ipfail:Enabled=true",
                    "--HaKit:Arbiter:Ipfail:Interval=00:00:00.500",
                    "--HaKit:Arbiter:Ipfail:Rounds=3",
                ], net.NamespaceOf(node));
                nodes.Add(process);
                return process;
            }

            // a starts alone and takes web; b joins as standby; both fill their ipfail window (3 rounds of 500 ms) and announce a score.
            var a = Start("a");
            var listening = await a.WaitForLineAsync(l => l.IsHttpListening, StartTimeout, "a: http listening");
            var oldEpoch = listening.Epoch ?? throw new InvalidOperationException("no epoch in " + listening.Raw);
            var b = Start("b");
            await b.WaitForLineAsync(l => l.IsReady, StartTimeout, "b: ready");
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.That(a.Lines.Where(l => l.IsRole && l["to"] == "Stopping"), Is.Empty, "nothing moves while both reach the target");

            // Cut a's uplink: its ping target and its lan1 heartbeat link are gone, lan0 still carries heartbeats.
            NetNs.Ip("-n", net.NamespaceA, "link", "set", Uplink.Interface, "down");
            var cutAt = DateTime.UtcNow;
            var stopping = await a.WaitForLineAsync(l => l.IsRoleTo("Stopping"), MoveBound, "a: role web to=Stopping");
            var moved = await b.WaitForLineAsync(l => l.IsRoleTo("Active") && l.Epoch > oldEpoch, MoveBound, "b: role web to=Active with a newer epoch");
            await a.WaitForLineAsync(l => l.IsRoleTo("Standby"), MoveBound, "a: role web to=Standby");
            var tookMs = (moved.Timestamp.UtcDateTime - cutAt).TotalMilliseconds;
            await TestContext.Out.WriteLineAsync($"ipfail: a stopped {stopping.Raw}; b active {moved.Raw}; {tookMs:0} ms after the cut");

            Assert.That(moved["reason"], Is.EqualTo("handoff"), "the move is the graceful handoff, not a failover");
            Assert.That(b.Lines.Where(l => l.IsPeer && l["node"] == "a" && l["health"] == "Dead"), Is.Empty, "a stays alive on lan0");
            Assert.That(a.Stderr, Does.Contain($"ipfail: this node reaches 0 of 1 ping targets").And.Contain($"lost: icmp {uplink.HostAddress}"),
                "a's role change names the lost target");
            Assert.That(a.Stderr, Does.Contain($"ipfail: moving group web to b"));
            Assert.That(a.Lines.Count(l => l.IsRoleTo("Starting")), Is.EqualTo(1), "a does not take the group back");
            passed = true;
        }
        finally
        {
            if (!passed)
            {
                foreach (var n in nodes)
                {
                    await TestContext.Out.WriteLineAsync(n.Transcript());
                }
            }

            await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
            uplink.Dispose();
            net.Dispose();
            Directory.Delete(stateDirectory, recursive: true);
        }
    }

    /// <summary>The second network: a bridge in the test's namespace (its address is the ping target) and an interface <see cref="Interface"/> in each node's namespace.</summary>
    private sealed class Uplink : IDisposable
    {
        public const string Interface = "up0";

        private Uplink(string suffix, string subnet)
        {
            Bridge = $"hku{suffix}";
            VethA = $"hku{suffix}a";
            VethB = $"hku{suffix}b";
            AddressA = $"10.215.{subnet}.1";
            AddressB = $"10.215.{subnet}.2";
            HostAddress = $"10.215.{subnet}.254";
        }

        public string Bridge { get; }

        public string VethA { get; }

        public string VethB { get; }

        public string AddressA { get; }

        public string AddressB { get; }

        public string HostAddress { get; }

        public static Uplink Create(NamespaceBridge net)
        {
            var up = new Uplink(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)), RandomNumberGenerator.GetInt32(1, 255).ToString(CultureInfo.InvariantCulture));
            try
            {
                NetNs.Ip("link", "add", up.Bridge, "type", "bridge");
                NetNs.Ip("addr", "add", $"{up.HostAddress}/24", "dev", up.Bridge);
                NetNs.Ip("link", "set", up.Bridge, "up");
                foreach (var (ns, veth, address) in new[] { (net.NamespaceA, up.VethA, up.AddressA), (net.NamespaceB, up.VethB, up.AddressB) })
                {
                    NetNs.Ip("link", "add", veth, "type", "veth", "peer", "name", Interface, "netns", ns);
                    NetNs.Ip("link", "set", veth, "master", up.Bridge, "up");
                    NetNs.Ip("-n", ns, "addr", "add", $"{address}/24", "dev", Interface);
                    NetNs.Ip("-n", ns, "link", "set", Interface, "up");
                }

                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
                while (!new[] { net.NamespaceA, net.NamespaceB }.All(ns => NetNs.Ip("-n", ns, "link", "show", Interface).Contains("LOWER_UP", StringComparison.Ordinal)))
                {
                    if (DateTime.UtcNow > deadline)
                    {
                        throw new TimeoutException("the uplink veth links did not come up within 5 s");
                    }

                    Thread.Sleep(20);
                }

                return up;
            }
            catch
            {
                up.Dispose();
                throw;
            }
        }

        /// <summary>Deletes the bridge-side veth ends and the bridge (the namespace ends go with the namespaces). Idempotent.</summary>
        public void Dispose()
        {
            foreach (var dev in new[] { VethA, VethB, Bridge })
            {
                if (Directory.Exists($"/sys/class/net/{dev}"))
                {
                    try
                    {
                        NetNs.Ip("link", "del", dev);
                    }
                    catch (InvalidOperationException ex) when (ex.Message.Contains("Cannot find device", StringComparison.Ordinal))
                    {
                    }
                }
            }
        }
    }
}
