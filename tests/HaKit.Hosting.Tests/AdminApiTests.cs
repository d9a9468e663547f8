using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using HaKit.Admin;
using HaKit.Admin.V1;
using HaKit.Hosting.Admin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace HaKit.Hosting.Tests;

/// <summary>
/// The admin API served by every host: real hosts (two nodes on loopback UDP), the generated client over the node's Unix socket
/// (<see cref="AdminChannel"/>), and the optional mutual-TLS TCP endpoint.
/// </summary>
[TestFixture]
[NonParallelizable]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public partial class AdminApiTests : HostFixture
{
    private readonly List<GrpcChannel> _channels = [];

    protected override string StatePrefix => "hakit-admin-";

    [TearDown]
    public void DisposeChannels()
    {
        _channels.ForEach(c => c.Dispose());
        _channels.Clear();
    }

    private static CallOptions Bounded => new(deadline: DateTime.UtcNow + TestHosts.Bound);

    private IHost Host(Dictionary<string, string?> config, Recorder recorder, string node, LogSink? logs = null)
    {
        var host = TestHosts.Build(config, b => b.AddResource("web", _ => recorder.Resource(node)), logs: logs);
        Hosts.Add(host);
        return host;
    }

    private ClusterAdmin.ClusterAdminClient Client(IHost host, AdminClientCredentials? tls = null, string? endpoint = null)
    {
        var channel = AdminChannel.Create(endpoint ?? host.Services.GetRequiredService<IHaKitAdminEndpoint>().Endpoint!, tls);
        _channels.Add(channel);
        return new ClusterAdmin.ClusterAdminClient(channel);
    }

    private static GroupStatusView Web(IHost host) => host.Services.GetRequiredService<ClusterNode>().GetStatus().Groups.Single(g => g.Group == "web");

    /// <summary>Nodes a and b started, a running web (its preferred node), b standing by.</summary>
    private async Task<(IHost A, IHost B, Recorder Recorder)> Pair(Action<Dictionary<string, string?>>? changeA = null, LogSink? logsA = null,
        Action<Dictionary<string, string?>>? changeBoth = null)
    {
        var ports = TestHosts.FreeUdpPorts(2);
        var recorder = new Recorder();
        var configA = TestHosts.Config("a", ports, StateDir);
        var configB = TestHosts.Config("b", ports, StateDir);
        changeA?.Invoke(configA);
        changeBoth?.Invoke(configA);
        changeBoth?.Invoke(configB);
        var a = Host(configA, recorder, "a", logsA);
        var b = Host(configB, recorder, "b");
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        await TestHosts.WaitFor(() => Web(a).Role == GroupRole.Active && Web(b).Owner == "a" && recorder.Running == 1, "a runs web and b sees it");
        return (a, b, recorder);
    }

    [Test]
    public async Task Status_over_the_socket_fills_every_field()
    {
        var (a, _, _) = await Pair();

        var status = await Client(a).GetStatusAsync(new StatusRequest(), Bounded);

        var node = a.Services.GetRequiredService<ClusterNode>();
        Assert.That(status.Node, Is.EqualTo("a"));
        Assert.That(status.Cluster, Is.EqualTo("hosting-test"));
        Assert.That(status.Incarnation, Is.EqualTo(node.Incarnation).And.GreaterThan(0UL));
        Assert.That(status.Standby, Is.False);
        var web = status.Groups.Single();
        Assert.That((web.Name, web.Role, web.Owner, web.PreferredNode, web.Eligible), Is.EqualTo(("web", Role.Active, "a", "a", true)));
        Assert.That(web.Epoch, Is.GreaterThan(0UL));
        var peer = status.Peers.Single();
        Assert.That((peer.Name, peer.Health), Is.EqualTo(("b", Health.Alive)));
        Assert.That(peer.Links.Select(l => (l.Name, l.Health)), Is.EqualTo(new[] { ("lan0", Health.Alive) }));
        Assert.That(peer.Incarnation, Is.GreaterThan(0UL));
        Assert.That(status.Arbiter.Mode, Is.EqualTo("TwoNode"));
        Assert.That(status.Budget.WorstCaseDetectionMs, Is.EqualTo((uint)Math.Round(node.Budget.WorstCaseDetection.TotalMilliseconds)).And.GreaterThan(0u));
        Assert.That(status.Budget.Summary, Is.EqualTo(node.Budget.ToString()));
        Assert.That(status.Version, Is.Not.Empty);
    }

    [Test]
    public async Task The_socket_is_mode_0600_named_by_the_endpoint_and_removed_at_stop()
    {
        var (a, _, _) = await Pair();
        var path = Path.Combine(StateDir, "a.admin.sock");

        Assert.That(a.Services.GetRequiredService<IHaKitAdminEndpoint>().Endpoint, Is.EqualTo("unix:" + path));
        Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        Assert.That(a.Services.GetRequiredService<IHaKitAdminEndpoint>().TcpEndpoint, Is.Null, "nothing listens on a network address unless configured");

        using var cts = new CancellationTokenSource(TestHosts.Bound);
        await a.StopAsync(cts.Token);
        Assert.That(File.Exists(path), Is.False, "the socket file is removed at stop");
        Assert.That(a.Services.GetRequiredService<IHaKitAdminEndpoint>().Endpoint, Is.Null);
    }

    [Test]
    public async Task A_stale_socket_from_a_crashed_run_is_replaced()
    {
        var path = Path.Combine(StateDir, "a.admin.sock");
        using (var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            // A socket file nobody serves, as a crash leaves it (.NET unlinks the path it bound at dispose: bind elsewhere, then move).
            stale.Bind(new UnixDomainSocketEndPoint(path + ".tmp"));
            File.Move(path + ".tmp", path);
        }

        Assert.That(File.Exists(path), Is.True);
        var (a, _, _) = await Pair();

        var status = await Client(a).GetStatusAsync(new StatusRequest(), Bounded);
        Assert.That(status.Node, Is.EqualTo("a"));
    }

    [Test]
    public async Task A_socket_served_by_another_process_or_in_a_directory_others_can_write_is_refused()
    {
        var ports = TestHosts.FreeUdpPorts(2);
        var open = Path.Combine(StateDir, "open");
        Directory.CreateDirectory(open);
        File.SetUnixFileMode(open, (UnixFileMode)0x1FF); // 0777
        var config = TestHosts.Config("a", ports, StateDir);
        config["HaKit:Admin:SocketPath"] = Path.Combine(open, "a.admin.sock");
        var recorder = new Recorder();
        var host = Host(config, recorder, "a");

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.That(ex!.Message, Does.Contain($"HaKit:Admin:SocketPath = {Path.Combine(open, "a.admin.sock")}: the admin socket is refused: its directory {open} is writable by other users (mode 777)"));
        Assert.That(ex.Message, Does.Contain("chmod go-w"));
        Assert.That(recorder.Log, Is.Empty, "the node did not start");

        // A socket someone serves (a second node with the same name and state directory) is not taken over either.
        var path = Path.Combine(StateDir, "a.admin.sock");
        using var live = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        live.Bind(new UnixDomainSocketEndPoint(path));
        live.Listen();
        var second = Host(TestHosts.Config("a", ports, StateDir), recorder, "a");
        ex = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());
        Assert.That(ex!.Message, Does.Contain("another process serves this socket"));
    }

    [Test]
    public async Task Switchover_sent_to_the_standby_is_forwarded_to_the_owner_and_moves_the_group()
    {
        var (a, b, recorder) = await Pair();

        var reply = await Client(b).SwitchoverAsync(new SwitchoverRequest { Group = "web" }, Bounded);

        Assert.That(reply.Accepted, Is.True, reply.Message);
        Assert.That(reply.HandledBy, Is.EqualTo("a"), "the owner decided");
        Assert.That(reply.Message, Is.EqualTo("group web: stopping here, then starting on b"), "the owner's core's words");
        await TestHosts.WaitFor(() => Web(b).Role == GroupRole.Active && recorder.Running == 1, "b runs web");
        Assert.That(recorder.MaxRunning, Is.EqualTo(1), "never two owners");

        var refused = await Client(b).SwitchoverAsync(new SwitchoverRequest { Group = "web", Target = "zz" }, Bounded);
        Assert.That(refused.Accepted, Is.False);
        Assert.That(refused.Message, Is.EqualTo("unknown node 'zz'"), "the core's reason");
        Assert.That(refused.HandledBy, Is.EqualTo("b"));
    }

    [Test]
    public async Task Takeover_asked_on_the_standby_moves_the_group_there()
    {
        var (a, b, recorder) = await Pair();

        var reply = await Client(b).TakeoverAsync(new TakeoverRequest { Group = "web" }, Bounded);

        Assert.That(reply.Accepted, Is.True, reply.Message);
        Assert.That(reply.HandledBy, Is.EqualTo("a"));
        await TestHosts.WaitFor(() => Web(b).Role == GroupRole.Active && recorder.Running == 1, "b runs web");
        Assert.That(recorder.MaxRunning, Is.EqualTo(1), "never two owners");

        var again = await Client(b).TakeoverAsync(new TakeoverRequest { Group = "web" }, Bounded);
        Assert.That((again.Accepted, again.Message), Is.EqualTo((false, "group web already runs on b: nothing to take over")));
        var unknown = await Client(a).TakeoverAsync(new TakeoverRequest { Group = "db" }, Bounded);
        Assert.That((unknown.Accepted, unknown.Message), Is.EqualTo((false, "unknown group 'db'")));
    }

    [Test]
    public async Task Takeover_from_an_unreachable_owner_is_refused_until_it_is_confirmed_down()
    {
        var (a, b, recorder) = await Pair();
        var admin = Client(b);
        // Maintenance on b keeps it from taking web over by itself when a falls silent (so the refusal can be seen).
        var maintenance = await admin.SetMaintenanceAsync(new SetMaintenanceRequest { Group = "web", Maintenance = true }, Bounded);
        Assert.That(maintenance.Accepted, Is.True, maintenance.Message);
        await a.Services.GetRequiredService<ClusterNode>().AbortAsync();
        await TestHosts.WaitFor(() => b.Services.GetRequiredService<ClusterNode>().GetStatus().Peers.Single().Health == PeerHealth.Dead, "b sees a dead");

        var refused = await admin.TakeoverAsync(new TakeoverRequest { Group = "web" }, Bounded);

        Assert.That(refused.Accepted, Is.False);
        Assert.That(refused.Message, Is.EqualTo("group web: owner a is unreachable (Dead); confirm it down with `hakit confirm-down a` if it is, then b starts the group itself"));
        var confirmed = await admin.ConfirmDownAsync(new ConfirmDownRequest { Node = "a" }, Bounded);
        Assert.That((confirmed.Accepted, confirmed.Message), Is.EqualTo((true, "node a treated as fenced until it restarts")));
        var off = await admin.SetMaintenanceAsync(new SetMaintenanceRequest { Group = "web", Maintenance = false }, Bounded);
        Assert.That(off.Accepted, Is.True, off.Message);
        await TestHosts.WaitFor(() => Web(b).Role == GroupRole.Active, "b starts web itself");
        var unknown = await admin.ConfirmDownAsync(new ConfirmDownRequest { Node = "zz" }, Bounded);
        Assert.That((unknown.Accepted, unknown.Message), Is.EqualTo((false, "unknown node 'zz'")));
    }

    [Test]
    public async Task A_forced_takeover_lets_a_node_whose_data_is_behind_start_the_group_once()
    {
        var ports = TestHosts.FreeUdpPorts(2);
        var recorder = new Recorder();
        var behind = new BehindResource();
        IHost Build(string node)
        {
            var host = TestHosts.Build(TestHosts.Config(node, ports, StateDir), r =>
            {
                r.AddResource("web", _ => node == "b" ? behind : new BehindResource { IsBehind = false });
                r.AddResource("web", _ => recorder.Resource(node));
            });
            Hosts.Add(host);
            return host;
        }

        var a = Build("a");
        var b = Build("b");
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        await TestHosts.WaitFor(() => Web(a).Role == GroupRole.Active && Web(b).Owner == "a" && recorder.Running == 1, "a runs web and b sees it");

        await a.Services.GetRequiredService<ClusterNode>().AbortAsync();
        await TestHosts.WaitFor(() => behind.Refusals > 0, "b tries to start web and its data refuses");
        await Task.Delay(500);
        Assert.That(Web(b).Role, Is.Not.EqualTo(GroupRole.Active), "a node whose data is behind does not start the group by itself");

        var reply = await Client(b).TakeoverAsync(new TakeoverRequest { Group = "web", Force = true }, Bounded);

        Assert.That(reply.Accepted, Is.True, reply.Message);
        Assert.That(reply.Message, Does.Contain("forced: 1 resource(s) of web"));
        Assert.That(behind.ForcedBy, Does.Contain("hakit takeover web --force by"));
        await TestHosts.WaitFor(() => Web(b).Role == GroupRole.Active, "b starts web once forced");
        Assert.That(behind.Refusals, Is.EqualTo(1), "the forced start passed the refusal");
    }

    /// <summary>A resource whose node's data is behind: it refuses to start (PermanentOnNode) unless forced once.</summary>
    private sealed class BehindResource : IForcibleResource
    {
        private volatile string? _force;

        public bool IsBehind { get; init; } = true;

        public int Refusals;

        public string? ForcedBy { get; private set; }

        public string Name => "data";

        public bool DiesWithProcess => true;

        public void AllowForcedStart(string reason) => ForcedBy = _force = reason;

        public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
        {
            if (IsBehind && Interlocked.Exchange(ref _force, null) is null)
            {
                Interlocked.Increment(ref Refusals);
                return ValueTask.FromResult(ResourceResult.PermanentOnNode("this node's data is behind"));
            }

            return ValueTask.FromResult(ResourceResult.Success);
        }

        public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(ResourceResult.Success);

        public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
            ValueTask.FromResult(MonitorResult.Running);
    }

    [Test]
    public async Task A_forwarded_takeover_the_owner_never_answers_is_refused_after_a_bounded_wait()
    {
        // A dead time long enough that b still believes a alive when it forwards the request (3 s; the wait is then 2 x 3 s).
        var (a, b, _) = await Pair(changeBoth: c =>
        {
            c["HaKit:Timing:DeadTime"] = "00:00:03";
            c["HaKit:Timing:InitialDeadTime"] = "00:00:03";
        });
        var admin = Client(b);
        await a.Services.GetRequiredService<ClusterNode>().AbortAsync(); // silent from now on

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var refused = await admin.TakeoverAsync(new TakeoverRequest { Group = "web" }, Bounded);

        Assert.That(refused.Accepted, Is.False);
        Assert.That(refused.Message, Is.EqualTo("group web: the owner a did not answer the takeover within 6000 ms (it may be unreachable or busy); nothing was changed here"));
        Assert.That(refused.HandledBy, Is.EqualTo("b"));
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(5900)).And.LessThan(TestHosts.Bound), "max(2 x dead time, 2 s)");
    }

    [Test]
    public async Task Standby_maintenance_and_cleanup_run_on_the_node_asked()
    {
        var (a, b, recorder) = await Pair();
        var admin = Client(a);

        var maintenance = await admin.SetMaintenanceAsync(new SetMaintenanceRequest { Group = "web", Maintenance = true }, Bounded);
        Assert.That((maintenance.Accepted, maintenance.HandledBy), Is.EqualTo((true, "a")));
        Assert.That((await admin.GetStatusAsync(new StatusRequest(), Bounded)).Groups.Single().Maintenance, Is.True);
        var refused = await admin.SwitchoverAsync(new SwitchoverRequest { Group = "web" }, Bounded);
        Assert.That(refused.Accepted, Is.False);
        Assert.That(refused.Message, Does.StartWith("group web is in maintenance on a"), "the core's reason");
        Assert.That((await admin.SetMaintenanceAsync(new SetMaintenanceRequest { Group = "web", Maintenance = false }, Bounded)).Accepted, Is.True);

        var cleanup = await admin.CleanupAsync(new CleanupRequest { Group = "web" }, Bounded);
        Assert.That((cleanup.Accepted, cleanup.Message), Is.EqualTo((true, "group web: failures cleared")));

        var standby = await admin.SetStandbyAsync(new SetStandbyRequest { Standby = true }, Bounded);
        Assert.That((standby.Accepted, standby.Message), Is.EqualTo((true, "node a in standby: releasing every group")));
        await TestHosts.WaitFor(() => Web(b).Role == GroupRole.Active && recorder.Running == 1, "standby empties a: b runs web");
        Assert.That((await admin.GetStatusAsync(new StatusRequest(), Bounded)).Standby, Is.True);
        Assert.That(recorder.MaxRunning, Is.EqualTo(1));
        Assert.That((await admin.SetStandbyAsync(new SetStandbyRequest { Standby = false }, Bounded)).Accepted, Is.True);
    }

    [Test]
    public async Task No_sequence_of_commands_on_either_node_leaves_two_owners()
    {
        var (a, b, recorder) = await Pair();
        var clients = new[] { Client(a), Client(b) };
        var random = new Random(10);
        for (var i = 0; i < 16; i++)
        {
            var client = clients[random.Next(2)];
            CommandReply reply = random.Next(5) switch
            {
                0 => await client.SwitchoverAsync(new SwitchoverRequest { Group = "web" }, Bounded),
                1 => await client.TakeoverAsync(new TakeoverRequest { Group = "web" }, Bounded),
                2 => await client.SetStandbyAsync(new SetStandbyRequest { Standby = random.Next(2) == 0 }, Bounded),
                3 => await client.SwitchoverAsync(new SwitchoverRequest { Group = "web", Target = random.Next(2) == 0 ? "a" : "b" }, Bounded),
                _ => await client.CleanupAsync(new CleanupRequest { Group = "web" }, Bounded),
            };
            Assert.That(reply.Message, Is.Not.Empty, "every answer says what happens or why not");
            await Task.Delay(random.Next(0, 150));
            Assert.That(recorder.MaxRunning, Is.LessThanOrEqualTo(1), $"two owners after command {i}: {string.Join(" | ", recorder.Log)}");
        }

        foreach (var client in clients)
        {
            await client.SetStandbyAsync(new SetStandbyRequest { Standby = false }, Bounded);
        }

        await TestHosts.WaitFor(() => recorder.Running == 1 && (Web(a).Role == GroupRole.Active) != (Web(b).Role == GroupRole.Active), "exactly one node runs web at the end");
        Assert.That(recorder.MaxRunning, Is.EqualTo(1), string.Join(" | ", recorder.Log));
    }

    [Test]
    public async Task The_TCP_endpoint_accepts_only_clients_with_a_good_certificate()
    {
        var dir = Path.Combine(StateDir, "tls");
        Directory.CreateDirectory(dir);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=hakit test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        string Write(string name, string pem)
        {
            var file = Path.Combine(dir, name);
            File.WriteAllText(file, pem);
            return file;
        }

        (string Cert, string Key, X509Certificate2 Certificate) Issue(string name, bool server, X509Certificate2? issuer)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
            if (server)
            {
                var san = new SubjectAlternativeNameBuilder();
                san.AddIpAddress(IPAddress.Loopback);
                request.CertificateExtensions.Add(san.Build());
            }

            var certificate = issuer is null
                ? request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1))
                // Not after the issuer's own end: certificates keep whole seconds, so "now + 1 h" a moment later can pass it.
                : request.Create(issuer, DateTimeOffset.UtcNow.AddMinutes(-5), new DateTimeOffset(issuer.NotAfter.ToUniversalTime()), RandomNumberGenerator.GetBytes(8));
            return (Write(name + ".pem", certificate.ExportCertificatePem()), Write(name + ".key", key.ExportPkcs8PrivateKeyPem()), certificate);
        }

        var caFile = Write("ca.pem", ca.ExportCertificatePem());
        var serverCert = Issue("server", true, ca);
        var goodClient = Issue("operator", false, ca);
        var pinnedClient = Issue("pinned", false, null);
        var strangerClient = Issue("stranger", false, null);
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var config = TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir);
        config["HaKit:Admin:Tcp:Endpoint"] = $"127.0.0.1:{port}";
        config["HaKit:Admin:Tcp:CertificateFile"] = serverCert.Cert;
        config["HaKit:Admin:Tcp:KeyFile"] = serverCert.Key;
        config["HaKit:Admin:Tcp:ClientCaFile"] = caFile;
        config["HaKit:Admin:Tcp:ClientThumbprints:0"] = AdminCertificates.Sha256Thumbprint(pinnedClient.Certificate);
        var host = Host(config, new Recorder(), "a");
        await host.StartAsync();
        var endpoint = $"https://127.0.0.1:{port}";
        Assert.That(host.Services.GetRequiredService<IHaKitAdminEndpoint>().TcpEndpoint, Is.EqualTo(endpoint));

        // No client certificate: refused.
        using (var handler = new SocketsHttpHandler { SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true } })
        using (var anonymous = GrpcChannel.ForAddress(endpoint, new GrpcChannelOptions { HttpHandler = handler }))
        {
            await Assert.ThrowsAsync<RpcException>(async () => await new ClusterAdmin.ClusterAdminClient(anonymous).GetStatusAsync(new StatusRequest(), Bounded));
        }

        // A certificate neither issued by the CA nor pinned: refused.
        var stranger = Client(host, new AdminClientCredentials { CertificateFile = strangerClient.Cert, KeyFile = strangerClient.Key, ServerCaFile = caFile }, endpoint);
        await Assert.ThrowsAsync<RpcException>(async () => await stranger.GetStatusAsync(new StatusRequest(), Bounded));

        // Issued by the CA, or pinned by thumbprint: served.
        var good = Client(host, new AdminClientCredentials { CertificateFile = goodClient.Cert, KeyFile = goodClient.Key, ServerCaFile = caFile }, endpoint);
        Assert.That((await good.GetStatusAsync(new StatusRequest(), Bounded)).Node, Is.EqualTo("a"));
        var pinned = Client(host, new AdminClientCredentials
        {
            CertificateFile = pinnedClient.Cert,
            KeyFile = pinnedClient.Key,
            ServerThumbprints = [AdminCertificates.Sha256Thumbprint(serverCert.Certificate)],
        }, endpoint);
        Assert.That((await pinned.GetStatusAsync(new StatusRequest(), Bounded)).Node, Is.EqualTo("a"));

        // The client checks the server too: a server certificate the client does not trust is refused.
        var distrustful = Client(host, new AdminClientCredentials { CertificateFile = goodClient.Cert, KeyFile = goodClient.Key, ServerThumbprints = [new string('A', 64)] }, endpoint);
        await Assert.ThrowsAsync<RpcException>(async () => await distrustful.GetStatusAsync(new StatusRequest(), Bounded));
    }

    [Test]
    public void TCP_settings_are_validated_at_start_with_key_value_and_fix()
    {
        var options = new HaKitOptions();
        options.Admin.Tcp.Endpoint = "somewhere";
        options.Admin.Tcp.ClientThumbprints = ["abc"];
        options.Admin.SocketPath = "/" + new string('s', 120);
        var errors = HaKitOptionsValidator.Validate(options);

        Assert.That(errors, Does.Contain("HaKit:Admin:Tcp:Endpoint = 'somewhere': must be an IP address and a port, e.g. 10.0.0.5:9650 or [::]:9650"));
        Assert.That(errors, Has.Some.StartWith("HaKit:Admin:Tcp:CertificateFile = (empty): required with Endpoint"));
        Assert.That(errors, Has.Some.StartWith("HaKit:Admin:Tcp:ClientThumbprints:0 = 'abc': must be a SHA-256 thumbprint"));
        Assert.That(errors.Where(e => e.Contains("SocketPath", StringComparison.Ordinal)), Is.Empty, "a ClusterNode on its own serves no socket");
        Assert.That(options.Admin.SocketPathProblem(options), Does.StartWith($"HaKit:Admin:SocketPath = '/{new string('s', 120)}': a Unix socket path holds at most 107 bytes"));
    }

    [Test]
    public async Task A_socket_path_too_long_for_a_Unix_socket_stops_the_host_naming_the_key()
    {
        var config = TestHosts.Config("a", TestHosts.FreeUdpPorts(2), StateDir);
        config["HaKit:Admin:SocketPath"] = Path.Combine(StateDir, new string('s', 110) + ".sock");
        var recorder = new Recorder();
        var host = Host(config, recorder, "a");

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.That(ex!.Message, Does.Contain($"HaKit:Admin:SocketPath = '{config["HaKit:Admin:SocketPath"]}': a Unix socket path holds at most 107 bytes"));
        Assert.That(recorder.Log, Is.Empty);
    }
}
