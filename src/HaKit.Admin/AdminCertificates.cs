using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HaKit.Admin;

/// <summary>
/// Certificate checks shared by the admin server (client certificates) and <see cref="AdminChannel"/> (the server certificate):
/// a certificate is accepted when its SHA-256 thumbprint is listed, or when it chains to the given CA file (only that CA is trusted,
/// not the system store).
/// </summary>
public static class AdminCertificates
{
    /// <summary>Loads a certificate and its private key from PEM files, usable for TLS on every platform.</summary>
    /// <param name="certificateFile">The certificate (PEM).</param>
    /// <param name="keyFile">Its private key (PEM, unencrypted).</param>
    /// <returns>The certificate with its key.</returns>
    public static X509Certificate2 LoadWithKey(string certificateFile, string keyFile)
    {
        using var pem = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        // Re-imported so that the key is usable by SslStream on every platform (an ephemeral PEM key is not on Windows).
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Loads every certificate of a PEM file (e.g. a CA bundle).</summary>
    /// <param name="file">The PEM file.</param>
    /// <returns>The certificates.</returns>
    public static X509Certificate2Collection LoadPemBundle(string file)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(file);
        return collection;
    }

    /// <summary>The SHA-256 thumbprint of a certificate as upper-case hex without separators.</summary>
    /// <param name="certificate">The certificate.</param>
    /// <returns>The thumbprint.</returns>
    public static string Sha256Thumbprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256));
    }

    /// <summary>Normalises a configured thumbprint: hex digits only (colons and spaces dropped), upper case.</summary>
    /// <param name="thumbprint">The thumbprint as configured.</param>
    /// <returns>The normalised thumbprint.</returns>
    public static string NormaliseThumbprint(string thumbprint)
    {
        ArgumentNullException.ThrowIfNull(thumbprint);
        return new string(thumbprint.Where(Uri.IsHexDigit).Select(char.ToUpperInvariant).ToArray());
    }

    /// <summary>
    /// Whether a peer certificate is accepted: its SHA-256 thumbprint is one of <paramref name="thumbprints"/>, or it chains
    /// (custom trust: only <paramref name="trustedRoots"/>) to one of the given CA certificates. With neither given, the platform's
    /// own verdict (<paramref name="platformErrors"/>) decides.
    /// </summary>
    /// <param name="certificate">The peer's certificate (null = none was presented: refused).</param>
    /// <param name="trustedRoots">CA certificates to chain to, or null.</param>
    /// <param name="thumbprints">Accepted SHA-256 thumbprints (normalised), or empty.</param>
    /// <param name="platformErrors">The errors the platform found (used only when neither a CA nor thumbprints are given).</param>
    /// <returns>True when accepted.</returns>
    public static bool IsAccepted(X509Certificate? certificate, X509Certificate2Collection? trustedRoots, IReadOnlyCollection<string> thumbprints,
        SslPolicyErrors platformErrors)
    {
        ArgumentNullException.ThrowIfNull(thumbprints);
        if (certificate is null)
        {
            return false;
        }

        using var cert = certificate as X509Certificate2 is { } c ? X509CertificateLoader.LoadCertificate(c.RawData) : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (thumbprints.Count > 0 && thumbprints.Contains(Sha256Thumbprint(cert), StringComparer.OrdinalIgnoreCase))
        {
            return true;
        }

        if (trustedRoots is { Count: > 0 })
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(trustedRoots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(cert);
        }

        return thumbprints.Count == 0 && platformErrors == SslPolicyErrors.None;
    }
}
