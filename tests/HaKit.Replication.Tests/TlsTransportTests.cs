using System.Net;
using System.Text;
using HaKit.Grpc.Tests;

namespace HaKit.Replication.Tests;

/// <summary>TLS on the replication stream over real loopback sockets, with certificates generated for the test: a dialing peer
/// without an accepted certificate is refused, one with it replicates; plaintext only between loopback addresses.</summary>
[TestFixture(ReplicationProtocol.Tcp)]
[TestFixture(ReplicationProtocol.Grpc)]
public sealed class TlsTransportTests(ReplicationProtocol protocol) : ReplicaTestBase
{
    protected override ReplicationProtocol Protocol => protocol;

    private TestCertificates _certificates = null!;

    /// <inheritdoc />
    protected override string DirectoryPrefix => "hakit-repl-tls-";

    [SetUp]
    public void CreateCertificates() => _certificates = new TestCertificates();

    [TearDown]
    public void DisposeCertificates() => _certificates.Dispose();

    private Task<Replica> StartAsync(string node, string peer, int port, int peerPort, ReplicationTlsOptions tls) =>
        StartReplicaAsync(new ReplicationOptions { Group = "kv", Directory = Path.Combine(Root, node), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0 },
            node, peer, port, peerPort, tls);

    private ReplicationTlsOptions Tls(string node, bool mutual = true)
    {
        var (certificate, key, _) = _certificates.Issue(node);
        return new ReplicationTlsOptions { CertificateFile = certificate, KeyFile = key, TrustedCaFile = _certificates.CaFile, RequireClientCertificate = mutual };
    }

    [Test]
    public async Task A_peer_with_a_trusted_certificate_replicates_over_mutual_TLS()
    {
        int portA = FreePort(), portB = FreePort();
        var a = await StartAsync("a", "b", portA, portB, Tls("a"));
        var b = await StartAsync("b", "a", portB, portA, Tls("b"));
        await Wait.UntilAsync(() => a.Store.Log.Status.PeerConnected && b.Store.Log.Status.PeerConnected, "the TLS stream to come up");
        await a.Store.Log.BecomeOwnerAsync(1, CancellationToken.None);
        var position = await a.Store.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.That(position.Index, Is.EqualTo(1));
        Assert.That(a.Store.Log.Status.PeerDurable, Is.GreaterThanOrEqualTo(1), "Durable: acknowledged once durable on the peer, over TLS");
        await Wait.UntilAsync(() => b.Store.TryGet("k", out var v) && Encoding.UTF8.GetString(v) == "v", "the standby to apply k");
    }

    [Test]
    public async Task A_dialing_peer_whose_certificate_is_not_trusted_is_refused_and_nothing_replicates()
    {
        int portA = FreePort(), portB = FreePort();

        // a dials (its name sorts first) with a certificate of another CA; b requires a client certificate of its own CA.
        using var other = new TestCertificates("another CA");
        var (certificate, key, _) = other.Issue("a");
        var a = await StartAsync("a", "b", portA, portB, new ReplicationTlsOptions
        {
            CertificateFile = certificate, KeyFile = key, TrustedCaFile = _certificates.CaFile, RequireClientCertificate = true,
        });
        var b = await StartAsync("b", "a", portB, portA, Tls("b"));
        await a.Store.Log.BecomeOwnerAsync(1, CancellationToken.None);
        var write = a.Store.PutAsync("k", Encoding.UTF8.GetBytes("v"), CancellationToken.None);

        // Give the dialer many attempts (50 ms apart): none may get through.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.That(a.Store.Log.Status.PeerConnected || b.Store.Log.Status.PeerConnected, Is.False, "the stream must not come up");
        if (protocol == ReplicationProtocol.Tcp)
        {
            Assert.That(b.Transport.RefusedConnections, Is.GreaterThan(0), "the TCP server counts each refused certificate");
        }

        Assert.That(write.IsCompleted, Is.False, "a Durable write waits for a peer that is never reached");
        Assert.That(b.Store.TryGet("k", out _), Is.False);

        // The same pair with a trusted certificate for a connects (the refusal was the certificate, not the set-up).
        await a.Transport.DisposeAsync();
        Opened.Remove(a.Transport);
        await StartTransportAsync(a.Store, "a", "b", portA, portB, Tls("a2"));
        await write.WaitAsync(TimeSpan.FromSeconds(20));
        await Wait.UntilAsync(() => b.Store.TryGet("k", out _), "the standby to apply k once a is trusted");
    }

    [Test]
    public void Plaintext_on_a_network_address_and_an_unreadable_certificate_are_configuration_errors()
    {
        // Plaintext between network addresses is a configuration error naming the key, the address and the fix.
        var ex = Assert.Throws<HaKitConfigurationException>(() => _ = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = "a", PeerId = "b",
            Listen = IPEndPoint.Parse("10.0.0.1:7511"), Peer = IPEndPoint.Parse("10.0.0.2:7511"),
        }));
        Assert.That(ex!.Errors, Has.Some.StartsWith("Replication:Transport:Tls = (none): the replication address 10.0.0.1:7511 is not a loopback address"));

        ex = Assert.Throws<HaKitConfigurationException>(() => _ = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = "a", PeerId = "b",
            Listen = IPEndPoint.Parse("127.0.0.1:7511"), Peer = IPEndPoint.Parse("10.0.0.2:7511"),
            Tls = new ReplicationTlsOptions { AllowPlaintext = true },
        }));
        Assert.That(ex!.Errors, Has.Some.StartsWith("Replication:Transport:Tls:AllowPlaintext = True: the replication address 10.0.0.2:7511 is not a loopback address"));

        ex = Assert.Throws<HaKitConfigurationException>(() => _ = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = "a", PeerId = "b",
            Listen = IPEndPoint.Parse("127.0.0.1:7511"), Peer = IPEndPoint.Parse("127.0.0.1:7512"),
            Tls = new ReplicationTlsOptions { CertificateFile = Path.Combine(Root, "missing.pem"), KeyFile = Path.Combine(Root, "missing.key"), TrustedCaFile = _certificates.CaFile },
        }));
        Assert.That(ex!.Errors, Has.Some.StartsWith($"Replication:Transport:Tls:CertificateFile = '{Path.Combine(Root, "missing.pem")}'"));
    }

    [Test]
    public async Task A_dialer_refuses_a_server_whose_certificate_it_does_not_trust()
    {
        int portA = FreePort(), portB = FreePort();
        using var other = new TestCertificates("another CA");
        var (certificate, key, _) = other.Issue("b");

        // b serves a certificate of another CA; a (the dialer) trusts only its own CA. No client certificate is required.
        var a = await StartAsync("a", "b", portA, portB, Tls("a", mutual: false));
        var b = await StartAsync("b", "a", portB, portA, new ReplicationTlsOptions { CertificateFile = certificate, KeyFile = key, TrustedCaFile = other.CaFile });
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.That(a.Store.Log.Status.PeerConnected || b.Store.Log.Status.PeerConnected, Is.False, "the dialer must not talk to an untrusted server");
    }
}
