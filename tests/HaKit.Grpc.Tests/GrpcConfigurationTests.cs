using HaKit.Hosting;
using HaKit.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace HaKit.Grpc.Tests;

[TestFixture]
public sealed class GrpcConfigurationTests
{
    private static HaKitOptions Options(Action<LinkOptions> link, string addressA = "127.0.0.1:7411", string addressB = "127.0.0.1:7412")
    {
        var grpc = new LinkOptions { Name = "grpc0", Kind = LinkKind.Grpc, AllowPlaintext = true };
        link(grpc);
        return new HaKitOptions
        {
            NodeName = "a",
            ClusterName = "test",
            Links = [new LinkOptions { Name = "lan0" }, grpc],
            Nodes =
            [
                new NodeOptions { Name = "a", Addresses = new() { ["lan0"] = "127.0.0.1:7401", ["grpc0"] = addressA } },
                new NodeOptions { Name = "b", Addresses = new() { ["lan0"] = "127.0.0.1:7402", ["grpc0"] = addressB } },
            ],
            Groups = [new GroupOptions { Name = "web" }],
            Auth = new AuthOptions { Keys = [new AuthKeyOptions { Id = 1, Secret = Convert.ToBase64String(new byte[32]) }], SendKeyId = 1 },
        };
    }

    [Test]
    public void Plaintext_on_a_network_address_fails_naming_key_value_and_fix()
    {
        var errors = HaKitOptionsValidator.Validate(Options(_ => { }, addressB: "10.1.2.3:7412"));
        Assert.That(errors, Has.Some.Contains("HaKit:Nodes:1:Addresses:grpc0 = '10.1.2.3:7412'").Or.Some.Contains("HaKit:Nodes[1]:Addresses:grpc0").And.Some.Contains("loopback"));
        Assert.That(errors.Single(e => e.Contains("grpc0", StringComparison.Ordinal)), Does.Contain("10.1.2.3:7412").And.Contain("AllowPlaintext").And.Contain("TLS"));
    }

    [Test]
    public void Tls_without_certificate_or_trust_fails_naming_every_key()
    {
        var errors = HaKitOptionsValidator.Validate(Options(l => l.AllowPlaintext = false));
        Assert.That(errors, Has.Some.Contains("CertificateFile"));
        Assert.That(errors, Has.Some.Contains("KeyFile"));
        Assert.That(errors, Has.Some.Contains("TrustedCaFile").And.Some.Contains("TrustedThumbprints"));
    }

    [Test]
    public void A_malformed_thumbprint_is_refused()
    {
        var errors = HaKitOptionsValidator.Validate(Options(l =>
        {
            l.AllowPlaintext = false;
            l.CertificateFile = "a.pem";
            l.KeyFile = "a.key";
            l.TrustedThumbprints = ["abc"];
        }));
        Assert.That(errors, Has.Exactly(1).Contains("TrustedThumbprints").And.Contains("'abc'").Or.Exactly(1).Contains("TrustedThumbprints"));
    }

    [Test]
    public void A_valid_plaintext_loopback_link_passes()
    {
        Assert.That(HaKitOptionsValidator.Validate(Options(_ => { })), Is.Empty);
    }

    [Test]
    public void A_grpc_link_without_its_factory_fails_saying_to_call_UseGrpcLinks()
    {
        var error = Assert.Throws<HaKitConfigurationException>(() => HeartbeatTransportFactory.Create(Options(_ => { })));
        Assert.That(error!.Message, Does.Contain("HaKit:Links[1]:Kind = Grpc").And.Contain("HaKit.Grpc").And.Contain("UseGrpcLinks()"));
    }

    [Test]
    public async Task The_factory_builds_a_grpc_link_on_the_local_address()
    {
        var transports = HeartbeatTransportFactory.Create(Options(_ => { }), factories: [new GrpcLinkFactory()]);
        try
        {
            Assert.That(transports.Select(t => t.LinkName), Is.EqualTo(new[] { "lan0", "grpc0" }));
            Assert.That(transports[1], Is.InstanceOf<GrpcLinkTransport>());
        }
        finally
        {
            foreach (var t in transports)
            {
                await t.DisposeAsync();
            }
        }
    }

    [Test]
    public void UseGrpcLinks_registers_the_factory_once()
    {
        var services = new ServiceCollection();
        services.AddHaKit(_ => { }).UseGrpcLinks().UseGrpcLinks();
        using var provider = services.BuildServiceProvider();
        Assert.That(provider.GetServices<IHeartbeatLinkFactory>().Select(f => f.Kind), Is.EqualTo(new[] { LinkKind.Grpc }));
    }
}
