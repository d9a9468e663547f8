using System.Net;
using System.Net.Sockets;
using System.Text;
using HaKit.Grpc.Tests;

namespace HaKit.Replication.Tests;

/// <summary>TLS on the replication stream over real loopback sockets, with certificates generated for the test: a dialing peer
/// without an accepted certificate is refused, one with it replicates; plaintext only between loopback addresses.</summary>
public sealed class TlsTransportTests
{
    private readonly List<IAsyncDisposable> _open = [];
    private string _root = "";
    private TestCertificates _certificates = null!;

    [SetUp]
    public void SetUp()
    {
        _root = Directory.CreateTempSubdirectory("hakit-repl-tls-").FullName;
        _certificates = new TestCertificates();
    }

    [TearDown]
    public async Task TearDown()
    {
        for (var i = _open.Count - 1; i >= 0; i--)
        {
            await _open[i].DisposeAsync();
        }

        _open.Clear();
        _certificates.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<(ReplicatedKvStore Store, ReplicationTransport Transport)> StartAsync(string node, string peer, int port, int peerPort, ReplicationTlsOptions tls)
    {
        var store = await ReplicatedKvStore.OpenAsync(new ReplicationOptions { Group = "kv", Directory = Path.Combine(_root, node), Mode = ReplicationMode.Durable, SnapshotEveryEntries = 0 });
        _open.Add(store);
        var transport = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = node,
            PeerId = peer,
            Listen = new IPEndPoint(IPAddress.Loopback, port),
            Peer = new IPEndPoint(IPAddress.Loopback, peerPort),
            ReconnectDelay = TimeSpan.FromMilliseconds(50),
            Tls = tls,
        });
        transport.Attach(store.Log);
        await transport.StartAsync(CancellationToken.None);
        _open.Add(transport);
        return (store, transport);
    }

    private ReplicationTlsOptions Tls(string node, bool mutual = true)
    {
        var (certificate, key, _) = _certificates.Issue(node);
        return new ReplicationTlsOptions { CertificateFile = certificate, KeyFile = key, TrustedCaFile = _certificates.CaFile, RequireClientCertificate = mutual };
    }

    [Test]
    public async Task A_peer_with_a_trusted_certificate_replicates_over_mutual_TLS()
    {
        int portA = ReplicaTestBase.FreePort(), portB = ReplicaTestBase.FreePort();
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
        int portA = ReplicaTestBase.FreePort(), portB = ReplicaTestBase.FreePort();

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
        Assert.That(write.IsCompleted, Is.False, "a Durable write waits for a peer that is never reached");
        Assert.That(b.Store.TryGet("k", out _), Is.False);

        // The same pair with a trusted certificate for a connects (the refusal was the certificate, not the set-up).
        await a.Transport.DisposeAsync();
        _open.Remove(a.Transport);
        var transport = new ReplicationTransport(new ReplicationTransportOptions
        {
            NodeId = "a", PeerId = "b",
            Listen = new IPEndPoint(IPAddress.Loopback, portA), Peer = new IPEndPoint(IPAddress.Loopback, portB),
            ReconnectDelay = TimeSpan.FromMilliseconds(50), Tls = Tls("a2"),
        });
        transport.Attach(a.Store.Log);
        await transport.StartAsync(CancellationToken.None);
        _open.Add(transport);
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
            Tls = new ReplicationTlsOptions { CertificateFile = Path.Combine(_root, "missing.pem"), KeyFile = Path.Combine(_root, "missing.key"), TrustedCaFile = _certificates.CaFile },
        }));
        Assert.That(ex!.Errors, Has.Some.StartsWith($"Replication:Transport:Tls:CertificateFile = '{Path.Combine(_root, "missing.pem")}'"));
    }

    [Test]
    public async Task A_dialer_refuses_a_server_whose_certificate_it_does_not_trust()
    {
        int portA = ReplicaTestBase.FreePort(), portB = ReplicaTestBase.FreePort();
        using var other = new TestCertificates("another CA");
        var (certificate, key, _) = other.Issue("b");

        // b serves a certificate of another CA; a (the dialer) trusts only its own CA. No client certificate is required.
        var a = await StartAsync("a", "b", portA, portB, Tls("a", mutual: false));
        var b = await StartAsync("b", "a", portB, portA, new ReplicationTlsOptions { CertificateFile = certificate, KeyFile = key, TrustedCaFile = other.CaFile });
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.That(a.Store.Log.Status.PeerConnected || b.Store.Log.Status.PeerConnected, Is.False, "the dialer must not talk to an untrusted server");
    }
}
