using System.Net;

namespace HaKit;

/// <summary>
/// The node's admin API (<c>hakit.admin.v1</c>, gRPC), served by HaKit.Hosting: by default on the Unix socket
/// <c>&lt;StateDirectory&gt;/&lt;NodeName&gt;.admin.sock</c> with mode 0600 (only the node's user can operate it); on TCP only when
/// <see cref="AdminTcpOptions.Endpoint"/> is set, and then with mutual TLS only. A <see cref="ClusterNode"/> used without
/// HaKit.Hosting serves nothing: these settings are read by the hosting layer.
/// </summary>
public sealed class AdminOptions
{
    /// <summary>Fewest events <see cref="EventBuffer"/> may hold.</summary>
    public const int EventBufferMin = 16;

    /// <summary>Most events <see cref="EventBuffer"/> may hold.</summary>
    public const int EventBufferMax = 1_000_000;

    /// <summary>Longest Unix socket path in bytes (Linux <c>sun_path</c> holds 108 bytes with the terminating zero).</summary>
    public const int SocketPathMaxBytes = 107;

    /// <summary>Whether the node serves the admin API. <value>Default true.</value></summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The Unix socket's path; empty = <c>&lt;StateDirectory&gt;/&lt;NodeName&gt;.admin.sock</c>. Relative paths are taken from the working directory. <value>Default empty.</value></summary>
    public string SocketPath { get; set; } = "";

    /// <summary>How many of the latest events the node keeps for watchers that reconnect (older ones are reported as a gap). <value>Default 4096.</value></summary>
    public int EventBuffer { get; set; } = 4096;

    /// <summary>The optional TCP endpoint (mutual TLS). <value>Default: none.</value></summary>
    public AdminTcpOptions Tcp { get; set; } = new();

    /// <summary>The absolute path of the admin socket for the node configured by <paramref name="options"/> (what the <c>hakit</c> tool connects to by default).</summary>
    /// <param name="options">The node's options (its <see cref="HaKitOptions.StateDirectory"/> and <see cref="HaKitOptions.NodeName"/>).</param>
    /// <returns>The absolute socket path.</returns>
    public string ResolveSocketPath(HaKitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Path.GetFullPath(string.IsNullOrWhiteSpace(SocketPath) ? Path.Combine(options.StateDirectory, options.NodeName + ".admin.sock") : SocketPath);
    }

    /// <summary>
    /// Why the resolved socket path cannot be used (longer than <see cref="SocketPathMaxBytes"/>), as a validation message naming
    /// <c>&lt;section&gt;:Admin:SocketPath</c>; null when it can (or the admin API is disabled).
    /// </summary>
    /// <param name="options">The node's options.</param>
    /// <param name="section">The configuration section the options were bound from.</param>
    /// <returns>The message, or null.</returns>
    public string? SocketPathProblem(HaKitOptions options, string section = "HaKit")
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!Enabled || (string.IsNullOrWhiteSpace(options.StateDirectory) && string.IsNullOrWhiteSpace(SocketPath)))
        {
            return null;
        }

        string socket;
        try
        {
            socket = ResolveSocketPath(options);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return $"{section}:Admin:SocketPath = '{SocketPath}': not a usable path ({ex.Message}); set an absolute path such as /run/hakit/{options.NodeName}.admin.sock, or leave it empty for <StateDirectory>/<NodeName>.admin.sock";
        }

        return System.Text.Encoding.UTF8.GetByteCount(socket) <= SocketPathMaxBytes ? null
            : $"{section}:Admin:SocketPath = '{socket}': a Unix socket path holds at most {SocketPathMaxBytes} bytes: set {section}:Admin:SocketPath to a shorter path, e.g. /run/hakit/{options.NodeName}.admin.sock";
    }

    /// <summary>
    /// Checks the event buffer and the TCP endpoint's TLS files. The socket path's length is checked by the hosting layer, which
    /// serves it (<see cref="SocketPathProblem"/>): a <see cref="ClusterNode"/> used on its own serves nothing.
    /// </summary>
    internal void Validate(OptionsPath path)
    {
        if (!Enabled)
        {
            return;
        }

        path.InRange(nameof(EventBuffer), EventBuffer, EventBufferMin, EventBufferMax, " events");
        Tcp.Validate(path[nameof(Tcp)]);
    }
}

/// <summary>The admin API's optional TCP endpoint: HTTPS with mutual TLS (a client without a valid certificate is refused).</summary>
public sealed class AdminTcpOptions
{
    /// <summary>Address and port to listen on, e.g. <c>10.0.0.5:9650</c> or <c>[::]:9650</c>; empty = no TCP endpoint. <value>Default empty.</value></summary>
    public string Endpoint { get; set; } = "";

    /// <summary>The server certificate (PEM file). Required with <see cref="Endpoint"/>.</summary>
    public string CertificateFile { get; set; } = "";

    /// <summary>The server certificate's private key (PEM file, unencrypted). Required with <see cref="Endpoint"/>.</summary>
    public string KeyFile { get; set; } = "";

    /// <summary>CA certificate(s) (PEM file) a client certificate must chain to. This and/or <see cref="ClientThumbprints"/> is required with <see cref="Endpoint"/>.</summary>
    public string ClientCaFile { get; set; } = "";

    /// <summary>SHA-256 thumbprints (64 hex digits; colons allowed) of client certificates accepted as they are.</summary>
    public List<string> ClientThumbprints { get; set; } = [];

    /// <summary>Checks the endpoint and that every TLS file is named and exists.</summary>
    internal void Validate(OptionsPath path)
    {
        if (string.IsNullOrWhiteSpace(Endpoint))
        {
            if (!string.IsNullOrEmpty(CertificateFile) || !string.IsNullOrEmpty(KeyFile) || !string.IsNullOrEmpty(ClientCaFile) || ClientThumbprints.Count > 0)
            {
                path.Error(nameof(Endpoint), Endpoint, "TLS files or thumbprints are set but no endpoint: set Endpoint (e.g. 10.0.0.5:9650) to serve the admin API on TCP, or remove the Tcp settings");
            }

            return;
        }

        if (!IPEndPoint.TryParse(Endpoint, out var endPoint) || endPoint.Port == 0)
        {
            path.Error(nameof(Endpoint), Endpoint, "must be an IP address and a port, e.g. 10.0.0.5:9650 or [::]:9650");
        }

        RequireFile(path, nameof(CertificateFile), CertificateFile, "the server certificate (PEM)");
        RequireFile(path, nameof(KeyFile), KeyFile, "the server certificate's private key (PEM)");
        if (string.IsNullOrEmpty(ClientCaFile) && ClientThumbprints.Count == 0)
        {
            path.Error(nameof(ClientCaFile), ClientCaFile, "the TCP endpoint is mutual TLS only: set ClientCaFile (CA of the client certificates, PEM) and/or ClientThumbprints (SHA-256 of each accepted client certificate)");
        }
        else if (!string.IsNullOrEmpty(ClientCaFile))
        {
            RequireFile(path, nameof(ClientCaFile), ClientCaFile, "the CA certificate(s) of the client certificates (PEM)");
        }

        for (var i = 0; i < ClientThumbprints.Count; i++)
        {
            var hex = (ClientThumbprints[i] ?? "").Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal);
            if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
            {
                path[nameof(ClientThumbprints)][i].Error(ClientThumbprints[i], "must be a SHA-256 thumbprint: 64 hex digits (colons allowed), e.g. from `openssl x509 -noout -fingerprint -sha256 -in client.pem`");
            }
        }
    }

    private static void RequireFile(OptionsPath path, string name, string file, string what)
    {
        if (string.IsNullOrWhiteSpace(file))
        {
            path.Error(name, file, $"required with Endpoint: the path of {what}");
        }
        else if (!File.Exists(file))
        {
            path.Error(name, file, $"file not found: the path of {what}");
        }
    }
}
