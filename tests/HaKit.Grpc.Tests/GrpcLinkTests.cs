using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HaKit.Tests.Transport;
using HaKit.Transport;

namespace HaKit.Grpc.Tests;

/// <summary>Free loopback TCP ports (bound and released; the link binds them a moment later).</summary>
internal static class TcpPorts
{
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static (IPEndPoint A, IPEndPoint B) TwoFree()
    {
        using var a = new TcpListener(IPAddress.Loopback, 0);
        using var b = new TcpListener(IPAddress.Loopback, 0);
        a.Start();
        b.Start();
        return (new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)a.LocalEndpoint).Port), new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)b.LocalEndpoint).Port));
    }
}

/// <summary>A receiver that records crash hints too.</summary>
internal sealed class HintReceiver : IPacketReceiver
{
    public RecordingReceiver Packets { get; } = new();

    public ConcurrentQueue<(string Link, string Peer, string Evidence)> Hints { get; } = new();

    public void OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet) => Packets.OnPacketReceived(link, packet);

    public void OnTransportFault(IHeartbeatTransport link, Exception error) => Packets.OnTransportFault(link, error);

    public void OnPeerProcessGone(IHeartbeatTransport link, string peer, string evidence) => Hints.Enqueue((link.LinkName, peer, evidence));
}

[TestFixture]
public sealed class GrpcPlaintextConformanceTests : TransportConformanceTests
{
    protected override int MaxPacketSize => 65507;

    protected override bool ExactDelivery => false; // packets sent before the stream is up are queued, but a reconnect keeps only the newest

    protected override (IHeartbeatTransport A, IHeartbeatTransport B) CreatePair()
    {
        var (a, b) = TcpPorts.TwoFree();
        return (
            new GrpcLinkTransport("grpc0", a, [new GrpcPeer("b", b)], MaxPacketSize, GrpcLinkSecurity.Plaintext, TimeSpan.FromMilliseconds(100)),
            new GrpcLinkTransport("grpc0", b, [new GrpcPeer("a", a)], MaxPacketSize, GrpcLinkSecurity.Plaintext, TimeSpan.FromMilliseconds(100)));
    }
}

[TestFixture]
public sealed class GrpcMutualTlsConformanceTests : TransportConformanceTests
{
    private TestCertificates _certificates = null!;

    protected override int MaxPacketSize => 1400;

    protected override bool ExactDelivery => false;

    [OneTimeSetUp]
    public void CreateCertificates() => _certificates = new TestCertificates();

    [OneTimeTearDown]
    public void DeleteCertificates() => _certificates.Dispose();

    protected override (IHeartbeatTransport A, IHeartbeatTransport B) CreatePair()
    {
        var (a, b) = TcpPorts.TwoFree();
        return (
            new GrpcLinkTransport("grpc0", a, [new GrpcPeer("b", b)], MaxPacketSize, Security("a"), TimeSpan.FromMilliseconds(100)),
            new GrpcLinkTransport("grpc0", b, [new GrpcPeer("a", a)], MaxPacketSize, Security("b"), TimeSpan.FromMilliseconds(100)));
    }

    private GrpcLinkSecurity Security(string node)
    {
        var (certificate, key, _) = _certificates.Issue(node);
        return GrpcLinkSecurity.Load(new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = certificate, KeyFile = key, TrustedCaFile = _certificates.CaFile, RequireClientCertificate = true }, "HaKit:Links[0]");
    }
}

[TestFixture]
public sealed class GrpcLinkTests
{
    private static readonly TimeSpan WaitLimit = RecordingReceiver.WaitLimit;
    private readonly List<IAsyncDisposable> _owned = [];

    [TearDown]
    public async Task DisposeOwned()
    {
        foreach (var d in _owned)
        {
            await d.DisposeAsync().AsTask().WaitAsync(WaitLimit);
        }

        _owned.Clear();
    }

    private GrpcLinkTransport Link(IPEndPoint bind, string peer, IPEndPoint peerEndPoint, GrpcLinkSecurity? security = null)
    {
        var t = new GrpcLinkTransport("grpc0", bind, [new GrpcPeer(peer, peerEndPoint)], 1400, security ?? GrpcLinkSecurity.Plaintext, TimeSpan.FromMilliseconds(200));
        _owned.Add(t);
        return t;
    }

    private static async Task<HintReceiver> StartAsync(GrpcLinkTransport link)
    {
        var receiver = new HintReceiver();
        using var cts = new CancellationTokenSource(WaitLimit);
        await link.StartAsync(receiver, cts.Token);
        return receiver;
    }

    /// <summary>Links a (to b) and b (to a) on two free loopback ports, started, with a's stream to b up.</summary>
    private async Task<(GrpcLinkTransport A, GrpcLinkTransport B, HintReceiver Ra, HintReceiver Rb, System.Net.IPEndPoint Ea, System.Net.IPEndPoint Eb)> ConnectedPairAsync()
    {
        var (ea, eb) = TcpPorts.TwoFree();
        var a = Link(ea, "b", eb);
        var b = Link(eb, "a", ea);
        var ra = await StartAsync(a);
        var rb = await StartAsync(b);
        await ConnectedAsync(a, rb, 'A');
        return (a, b, ra, rb, ea, eb);
    }

    /// <summary>Sends from <paramref name="from"/> until <paramref name="to"/> got a packet: the stream is up.</summary>
    private static async Task ConnectedAsync(GrpcLinkTransport from, HintReceiver to, char sender)
    {
        using var limit = new CancellationTokenSource(WaitLimit);
        for (var i = 0; to.Packets.Packets.All(p => Payloads.Sender(p) != sender); i++)
        {
            limit.Token.ThrowIfCancellationRequested();
            await from.SendAsync(Payloads.Make(sender, i), CancellationToken.None);
            await Task.Delay(10, limit.Token);
        }
    }

    [Test]
    public async Task A_peer_that_dies_without_goodbye_and_refuses_the_reconnect_is_hinted_gone()
    {
        var (_, b, ra, _, _, _) = await ConnectedPairAsync();

        var killed = System.Diagnostics.Stopwatch.StartNew();
        await b.CrashAsync();
        using var limit = new CancellationTokenSource(WaitLimit);
        while (ra.Hints.IsEmpty)
        {
            await Task.Delay(2, limit.Token);
        }

        var hint = ra.Hints.Single();
        Assert.That(hint.Peer, Is.EqualTo("b"));
        Assert.That(hint.Link, Is.EqualTo("grpc0"));
        Assert.That(hint.Evidence, Does.Match("^(connection reset|connection closed without goodbye|connection closed without goodbye \\(seen by the kernel[^)]*\\)|connection aborted|stream ended without goodbye) on link grpc0, reconnect refused$"));
        Assert.That(killed.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1)), "the hint comes at once, not after a timeout");
        await Task.Delay(500);
        Assert.That(ra.Hints, Has.Count.EqualTo(1), "one hint per broken stream, not one per refused reconnect");
    }

    [Test]
    public async Task After_the_watchers_hint_the_dialer_waits_before_it_reconnects()
    {
        var (_, b, ra, _, _, eb) = await ConnectedPairAsync();

        await b.CrashAsync();
        using var limit = new CancellationTokenSource(WaitLimit);
        while (ra.Hints.IsEmpty)
        {
            await Task.Delay(1, limit.Token);
        }

        var hinted = System.Diagnostics.Stopwatch.StartNew();
        Assume.That(ra.Hints.Single().Evidence, Does.Contain("seen by the kernel"), "the dialer's own refused reconnect gave the hint, not the watcher");

        // b's address answers again (a plain listener): a's first connection attempt after the hint shows when the dialer reconnected.
        using var listener = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        listener.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
        listener.Bind(eb);
        listener.Listen(8);
        using var first = await listener.AcceptAsync(limit.Token);
        var after = hinted.Elapsed;

        // Before: at once (20 ms back-off after a refusal). Now: 100 ms after the stream's end, which the hint preceded.
        Assert.That(after, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(50)), "the dialer reconnected at once, competing with the takeover for the CPU");
    }

    [Test]
    public async Task A_clean_stop_says_goodbye_and_gives_no_hint()
    {
        var (_, b, ra, _, _, _) = await ConnectedPairAsync();
        await ConnectedAsync(b, ra, 'B');

        await b.DisposeAsync().AsTask().WaitAsync(WaitLimit);
        await Task.Delay(1000); // a reconnects (refused) with back-off meanwhile

        Assert.That(ra.Hints, Is.Empty);
    }

    [Test]
    public async Task A_peer_that_never_listened_gives_no_hint()
    {
        var (ea, eb) = TcpPorts.TwoFree();
        var a = Link(ea, "b", eb);
        var ra = await StartAsync(a);
        for (var i = 0; i < 20; i++)
        {
            await a.SendAsync(Payloads.Make('A', i), CancellationToken.None);
            await Task.Delay(25);
        }

        Assert.That(ra.Hints, Is.Empty, "refused connects without a stream that broke are no evidence");
    }

    [Test]
    public async Task After_a_restart_of_the_peer_the_stream_comes_back()
    {
        var (a, b, ra, _, ea, eb) = await ConnectedPairAsync();
        await b.CrashAsync();

        var b2 = Link(eb, "a", ea);
        var rb2 = await StartAsync(b2);
        await ConnectedAsync(a, rb2, 'A');
        Assert.That(rb2.Packets.Count, Is.GreaterThan(0));
        Assert.That(ra.Packets.Faults, Is.Empty);
    }

    [Test]
    public async Task Mutual_tls_accepts_a_pinned_client_certificate_and_refuses_an_unknown_one()
    {
        using var ours = new TestCertificates("cluster CA");
        using var theirs = new TestCertificates("another CA");
        var (aCert, aKey, aThumb) = ours.Issue("a");
        var (bCert, bKey, _) = ours.Issue("b");
        var (xCert, xKey, _) = theirs.Issue("x");
        var (ea, eb) = TcpPorts.TwoFree();
        var ex = new IPEndPoint(IPAddress.Loopback, TcpPorts.Free());

        // b trusts only a's pinned thumbprint; a trusts b through the CA.
        var b = Link(eb, "a", ea, GrpcLinkSecurity.Load(new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = bCert, KeyFile = bKey, TrustedThumbprints = [aThumb], RequireClientCertificate = true }, "HaKit:Links[0]"));
        var a = Link(ea, "b", eb, GrpcLinkSecurity.Load(new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = aCert, KeyFile = aKey, TrustedCaFile = ours.CaFile, RequireClientCertificate = true }, "HaKit:Links[0]"));

        // x trusts b's CA (so it would accept b as a server), but its own certificate comes from another CA: b must refuse it.
        var x = Link(ex, "b", eb, GrpcLinkSecurity.Load(new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = xCert, KeyFile = xKey, TrustedCaFile = ours.CaFile }, "HaKit:Links[0]"));
        var rb = await StartAsync(b);
        await StartAsync(a);
        await StartAsync(x);

        await ConnectedAsync(a, rb, 'A');
        for (var i = 0; i < 30; i++)
        {
            await x.SendAsync(Payloads.Make('X', i), CancellationToken.None);
            await Task.Delay(20);
        }

        Assert.That(rb.Packets.Packets.Where(p => Payloads.Sender(p) == 'X'), Is.Empty, "a client certificate b does not trust never gets a packet through");
        Assert.That(rb.Packets.Packets.Where(p => Payloads.Sender(p) == 'A'), Is.Not.Empty);
    }

    [Test]
    public async Task Tls_refuses_a_server_whose_certificate_is_not_trusted()
    {
        using var ours = new TestCertificates("cluster CA");
        using var theirs = new TestCertificates("another CA");
        var (aCert, aKey, _) = ours.Issue("a");
        var (bCert, bKey, _) = theirs.Issue("b");
        var (ea, eb) = TcpPorts.TwoFree();
        var a = Link(ea, "b", eb, GrpcLinkSecurity.Load(new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = aCert, KeyFile = aKey, TrustedCaFile = ours.CaFile }, "HaKit:Links[0]"));
        var b = Link(eb, "a", ea, GrpcLinkSecurity.Load(new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = bCert, KeyFile = bKey, TrustedCaFile = theirs.CaFile }, "HaKit:Links[0]"));
        await StartAsync(a);
        var rb = await StartAsync(b);
        for (var i = 0; i < 30; i++)
        {
            await a.SendAsync(Payloads.Make('A', i), CancellationToken.None);
            await Task.Delay(20);
        }

        Assert.That(rb.Packets.Count, Is.Zero, "a does not send to a server whose certificate it does not trust");
    }

    [Test]
    public void An_unreadable_certificate_file_fails_naming_the_key()
    {
        var error = Assert.Throws<HaKitConfigurationException>(() => GrpcLinkSecurity.Load(
            new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = "/nonexistent/node.pem", KeyFile = "/nonexistent/node.key", TrustedCaFile = "/nonexistent/ca.pem" }, "HaKit:Links[1]"));
        Assert.That(error!.Message, Does.Contain("HaKit:Links[1]:CertificateFile = '/nonexistent/node.pem'"));
    }

    [Test]
    public async Task A_bind_conflict_names_the_link_and_the_endpoint()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var endPoint = (IPEndPoint)taken.LocalEndpoint;
        var a = Link(endPoint, "b", new IPEndPoint(IPAddress.Loopback, 1));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await a.StartAsync(new HintReceiver(), CancellationToken.None));
        Assert.That(error!.Message, Does.Contain("grpc0").And.Contain(endPoint.ToString()));
    }
}
