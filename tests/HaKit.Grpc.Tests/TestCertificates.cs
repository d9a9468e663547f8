using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HaKit.Grpc.Tests;

/// <summary>A throw-away CA and node certificates as PEM files in a temporary directory (deleted on dispose).</summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly X509Certificate2 _ca;
    private readonly ECDsa _caKey;

    public TestCertificates(string caName = "HaKit test CA")
    {
        Directory = Path.Combine(Path.GetTempPath(), "hakit-grpc-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={caName}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaFile = Path.Combine(Directory, "ca.pem");
        File.WriteAllText(CaFile, _ca.ExportCertificatePem());
    }

    public string Directory { get; }

    public string CaFile { get; }

    /// <summary>Issues a node certificate (server and client auth, SAN 127.0.0.1) and writes it and its key.</summary>
    public (string CertificateFile, string KeyFile, string Sha256) Issue(string node)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={node}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        var serial = new byte[8];
        RandomNumberGenerator.Fill(serial);
        using var certificate = request.Create(_ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), serial);
        var certificateFile = Path.Combine(Directory, node + ".pem");
        var keyFile = Path.Combine(Directory, node + ".key");
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certificateFile, keyFile, Convert.ToHexString(SHA256.HashData(certificate.RawData)));
    }

    public void Dispose()
    {
        _ca.Dispose();
        _caKey.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
