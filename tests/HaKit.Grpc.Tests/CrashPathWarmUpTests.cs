using System.Net;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Grpc.Tests;

/// <summary>
/// The link's start-up warm-up of its connection-loss path (<see cref="CrashPathWarmUp"/>): a throwaway loopback listener that
/// speaks just enough HTTP/2 to establish a <c>Connect</c> call, then drops it as a crashed peer's kernel does, then refuses.
/// </summary>
[TestFixture]
public sealed class CrashPathWarmUpTests
{
    [Test]
    public async Task The_warm_up_runs_the_same_end_and_refusal_the_dialer_reads_after_a_crash()
    {
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var (how, refused) = await CrashPathWarmUp.ExerciseAsync(bound.Token);

        // The dialer's own reading of the end (ReadEndAsync/DescribeEnd) and its refusal test (IsRefused) ran, with the same
        // outcome a SIGKILLed peer gives: an end without goodbye, and a reconnect refused.
        Assert.That(how, Is.EqualTo("connection closed without goodbye").Or.EqualTo("connection reset"));
        Assert.That(refused, Is.True, "the second call met a closed port");
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task The_servers_side_is_run_against_the_links_own_server_and_nothing_reaches_the_core(bool mutualTls)
    {
        using var certificates = new TestCertificates();
        var security = GrpcLinkSecurity.Plaintext;
        if (mutualTls)
        {
            var (certificate, key, _) = certificates.Issue("a");
            security = GrpcLinkSecurity.Load(new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = certificate, KeyFile = key, TrustedCaFile = certificates.CaFile, RequireClientCertificate = true }, "HaKit:Links[0]");
        }

        var (bind, peer) = TcpPorts.TwoFree(); // nothing listens on the peer's port: the link's own dialer gets nowhere
        await using var link = new GrpcLinkTransport("grpc0", bind, [new GrpcPeer("b", peer)], 1400, security, TimeSpan.FromMilliseconds(200));
        var receiver = new HintReceiver();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await link.StartAsync(receiver, bound.Token);
        while (link.WarmUpStreamsEnded == 0)
        {
            await Task.Delay(10, bound.Token); // the link's own start-up warm-up ran it once already
        }

        var how = await CrashPathWarmUp.ExerciseServerAsync(bind, security, () => link.WarmUpStreamsEnded, bound.Token);

        Assert.Multiple(() =>
        {
            // The stream was up (the response headers came) and ended as a killed peer's does; the server's handler ended too.
            Assert.That(how, Is.EqualTo("connection closed without goodbye").Or.EqualTo("connection reset"));
            Assert.That(link.WarmUpStreamsEnded, Is.EqualTo(2), "the server's handler saw each warm-up stream end (the start-up's and this one)");
            Assert.That(link.IncomingStreams, Is.Zero);
            Assert.That(receiver.Packets.Packets, Is.Empty, "the warm-up's stream carries no packet");
            Assert.That(receiver.Hints, Is.Empty, "and no crash hint");
            Assert.That(link.CrashHints, Is.Zero);
        });
    }

    [Test]
    public async Task The_servers_side_ends_with_its_own_stream_while_a_peers_stream_stays_up()
    {
        var (ea, eb) = TcpPorts.TwoFree();
        await using var a = new GrpcLinkTransport("grpc0", ea, [new GrpcPeer("b", eb)], 1400, GrpcLinkSecurity.Plaintext, TimeSpan.FromMilliseconds(200));
        await using var b = new GrpcLinkTransport("grpc0", eb, [new GrpcPeer("a", ea)], 1400, GrpcLinkSecurity.Plaintext, TimeSpan.FromMilliseconds(200));
        var ra = new HintReceiver();
        var rb = new HintReceiver();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await a.StartAsync(ra, bound.Token);
        await b.StartAsync(rb, bound.Token);
        while (b.IncomingStreams == 0 || b.WarmUpStreamsEnded == 0)
        {
            await Task.Delay(10, bound.Token); // a's stream to b is up, and b's own start-up warm-up has run
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        _ = await CrashPathWarmUp.ExerciseServerAsync(eb, GrpcLinkSecurity.Plaintext, () => b.WarmUpStreamsEnded, bound.Token);

        Assert.Multiple(() =>
        {
            // It waited for its own stream's end only, not for the server to have no stream at all (a's stays).
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)));
            Assert.That(b.WarmUpStreamsEnded, Is.EqualTo(2), "b's start-up warm-up's stream and this one");
            Assert.That(b.IncomingStreams, Is.EqualTo(1), "a's stream to b is still up");
            Assert.That(ra.Hints.Concat(rb.Hints), Is.Empty, "no crash hint on either side");
        });
    }

    [Test]
    public void The_server_is_dialed_only_when_it_accepts_the_nodes_own_certificate()
    {
        using var certificates = new TestCertificates();
        var (certificate, key, _) = certificates.Issue("a");
        var (other, _, _) = certificates.Issue("b");
        using var otherCertificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(other));
        using var byCa = GrpcLinkSecurity.Load(new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = certificate, KeyFile = key, TrustedCaFile = certificates.CaFile, RequireClientCertificate = true }, "HaKit:Links[0]");
        using var pinnedPeer = GrpcLinkSecurity.Load(new LinkOptions
        {
            Name = "grpc0", Kind = LinkKind.Grpc, CertificateFile = certificate, KeyFile = key, RequireClientCertificate = true,
            TrustedThumbprints = { GrpcLinkSecurity.Sha256Thumbprint(otherCertificate) },
        }, "HaKit:Links[0]");
        Assert.Multiple(() =>
        {
            Assert.That(CrashPathWarmUp.CanDialItself(GrpcLinkSecurity.Plaintext), Is.True);
            Assert.That(CrashPathWarmUp.CanDialItself(byCa), Is.True, "its own certificate is issued by the trusted CA");
            Assert.That(CrashPathWarmUp.CanDialItself(pinnedPeer), Is.False, "only the peer's thumbprint is pinned: the server would refuse it");
        });
    }

    [Test]
    public async Task The_warm_up_never_throws_even_when_stopped_at_once()
    {
        using var stopped = new CancellationTokenSource();
        await stopped.CancelAsync();
        var run = CrashPathWarmUp.RunAsync(NullLogger.Instance, "grpc0", TimeProvider.System, (new IPEndPoint(IPAddress.Loopback, 1), GrpcLinkSecurity.Plaintext, () => 0), stopped.Token);
        Assert.That(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10))), Is.SameAs(run), "it ends at once when stopped");
        Assert.That(run.IsCompletedSuccessfully, Is.True, "a stopped warm-up is logged, not thrown");
    }
}
