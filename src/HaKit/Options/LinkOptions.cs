using System.Net;

namespace HaKit;

/// <summary>The kind of a heartbeat link.</summary>
public enum LinkKind
{
    /// <summary>UDP unicast: bind to the local node's address, send to every peer's address (Heartbeat <c>ucast</c>).</summary>
    Udp = 0,

    /// <summary>UDP multicast: join <see cref="LinkOptions.Group"/> on the local node's interface address (Heartbeat <c>mcast</c>).</summary>
    Multicast = 1,

    /// <summary>
    /// gRPC over HTTP/2 (TCP): one long-lived stream to each peer, TLS or mutual TLS, and a crash hint when a peer's connection
    /// ends without a goodbye and its reconnect is refused. Needs the HaKit.Grpc package (<c>AddHaKit().UseGrpcLinks()</c>).
    /// </summary>
    Grpc = 2,
}

/// <summary>One heartbeat link.</summary>
public sealed class LinkOptions
{
    /// <summary>Lowest allowed multicast <see cref="Port"/>.</summary>
    public const int PortMin = 1;

    /// <summary>Highest allowed multicast <see cref="Port"/>.</summary>
    public const int PortMax = 65535;

    /// <summary>Lowest allowed <see cref="Ttl"/> (stay on the local segment).</summary>
    public const int TtlMin = 1;

    /// <summary>Highest allowed <see cref="Ttl"/> (the IP header's limit).</summary>
    public const int TtlMax = 255;

    /// <summary>Link name, unique in the cluster (for example <c>lan0</c>); the key of <see cref="NodeOptions.Addresses"/>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Link kind. <value>Default <see cref="LinkKind.Udp"/>.</value></summary>
    public LinkKind Kind { get; set; } = LinkKind.Udp;

    /// <summary>Multicast group address (for example <c>239.255.42.1</c>). Multicast only.</summary>
    public string? Group { get; set; }

    /// <summary>Multicast UDP port. Multicast only. <value>Range <see cref="PortMin"/>..<see cref="PortMax"/>.</value></summary>
    public int Port { get; set; }

    /// <summary>Multicast TTL. <value>Default 1 (stay on the local segment). Range <see cref="TtlMin"/>..<see cref="TtlMax"/>.</value></summary>
    public int Ttl { get; set; } = 1;

    /// <summary>Lowest allowed <see cref="ReconnectDelayMax"/>.</summary>
    public static readonly TimeSpan ReconnectDelayMaxMin = TimeSpan.FromMilliseconds(10);

    /// <summary>Highest allowed <see cref="ReconnectDelayMax"/>.</summary>
    public static readonly TimeSpan ReconnectDelayMaxMax = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Grpc only: plaintext HTTP/2 (h2c) instead of TLS. Allowed only when every node's address on the link is a loopback address
    /// (tests, one-host demos). <value>Default <see langword="false"/>.</value>
    /// </summary>
    public bool AllowPlaintext { get; set; }

    /// <summary>Grpc only: this node's certificate (PEM file), served to peers and, with mutual TLS, presented to them. Required unless <see cref="AllowPlaintext"/>.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>Grpc only: the private key of <see cref="CertificateFile"/> (PEM file, unencrypted PKCS#8, RSA or EC).</summary>
    public string? KeyFile { get; set; }

    /// <summary>Grpc only: a CA bundle (PEM file) that peers' certificates must chain to. Either this or <see cref="TrustedThumbprints"/> is required with TLS.</summary>
    public string? TrustedCaFile { get; set; }

    /// <summary>Grpc only: SHA-256 thumbprints (64 hex digits) of the peers' certificates, accepted without a CA (pinning). Either this or <see cref="TrustedCaFile"/> is required with TLS.</summary>
    public List<string> TrustedThumbprints { get; set; } = [];

    /// <summary>Grpc only: mutual TLS: a peer that dials in must present a certificate that <see cref="TrustedCaFile"/> or <see cref="TrustedThumbprints"/> accepts. <value>Default <see langword="false"/>.</value></summary>
    public bool RequireClientCertificate { get; set; }

    /// <summary>
    /// Grpc only: the longest wait between reconnect attempts to a peer (the wait starts at 20 ms and doubles; the first attempt
    /// after a connection ends is immediate). <value>Default 1 s. Range 10 ms..1 min.</value>
    /// </summary>
    public TimeSpan ReconnectDelayMax { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Checks this link's own values; adds its name to <paramref name="names"/>. Returns whether it has a name (the nodes' addresses on it can be checked).</summary>
    internal bool Validate(OptionsPath path, HashSet<string> names)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            path.Error(nameof(Name), Name, "every link needs a unique, non-empty name (e.g. lan0)");
            return false;
        }

        if (!names.Add(Name))
        {
            path.Error(nameof(Name), Name, "the link is listed twice; link names must be unique");
        }

        if (Kind == LinkKind.Multicast)
        {
            if (!IPAddress.TryParse(Group ?? "", out var group) || !IsMulticast(group))
            {
                path.Error(nameof(Group), Group, "must be an IPv4 multicast address (224.0.0.0/4), e.g. 239.255.42.1");
            }

            path.InRange(nameof(Port), Port, PortMin, PortMax);
            path.InRange(nameof(Ttl), Ttl, TtlMin, TtlMax, " (1 keeps heartbeats on the local segment)");
        }

        if (Kind == LinkKind.Grpc)
        {
            ValidateGrpc(path);
        }

        return true;
    }

    /// <summary>Whether <paramref name="thumbprint"/> is a SHA-256 thumbprint: 64 hex digits (colons allowed between bytes).</summary>
    internal static bool IsSha256Thumbprint(string thumbprint)
    {
        var hex = thumbprint.Replace(":", "", StringComparison.Ordinal);
        return hex.Length == 64 && hex.All(char.IsAsciiHexDigit);
    }

    private void ValidateGrpc(OptionsPath path)
    {
        if (ReconnectDelayMax < ReconnectDelayMaxMin || ReconnectDelayMax > ReconnectDelayMaxMax)
        {
            path.Error(nameof(ReconnectDelayMax), ReconnectDelayMax, $"must be from {ReconnectDelayMaxMin.TotalMilliseconds:0} ms to {ReconnectDelayMaxMax.TotalMinutes:0} min, e.g. 00:00:01");
        }

        for (var i = 0; i < TrustedThumbprints.Count; i++)
        {
            if (!IsSha256Thumbprint(TrustedThumbprints[i] ?? ""))
            {
                path[nameof(TrustedThumbprints)].Error(i.ToString(System.Globalization.CultureInfo.InvariantCulture), TrustedThumbprints[i], "must be a certificate's SHA-256 thumbprint, 64 hex digits (openssl x509 -noout -fingerprint -sha256 -in cert.pem)");
            }
        }

        if (AllowPlaintext)
        {
            if (!string.IsNullOrEmpty(CertificateFile) || RequireClientCertificate)
            {
                path.Error(nameof(AllowPlaintext), AllowPlaintext, "plaintext HTTP/2 and TLS settings (CertificateFile, RequireClientCertificate) exclude each other: remove AllowPlaintext to use TLS, or the TLS settings");
            }

            return;
        }

        if (string.IsNullOrWhiteSpace(CertificateFile))
        {
            path.Error(nameof(CertificateFile), CertificateFile, "a Grpc link uses TLS: set the node's certificate (PEM file) and KeyFile; plaintext (AllowPlaintext: true) is allowed only on loopback addresses");
        }

        if (string.IsNullOrWhiteSpace(KeyFile))
        {
            path.Error(nameof(KeyFile), KeyFile, "set the private key (PEM file) of CertificateFile");
        }

        if (string.IsNullOrWhiteSpace(TrustedCaFile) && TrustedThumbprints.Count == 0)
        {
            path.Error(nameof(TrustedCaFile), TrustedCaFile, "set a CA bundle (PEM) that the peers' certificates chain to, or list their SHA-256 thumbprints in TrustedThumbprints: a peer must be verified");
        }
    }

    private static bool IsMulticast(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (address.GetAddressBytes()[0] & 0xF0) == 0xE0;
}
