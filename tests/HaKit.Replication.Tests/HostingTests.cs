using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace HaKit.Replication.Tests;

/// <summary><c>AddHaKit().UseReplication(...)</c>: HaKit:Replication bound and validated at start-up (key, value, fix), the logs
/// opened before the node starts, a pair of in-process hosts replicating a key-value store.</summary>
[TestFixture]
[NonParallelizable]
public sealed class HostingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private string _root = "";

    [SetUp]
    public void SetUp() => _root = Directory.CreateTempSubdirectory("hakit-repl-hosting-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private static int[] FreePorts(SocketType type, ProtocolType protocol, int count)
    {
        var sockets = Enumerable.Range(0, count).Select(_ =>
        {
            var s = new Socket(AddressFamily.InterNetwork, type, protocol);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return s;
        }).ToList();
        var ports = sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToArray();
        sockets.ForEach(s => s.Dispose());
        return ports;
    }

    private Dictionary<string, string?> Config(string node, int[] udp, int[] tcp) => new()
    {
        ["HaKit:ClusterName"] = "replication-hosting-test",
        ["HaKit:NodeName"] = node,
        ["HaKit:Nodes:0:Name"] = "a",
        ["HaKit:Nodes:0:Addresses:lan0"] = $"127.0.0.1:{udp[0]}",
        ["HaKit:Nodes:1:Name"] = "b",
        ["HaKit:Nodes:1:Addresses:lan0"] = $"127.0.0.1:{udp[1]}",
        ["HaKit:Links:0:Name"] = "lan0",
        ["HaKit:Auth:Keys:0:Id"] = "1",
        ["HaKit:Auth:Keys:0:Secret"] = "VVpl2j8xBEY2MHfgvAVeZimCwi5gH5A1pglA6JNk4dg=",
        ["HaKit:Auth:SendKeyId"] = "1",
        ["HaKit:Timing:Interval"] = "00:00:00.100",
        ["HaKit:Timing:WarnTime"] = "00:00:00.300",
        ["HaKit:Timing:DeadTime"] = "00:00:01",
        ["HaKit:Timing:InitialDeadTime"] = "00:00:03",
        ["HaKit:Groups:0:Name"] = "kv",
        ["HaKit:Groups:0:PreferredNode"] = "a",
        ["HaKit:Groups:0:Resources:0"] = "replication",
        ["HaKit:Groups:0:StartTimeout"] = "00:00:05",
        ["HaKit:Groups:0:StopTimeout"] = "00:00:05",
        ["HaKit:StateDirectory"] = Path.Combine(_root, node),
        ["HaKit:Replication:Addresses:a"] = $"127.0.0.1:{tcp[0]}",
        ["HaKit:Replication:Addresses:b"] = $"127.0.0.1:{tcp[1]}",
        ["HaKit:Replication:Tls:AllowPlaintext"] = "true",
        ["HaKit:Replication:Groups:kv:Mode"] = "Durable",
    };

    /// <summary>A node's host with a replicated key-value store for each of <paramref name="groups"/> (default: kv).</summary>
    private static IHost Build(Dictionary<string, string?> config, params string[] groups)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(config);
        builder.Logging.AddFilter(_ => false);
        builder.Services.AddHaKit().UseReplication(r =>
        {
            foreach (var group in groups.Length == 0 ? ["kv"] : groups)
            {
                r.AddKvStore(group);
            }
        });
        return builder.Build();
    }

    private async Task<IReadOnlyList<string>> StartFailures(Action<Dictionary<string, string?>> change)
    {
        var config = Config("a", FreePorts(SocketType.Dgram, ProtocolType.Udp, 2), FreePorts(SocketType.Stream, ProtocolType.Tcp, 2));
        change(config);
        using var host = Build(config);
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        return ex!.Failures.ToList();
    }

    [Test]
    public async Task An_invalid_mode_is_refused_at_start_up_naming_the_key_the_value_and_the_choices()
    {
        var failures = await StartFailures(c => c["HaKit:Replication:Groups:kv:Mode"] = "Fast");
        Assert.That(failures, Has.Some.EqualTo("HaKit:Replication:Groups:kv:Mode = 'Fast': expects one of: Async, Received, Durable"));
    }

    [Test]
    public async Task An_invalid_protocol_is_refused_at_start_up_naming_the_key_the_value_and_the_choices()
    {
        var failures = await StartFailures(c => c["HaKit:Replication:Protocol"] = "Http2");
        Assert.That(failures, Has.Some.EqualTo("HaKit:Replication:Protocol = 'Http2': expects one of: Tcp, Grpc"));
    }

    [Test]
    public async Task An_unknown_key_a_group_without_registration_and_a_bad_duration_are_refused()
    {
        var failures = await StartFailures(c =>
        {
            c["HaKit:Replication:Groups:kv:Modes"] = "Async";
            c["HaKit:Replication:Groups:kv:DegradeAfter"] = "-00:00:01";
            c["HaKit:Replication:Groups:kv:ReceivedFlushInterval"] = "00:00:02";
            c["HaKit:Replication:Groups:orders:Mode"] = "Async";
        });
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Groups:kv:Modes = 'Async': unknown setting"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Groups:kv:DegradeAfter = '-00:00:01': out of range; use a positive duration"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Groups:kv:ReceivedFlushInterval = '00:00:02': out of range; use a duration from 00:00:00"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Groups:orders = (a section): no replicated group orders is registered; call AddGroup(\"orders\""));
    }

    [Test]
    public async Task A_drain_timeout_not_below_the_groups_stop_timeout_is_refused()
    {
        var failures = await StartFailures(c => c["HaKit:Replication:Groups:kv:DrainTimeout"] = "00:00:05");
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Groups:kv:DrainTimeout = '00:00:05': not below the group's StopTimeout (00:00:05)"));
    }

    [Test]
    public async Task Addresses_must_name_this_node_and_one_peer_of_the_cluster()
    {
        var failures = await StartFailures(c =>
        {
            c.Remove("HaKit:Replication:Addresses:a");
            c["HaKit:Replication:Addresses:c"] = "127.0.0.1:notaport";
        });
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Addresses:a = (none): this node has no replication address; add it"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Addresses:c = '127.0.0.1:notaport': not ip:port"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Addresses = 'b, c': a pair replicates"));

        failures = await StartFailures(c => c.Remove("HaKit:Replication:Addresses:b"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Addresses = 'a': a pair replicates"));
    }

    [Test]
    public async Task The_stream_uses_TLS_unless_plaintext_is_allowed_and_only_on_loopback()
    {
        var failures = await StartFailures(c => c.Remove("HaKit:Replication:Tls:AllowPlaintext"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Tls:CertificateFile = '': the replication stream uses TLS: set the node's certificate (PEM file) and KeyFile"));
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Tls:TrustedCaFile = '': set a CA bundle"));

        failures = await StartFailures(c => c["HaKit:Replication:Addresses:b"] = "10.1.2.3:7511");
        Assert.That(failures, Has.Some.StartsWith("HaKit:Replication:Tls:AllowPlaintext = True: the replication address 10.1.2.3:7511 is not a loopback address"));
    }

    [TestCase("Tcp")]
    [TestCase("Grpc")]
    public async Task Two_hosts_replicate_the_kv_store_configured_from_HaKit_Replication(string protocol)
    {
        var udp = FreePorts(SocketType.Dgram, ProtocolType.Udp, 2);
        var tcp = FreePorts(SocketType.Stream, ProtocolType.Tcp, 2);
        Dictionary<string, string?> Configured(string node)
        {
            var config = Config(node, udp, tcp);
            config["HaKit:Replication:Protocol"] = protocol;
            return config;
        }

        var a = Build(Configured("a"));
        var b = Build(Configured("b"));
        using var timeout = new CancellationTokenSource(Bound);
        try
        {
            // Before the host starts the store exists (DI) but its log is not open.
            var storeA = a.Services.GetRequiredKeyedService<ReplicatedKvStore>("kv");
            var storeB = b.Services.GetRequiredKeyedService<ReplicatedKvStore>("kv");
            Assert.Throws<InvalidOperationException>(() => _ = storeA.Log);

            await Task.WhenAll(a.StartAsync(timeout.Token), b.StartAsync(timeout.Token));
            Assert.That(a.Services.GetRequiredService<IOptions<ReplicationHostOptions>>().Value.Protocol, Is.EqualTo(Enum.Parse<ReplicationProtocol>(protocol)));
            Assert.That(storeA.Log.Status.Mode, Is.EqualTo(ReplicationMode.Durable));
            Assert.That(a.Services.GetRequiredService<ReplicatedGroups>().GetLog("kv"), Is.SameAs(storeA.Log));
            Assert.That(Directory.Exists(Path.Combine(_root, "a", "a-replication", "kv")), Is.True, "default directory <StateDirectory>/<node>-replication/<group>");

            var owner = await WaitAsync(() => storeA.Log.Status.Role == ReplicaRole.Owner ? storeA : storeB.Log.Status.Role == ReplicaRole.Owner ? storeB : null, "an owner of group kv", timeout.Token);
            var standby = owner == storeA ? storeB : storeA;
            var position = await owner.PutAsync("k", Encoding.UTF8.GetBytes("v1"), timeout.Token);
            Assert.That(position.Index, Is.EqualTo(1));
            await WaitAsync(() => standby.TryGet("k", out var v) && Encoding.UTF8.GetString(v) == "v1" ? standby : null, "the standby applied k=v1", timeout.Token);

            // hakit status through each node's real admin socket: the Replication part (JSON and table).
            foreach (var (host, store) in new[] { (a, storeA), (b, storeB) })
            {
                var endpoint = host.Services.GetRequiredService<IHaKitAdminEndpoint>().Endpoint!;
                var isOwner = store == owner;
                await WaitAsync(() => store.Log.Status.Applied >= 1 && (!isOwner || store.Log.Status.PeerDurable >= 1) ? store : null, "positions settled", timeout.Token);
                var (code, output, error) = await HakitAsync("status", "--json", "--endpoint", endpoint);
                Assert.That(code, Is.Zero, error);
                var json = System.Text.Json.Nodes.JsonNode.Parse(output)!;
                var replication = json["replication"]!.AsArray();
                Assert.That(replication, Has.Count.EqualTo(1), output);
                var r = replication[0]!;
                Assert.That((string?)r["group"], Is.EqualTo("kv"));
                Assert.That((string?)r["role"], Is.EqualTo(isOwner ? "Owner" : "Standby"));
                Assert.That((string?)r["mode"], Is.EqualTo("Durable"));
                Assert.That((ulong?)r["lastAppended"], Is.EqualTo(1UL));
                Assert.That((ulong?)r["durable"], Is.EqualTo(1UL));
                Assert.That((ulong?)r["applied"], Is.EqualTo(1UL));
                Assert.That((bool?)r["peerConnected"], Is.True);
                Assert.That((ulong?)r["lagEntries"], Is.Zero);
                Assert.That((bool?)r["outdated"], Is.False);
                Assert.That((ulong?)r["resends"], Is.Zero, "the field is there; nothing was resent");
                if (isOwner)
                {
                    Assert.That((ulong?)r["peerDurable"], Is.EqualTo(1UL));
                    Assert.That((ulong?)r["acknowledged"], Is.EqualTo(1UL));
                }

                (code, output, error) = await HakitAsync("status", "--endpoint", endpoint);
                Assert.That(code, Is.Zero, error);
                Assert.That(output, Does.Contain("Replication").And.Contain(isOwner ? "Owner" : "Standby").And.Contain("Durable").And.Contain("connected"), output);
            }
        }
        finally
        {
            await Task.WhenAll(a.StopAsync(CancellationToken.None), b.StopAsync(CancellationToken.None));
            a.Dispose();
            b.Dispose();
        }
    }

    [Test]
    public async Task Mutual_standby_each_node_owns_its_preferred_group_and_is_the_standby_of_the_other()
    {
        var udp = FreePorts(SocketType.Dgram, ProtocolType.Udp, 2);
        var tcp = FreePorts(SocketType.Stream, ProtocolType.Tcp, 2);
        Dictionary<string, string?> Configured(string node)
        {
            // Group kv prefers a (Config), group orders prefers b: each node is active for its own group and the other's standby.
            var config = Config(node, udp, tcp);
            config["HaKit:Groups:1:Name"] = "orders";
            config["HaKit:Groups:1:PreferredNode"] = "b";
            config["HaKit:Groups:1:Resources:0"] = "replication";
            config["HaKit:Groups:1:StartTimeout"] = "00:00:05";
            config["HaKit:Groups:1:StopTimeout"] = "00:00:05";
            config["HaKit:Replication:Groups:orders:Mode"] = "Durable";
            return config;
        }

        var a = Build(Configured("a"), "kv", "orders");
        var b = Build(Configured("b"), "kv", "orders");
        using var timeout = new CancellationTokenSource(Bound);
        try
        {
            await Task.WhenAll(a.StartAsync(timeout.Token), b.StartAsync(timeout.Token));
            var kvA = a.Services.GetRequiredKeyedService<ReplicatedKvStore>("kv");
            var kvB = b.Services.GetRequiredKeyedService<ReplicatedKvStore>("kv");
            var ordersA = a.Services.GetRequiredKeyedService<ReplicatedKvStore>("orders");
            var ordersB = b.Services.GetRequiredKeyedService<ReplicatedKvStore>("orders");
            await WaitAsync(() => kvA.Log.Status.Role == ReplicaRole.Owner && ordersB.Log.Status.Role == ReplicaRole.Owner ? kvA : null,
                "a to own kv and b to own orders (their preferred nodes)", timeout.Token);

            // Writes in both directions at once, each acknowledged once durable on the other node.
            var writes = Enumerable.Range(0, 100).SelectMany(i => new[]
            {
                kvA.PutAsync($"k{i}", Encoding.UTF8.GetBytes($"a{i}"), timeout.Token),
                ordersB.PutAsync($"o{i}", Encoding.UTF8.GetBytes($"b{i}"), timeout.Token),
            });
            await Task.WhenAll(writes);
            await WaitAsync(() => kvB.TryGet("k99", out var k) && Encoding.UTF8.GetString(k) == "a99" && ordersA.TryGet("o99", out var o) && Encoding.UTF8.GetString(o) == "b99" ? kvB : null,
                "each standby to apply the other node's writes", timeout.Token);
            Assert.That((kvB.Count, ordersA.Count), Is.EqualTo((100, 100)));
            Assert.That(kvB.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
            Assert.That(ordersA.Log.Status.Role, Is.EqualTo(ReplicaRole.Standby));
            Assert.That(kvA.Log.Status.PeerDurable, Is.GreaterThanOrEqualTo(100));
            Assert.That(ordersB.Log.Status.PeerDurable, Is.GreaterThanOrEqualTo(100));
        }
        finally
        {
            await Task.WhenAll(a.StopAsync(CancellationToken.None), b.StopAsync(CancellationToken.None));
            a.Dispose();
            b.Dispose();
        }
    }

    private static async Task<(int Code, string Output, string Error)> HakitAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var bound = new CancellationTokenSource(Bound);
        var code = await HaKit.Cli.CliApp.RunAsync(args, new HaKit.Cli.CliConsole(output, error, Terminal: false), bound.Token);
        return (code, output.ToString(), error.ToString());
    }

    private static async Task<T> WaitAsync<T>(Func<T?> probe, string what, CancellationToken cancellationToken)
        where T : class
    {
        while (true)
        {
            if (probe() is { } value)
            {
                return value;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                Assert.Fail($"timed out waiting for {what}");
            }

            await Task.Delay(20, CancellationToken.None);
        }
    }
}
