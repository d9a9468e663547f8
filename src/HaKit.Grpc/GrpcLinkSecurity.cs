using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace HaKit.Grpc;

/// <summary>
/// The TLS settings of one Grpc link, loaded from <see cref="LinkOptions"/>: this node's certificate (served, and presented to
/// peers), and how a peer's certificate is checked (chains to the trusted CA bundle, or has a pinned SHA-256 thumbprint).
/// <see langword="null"/> certificate: plaintext HTTP/2 (h2c), which validation allows only on loopback addresses.
/// </summary>
internal sealed class GrpcLinkSecurity : IDisposable
{
    private readonly X509Certificate2Collection _trustedRoots;
    private readonly HashSet<string> _thumbprints;

    private GrpcLinkSecurity(X509Certificate2? certificate, X509Certificate2Collection trustedRoots, HashSet<string> thumbprints, bool requireClientCertificate)
    {
        Certificate = certificate;
        _trustedRoots = trustedRoots;
        _thumbprints = thumbprints;
        RequireClientCertificate = requireClientCertificate;
    }

    /// <summary>Plaintext HTTP/2 (loopback only).</summary>
    public static GrpcLinkSecurity Plaintext { get; } = new(null, [], [], false);

    /// <summary>This node's certificate with its private key; <see langword="null"/> for plaintext.</summary>
    public X509Certificate2? Certificate { get; }

    /// <summary>Whether TLS is used.</summary>
    public bool UseTls => Certificate is not null;

    /// <summary>Mutual TLS: a dialing peer must present a trusted certificate.</summary>
    public bool RequireClientCertificate { get; }

    /// <summary>Loads the files named by the link's options.</summary>
    /// <param name="link">The link.</param>
    /// <param name="linkKey">Its configuration key (for example <c>HaKit:Links[1]</c>), for error messages.</param>
    /// <exception cref="HaKitConfigurationException">A file cannot be read or holds no certificate or key; names the key, the value and the fix.</exception>
    public static GrpcLinkSecurity Load(LinkOptions link, string linkKey)
    {
        ArgumentNullException.ThrowIfNull(link);
        if (link.AllowPlaintext)
        {
            return Plaintext;
        }

        X509Certificate2 certificate;
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(link.CertificateFile!, link.KeyFile);

            // Re-import so that the private key is usable by SslStream on every platform (an ephemeral PEM key is not, on Windows).
            certificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new HaKitConfigurationException([$"{linkKey}:CertificateFile = '{link.CertificateFile}' (KeyFile '{link.KeyFile}'): cannot load the certificate and its private key ({ex.Message}); give PEM files readable by the node, the key unencrypted (PKCS#8, RSA or EC)"]);
        }

        var roots = new X509Certificate2Collection();
        if (!string.IsNullOrWhiteSpace(link.TrustedCaFile))
        {
            try
            {
                roots.ImportFromPemFile(link.TrustedCaFile);
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
            {
                certificate.Dispose();
                throw new HaKitConfigurationException([$"{linkKey}:TrustedCaFile = '{link.TrustedCaFile}': cannot read the CA bundle ({ex.Message}); give a PEM file with the CA certificate(s) the peers' certificates chain to"]);
            }

            if (roots.Count == 0)
            {
                certificate.Dispose();
                throw new HaKitConfigurationException([$"{linkKey}:TrustedCaFile = '{link.TrustedCaFile}': holds no certificate; give a PEM file with at least one -----BEGIN CERTIFICATE----- block"]);
            }
        }

        var thumbprints = link.TrustedThumbprints.Select(Normalize).ToHashSet(StringComparer.Ordinal);
        return new GrpcLinkSecurity(certificate, roots, thumbprints, link.RequireClientCertificate);
    }

    /// <summary>The SHA-256 thumbprint of <paramref name="certificate"/>: 64 upper-case hex digits.</summary>
    public static string Sha256Thumbprint(X509Certificate2 certificate) =>
        Convert.ToHexString(SHA256.HashData(certificate.RawData));

    /// <summary>
    /// Serves TLS on <paramref name="listen"/> when a certificate is configured (plaintext HTTP/2 otherwise, which validation allowed
    /// only on loopback): this node's certificate, and with <see cref="RequireClientCertificate"/> a client certificate that
    /// <see cref="IsTrusted"/> accepts, the refusal reported to <paramref name="refused"/> with the client's subject.
    /// </summary>
    /// <param name="listen">A Kestrel endpoint (HTTP/2).</param>
    /// <param name="refused">Logs a refused client certificate (its subject).</param>
    public void ServeOn(ListenOptions listen, Action<string> refused)
    {
        if (Certificate is not { } certificate)
        {
            return;
        }

        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            ClientCertificateMode = RequireClientCertificate ? ClientCertificateMode.RequireCertificate : ClientCertificateMode.NoCertificate,
            ClientCertificateValidation = (client, _, _) => AcceptsClient(client, refused),
        });
    }

    /// <summary>
    /// The same TLS for a server on a plain stream (<see cref="SslStream.AuthenticateAsServerAsync(SslServerAuthenticationOptions, CancellationToken)"/>):
    /// this node's certificate, and with <see cref="RequireClientCertificate"/> a client certificate that <see cref="IsTrusted"/>
    /// accepts, the refusal reported to <paramref name="refused"/> with the client's subject. Only with a certificate.
    /// </summary>
    /// <param name="refused">Reports a refused client certificate (its subject, or "no certificate").</param>
    public SslServerAuthenticationOptions ServerOptions(Action<string> refused) => new()
    {
        ServerCertificate = Certificate ?? throw new InvalidOperationException("plaintext: no TLS to serve"),
        ClientCertificateRequired = RequireClientCertificate,
        RemoteCertificateValidationCallback = (_, client, _, _) => !RequireClientCertificate || AcceptsClient(client, refused),
    };

    /// <summary>The TLS a dialer uses towards <paramref name="peer"/>: this node's certificate offered, the peer's checked by
    /// <see cref="IsTrusted"/>; peers are addressed by IP and identified by their certificate (CA or pinned thumbprint), not by a
    /// host name. Only with a certificate.</summary>
    /// <param name="peer">The peer's address.</param>
    public SslClientAuthenticationOptions ClientOptions(IPAddress peer)
    {
        var certificate = Certificate ?? throw new InvalidOperationException("plaintext: no TLS to dial with");
        return new SslClientAuthenticationOptions
        {
            TargetHost = peer.ToString(),
            ClientCertificates = [certificate],
            LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate,
            RemoteCertificateValidationCallback = (_, remote, _, _) => IsTrusted(remote),
        };
    }

    /// <summary>Whether a dialing peer's certificate is accepted; a refusal is reported with its subject.</summary>
    private bool AcceptsClient(X509Certificate? client, Action<string> refused)
    {
        if (IsTrusted(client))
        {
            return true;
        }

        refused(client?.Subject ?? "no certificate");
        return false;
    }

    /// <summary>Whether a peer's certificate is trusted: its SHA-256 thumbprint is pinned, or it chains to the trusted CA bundle.</summary>
    /// <param name="peer">The certificate the peer presented (none: not trusted).</param>
    public bool IsTrusted(X509Certificate? peer)
    {
        if (peer is null)
        {
            return false;
        }

        using var owned = peer as X509Certificate2 is null ? X509CertificateLoader.LoadCertificate(peer.GetRawCertData()) : null;
        var certificate = owned ?? (X509Certificate2)peer;
        if (_thumbprints.Contains(Sha256Thumbprint(certificate)))
        {
            return true;
        }

        if (_trustedRoots.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_trustedRoots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.NoFlag;
        try
        {
            return chain.Build(certificate);
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                if (!ReferenceEquals(element.Certificate, certificate))
                {
                    element.Certificate.Dispose();
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Certificate?.Dispose();
        foreach (var root in _trustedRoots)
        {
            root.Dispose();
        }
    }

    private static string Normalize(string thumbprint) =>
        thumbprint.Replace(":", "", StringComparison.Ordinal).ToUpper(CultureInfo.InvariantCulture);
}
