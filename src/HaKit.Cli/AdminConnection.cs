using System.Security.Cryptography;
using Grpc.Net.Client;
using HaKit.Admin;

namespace HaKit.Cli;

/// <summary>
/// A parsed admin endpoint: <c>unix:/path/to/node.admin.sock</c> or <c>https://host:port</c> (mutual TLS with
/// <c>--cert</c>/<c>--key</c>, the server checked against <c>--ca</c> when given, else against the system's roots).
/// </summary>
/// <param name="Text">The endpoint as the operator wrote it (for messages).</param>
/// <param name="SocketPath">The Unix socket's path (<see langword="null"/> for https).</param>
/// <param name="Address">The https address (<see langword="null"/> for a Unix socket).</param>
internal sealed record AdminEndpoint(string Text, string? SocketPath, Uri? Address)
{
    /// <summary>Parses <paramref name="text"/> as <see cref="AdminChannel"/> does; a usage error (exit 2) when it is neither form.</summary>
    public static AdminEndpoint Parse(string text) =>
        AdminEndpointText.TryParse(text, out var socketPath, out var address, out var error)
            ? new AdminEndpoint(text, socketPath, address)
            : throw new CliException(ExitCodes.Usage, $"--endpoint {error}: expected unix:/path/to/<node>.admin.sock or https://host:port");
}

/// <summary>Client certificate files for an https endpoint (mutual TLS).</summary>
/// <param name="CertificateFile">PEM certificate presented to the node (<c>--cert</c>).</param>
/// <param name="KeyFile">Its PEM private key (<c>--key</c>).</param>
/// <param name="CaFile">PEM certificate(s) of the authority that signed the node's certificate (<c>--ca</c>); <see langword="null"/> = system roots.</param>
internal sealed record TlsFiles(string? CertificateFile, string? KeyFile, string? CaFile);

/// <summary>
/// Opens the channel to a node's admin API through <see cref="AdminChannel"/> (the one place that knows how to connect), turning
/// the tool's options into its arguments and every mistake in them into a usage error (exit 2) that names the option.
/// </summary>
internal static class AdminConnection
{
    /// <summary>
    /// A channel to <paramref name="endpoint"/>. Connecting gives up after <paramref name="timeout"/>; a silent connection is
    /// detected by HTTP/2 pings (every 5 s, unanswered for <paramref name="timeout"/>).
    /// </summary>
    public static GrpcChannel Create(AdminEndpoint endpoint, TlsFiles tls, TimeSpan timeout)
    {
        var options = new AdminChannelOptions { ConnectTimeout = timeout, KeepAlivePingDelay = TimeSpan.FromSeconds(5), KeepAlivePingTimeout = timeout };
        if (endpoint.SocketPath is not null)
        {
            if (tls.CertificateFile is not null || tls.KeyFile is not null || tls.CaFile is not null)
            {
                throw new CliException(ExitCodes.Usage, $"--cert/--key/--ca are for https endpoints; {endpoint.Text} is a Unix socket (its file mode decides who may use it)");
            }

            return AdminChannel.Create(endpoint.Text, null, options);
        }

        if ((tls.CertificateFile is null) != (tls.KeyFile is null))
        {
            throw new CliException(ExitCodes.Usage, "--cert and --key go together: the client certificate and its private key (PEM files)");
        }

        if (tls.CertificateFile is null)
        {
            throw new CliException(ExitCodes.Usage,
                $"{endpoint.Text} is a node's mutual-TLS endpoint: it answers only a client certificate it trusts; pass --cert and --key (PEM files), and --ca to check the node's certificate");
        }

        if (tls.CaFile is not null)
        {
            try
            {
                foreach (var authority in AdminCertificates.LoadPemBundle(tls.CaFile))
                {
                    authority.Dispose();
                }
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new CliException(ExitCodes.Usage, $"--ca {tls.CaFile}: cannot load the authority's certificate: {ex.Message}");
            }
        }

        var credentials = new AdminClientCredentials { CertificateFile = tls.CertificateFile, KeyFile = tls.KeyFile!, ServerCaFile = tls.CaFile };
        try
        {
            return AdminChannel.Create(endpoint.Text, credentials, options);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new CliException(ExitCodes.Usage, $"--cert {tls.CertificateFile} --key {tls.KeyFile}: cannot load the client certificate: {ex.Message}");
        }
    }
}
