using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace HaKit.Cli.Tests;

/// <summary>https endpoints: the tool presents its client certificate and checks the node's against --ca.</summary>
public sealed class MutualTlsTests
{
    private DirectoryInfo _dir = null!;
    private X509Certificate2 _ca = null!;
    private X509Certificate2 _server = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("hakit-cli-tls-");
        (_ca, var caKey) = Authority("CN=hakit test ca");
        _server = Issue(_ca, caKey, "CN=node-a", server: true);
        var client = Issue(_ca, caKey, "CN=operator", server: false);
        File.WriteAllText(Path.Combine(_dir.FullName, "ca.pem"), _ca.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_dir.FullName, "client.pem"), client.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_dir.FullName, "client.key"), client.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        var (other, _) = Authority("CN=some other ca");
        File.WriteAllText(Path.Combine(_dir.FullName, "other-ca.pem"), other.ExportCertificatePem());
    }

    [TearDown]
    public void TearDown() => _dir.Delete(recursive: true);

    private string F(string name) => Path.Combine(_dir.FullName, name);

    private Task<FakeAdminServer> Serve() => FakeAdminServer.StartHttpsAsync(o =>
    {
        o.ServerCertificate = _server;
        o.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
        o.ClientCertificateValidation = (certificate, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(certificate);
        };
    });

    [Test]
    public async Task With_client_certificate_and_ca_the_call_succeeds()
    {
        await using var server = await Serve();
        var result = await Cli.RunAsync("status", "--json", "--endpoint", server.Endpoint.Replace("http://", "https://", StringComparison.Ordinal),
            "--cert", F("client.pem"), "--key", F("client.key"), "--ca", F("ca.pem"));
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        Assert.That(result.Out, Does.Contain("\"node\":\"a\""));
    }

    [Test]
    public async Task A_node_whose_certificate_the_ca_did_not_sign_is_not_trusted()
    {
        await using var server = await Serve();
        var result = await Cli.RunAsync("status", "--endpoint", server.Endpoint.Replace("http://", "https://", StringComparison.Ordinal),
            "--cert", F("client.pem"), "--key", F("client.key"), "--ca", F("other-ca.pem"), "--timeout", "3");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Unreachable), result.ToString());
        Assert.That(result.Out, Does.Not.Contain("Node a"));
    }

    [Test]
    public async Task Without_a_client_certificate_the_tool_says_which_options_are_missing()
    {
        await using var server = await Serve();
        var result = await Cli.RunAsync("status", "--endpoint", server.Endpoint.Replace("http://", "https://", StringComparison.Ordinal), "--ca", F("ca.pem"), "--timeout", "3");
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Usage), "a mutual-TLS endpoint needs a client certificate: " + result);
        Assert.That(result.Error, Does.Contain("--cert and --key"));
        Assert.That(result.Out, Does.Not.Contain("Node a"));
    }

    [Test]
    public async Task An_unreadable_authority_file_is_a_usage_error_naming_ca()
    {
        var result = await Cli.RunAsync("status", "--endpoint", "https://127.0.0.1:1", "--cert", F("client.pem"), "--key", F("client.key"), "--ca", F("missing-ca.pem"));
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Usage), result.ToString());
        Assert.That(result.Error, Does.Contain("--ca"));
    }

    [Test]
    public async Task A_key_without_its_certificate_is_a_usage_error()
    {
        var result = await Cli.RunAsync("status", "--endpoint", "https://127.0.0.1:1", "--key", F("client.key"));
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Usage), result.ToString());
        result = await Cli.RunAsync("status", "--endpoint", "https://127.0.0.1:1", "--cert", F("missing.pem"), "--key", F("client.key"));
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Usage), result.ToString());
    }

    private static (X509Certificate2 Certificate, ECDsa Key) Authority(string subject)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var now = DateTimeOffset.UtcNow;
        return (request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1)), key);
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, ECDsa caKey, string subject, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(System.Net.IPAddress.Loopback);
            names.AddDnsName("localhost");
            request.CertificateExtensions.Add(names.Build());
        }

        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(8);
        using var signed = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddMinutes(-5), now.AddDays(1), serial);
        var withKey = signed.CopyWithPrivateKey(key);
        // A PKCS#12 round trip gives SslStream a certificate whose key it can use on every platform.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }
}
