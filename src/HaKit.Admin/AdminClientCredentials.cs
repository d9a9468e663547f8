using System.Security.Cryptography.X509Certificates;

namespace HaKit.Admin;

/// <summary>
/// The client side of the admin API's mutual TLS (an <c>https://host:port</c> endpoint): the client's certificate and key
/// (PEM files) and how the node's server certificate is checked. A Unix-socket endpoint needs none of this: the socket's file
/// mode (0600) is its access control.
/// </summary>
public sealed class AdminClientCredentials
{
    /// <summary>The client certificate (PEM file) presented to the node; the node checks it against its ClientCaFile or ClientThumbprints.</summary>
    public required string CertificateFile { get; init; }

    /// <summary>The client certificate's private key (PEM file, unencrypted).</summary>
    public required string KeyFile { get; init; }

    /// <summary>
    /// A CA certificate (PEM file) that must have issued the node's server certificate; null = no CA check (then
    /// <see cref="ServerThumbprints"/> must be given, or the system trust store decides).
    /// </summary>
    public string? ServerCaFile { get; init; }

    /// <summary>SHA-256 thumbprints (hex) of server certificates accepted as they are (pinning); empty = not used.</summary>
    public IReadOnlyList<string> ServerThumbprints { get; init; } = [];

    /// <summary>Loads the client certificate with its private key from <see cref="CertificateFile"/> and <see cref="KeyFile"/>.</summary>
    /// <returns>The certificate with its key.</returns>
    public X509Certificate2 LoadClientCertificate() => AdminCertificates.LoadWithKey(CertificateFile, KeyFile);
}
