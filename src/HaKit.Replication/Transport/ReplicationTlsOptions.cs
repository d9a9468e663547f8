using System.Net;

namespace HaKit.Replication;

/// <summary>
/// TLS on the replication stream: the same settings, rules and messages as a Grpc link's (<c>HaKit:Links[i]</c> of kind Grpc).
/// This node's certificate is served and, when it dials, presented; the peer's certificate must chain to
/// <see cref="TrustedCaFile"/> or have a pinned SHA-256 thumbprint. Plaintext (TCP or HTTP/2 without TLS) only with <see cref="AllowPlaintext"/>,
/// and only when every replication address is a loopback address.
/// </summary>
public sealed class ReplicationTlsOptions
{
    /// <summary>Plaintext HTTP/2 (h2c) instead of TLS; allowed only when both replication addresses are loopback addresses.
    /// Default <see langword="false"/>.</summary>
    public bool AllowPlaintext { get; set; }

    /// <summary>This node's certificate (PEM file), served to the peer and, when this node dials, presented to it.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>The private key of <see cref="CertificateFile"/> (PEM file, unencrypted PKCS#8, RSA or EC).</summary>
    public string? KeyFile { get; set; }

    /// <summary>A CA bundle (PEM file) the peer's certificate must chain to. This or <see cref="TrustedThumbprints"/> is required.</summary>
    public string? TrustedCaFile { get; set; }

    /// <summary>SHA-256 thumbprints (64 hex digits) of the peer's certificate, accepted without a CA (pinning).</summary>
    public List<string> TrustedThumbprints { get; set; } = [];

    /// <summary>Mutual TLS: a dialing peer must present a certificate <see cref="TrustedCaFile"/> or
    /// <see cref="TrustedThumbprints"/> accepts (otherwise the handshake is refused). Default <see langword="false"/>.</summary>
    public bool RequireClientCertificate { get; set; }

    /// <summary>The problems of these settings, each naming the key, the value and the fix.</summary>
    /// <param name="key">The section's key (for example <c>HaKit:Replication:Tls</c>).</param>
    /// <param name="addresses">The replication addresses (both nodes'), for the loopback rule of plaintext.</param>
    internal List<string> Validate(string key, IEnumerable<IPEndPoint> addresses)
    {
        var errors = new List<string>();
        for (var i = 0; i < TrustedThumbprints.Count; i++)
        {
            if (!IsSha256Thumbprint(TrustedThumbprints[i] ?? ""))
            {
                errors.Add($"{key}:TrustedThumbprints:{i} = '{TrustedThumbprints[i]}': must be a certificate's SHA-256 thumbprint, 64 hex digits (openssl x509 -noout -fingerprint -sha256 -in cert.pem)");
            }
        }

        if (AllowPlaintext)
        {
            if (!string.IsNullOrEmpty(CertificateFile) || RequireClientCertificate)
            {
                errors.Add($"{key}:AllowPlaintext = True: plaintext and TLS settings (CertificateFile, RequireClientCertificate) exclude each other: remove AllowPlaintext to use TLS, or the TLS settings");
            }

            foreach (var address in addresses.Where(a => !IPAddress.IsLoopback(a.Address)))
            {
                errors.Add($"{key}:AllowPlaintext = True: the replication address {address} is not a loopback address; plaintext is only for loopback addresses (127.0.0.1, ::1): use TLS (CertificateFile, KeyFile, TrustedCaFile) on a network address");
            }

            return errors;
        }

        if (string.IsNullOrWhiteSpace(CertificateFile))
        {
            errors.Add($"{key}:CertificateFile = '{CertificateFile}': the replication stream uses TLS: set the node's certificate (PEM file) and KeyFile; plaintext (AllowPlaintext: true) is allowed only on loopback addresses");
        }

        if (string.IsNullOrWhiteSpace(KeyFile))
        {
            errors.Add($"{key}:KeyFile = '{KeyFile}': set the private key (PEM file) of CertificateFile");
        }

        if (string.IsNullOrWhiteSpace(TrustedCaFile) && TrustedThumbprints.Count == 0)
        {
            errors.Add($"{key}:TrustedCaFile = '{TrustedCaFile}': set a CA bundle (PEM) that the peer's certificate chains to, or list its SHA-256 thumbprint in TrustedThumbprints: the peer must be verified");
        }

        return errors;
    }

    private static bool IsSha256Thumbprint(string thumbprint)
    {
        var hex = thumbprint.Replace(":", "", StringComparison.Ordinal);
        return hex.Length == 64 && hex.All(char.IsAsciiHexDigit);
    }

    /// <summary>The same settings as a Grpc link's, for HaKit.Grpc's loader.</summary>
    internal LinkOptions ToLinkOptions() => new()
    {
        Name = "replication",
        Kind = LinkKind.Grpc,
        AllowPlaintext = AllowPlaintext,
        CertificateFile = CertificateFile,
        KeyFile = KeyFile,
        TrustedCaFile = TrustedCaFile,
        TrustedThumbprints = [.. TrustedThumbprints],
        RequireClientCertificate = RequireClientCertificate,
    };
}
