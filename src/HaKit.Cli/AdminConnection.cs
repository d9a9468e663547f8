using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;

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
    /// <summary>Parses <paramref name="text"/>; a usage error (exit 2) when it is neither form.</summary>
    public static AdminEndpoint Parse(string text)
    {
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = text["unix:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                path = path[2..]; // unix:///run/x.sock
            }

            if (path.Length == 0)
            {
                throw new CliException(ExitCodes.Usage, $"--endpoint {text}: give the socket's path, e.g. unix:/var/lib/hakit/a.admin.sock");
            }

            return new AdminEndpoint(text, Path.GetFullPath(path), null);
        }

        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttps && uri.AbsolutePath is "/" or "")
        {
            return new AdminEndpoint(text, null, uri);
        }

        throw new CliException(ExitCodes.Usage, $"--endpoint {text}: expected unix:/path/to/<node>.admin.sock or https://host:port");
    }
}

/// <summary>Client certificate files for an https endpoint (mutual TLS).</summary>
/// <param name="CertificateFile">PEM certificate presented to the node (<c>--cert</c>).</param>
/// <param name="KeyFile">Its PEM private key (<c>--key</c>).</param>
/// <param name="CaFile">PEM certificate(s) of the authority that signed the node's certificate (<c>--ca</c>); <see langword="null"/> = system roots.</param>
internal sealed record TlsFiles(string? CertificateFile, string? KeyFile, string? CaFile);

/// <summary>
/// Creates the gRPC channel to a node's admin API. This is the only place that knows how to connect; it is meant to be replaced
/// by <c>HaKit.Admin.AdminChannel.Create</c> once that exists.
/// </summary>
internal static class AdminConnection
{
    /// <summary>A channel to <paramref name="endpoint"/>. Connecting gives up after <paramref name="timeout"/>; a silent connection is detected by HTTP/2 pings.</summary>
    public static GrpcChannel Create(AdminEndpoint endpoint, TlsFiles tls, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = timeout,
            KeepAlivePingDelay = TimeSpan.FromSeconds(5),
            KeepAlivePingTimeout = timeout < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : timeout, // its minimum
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            EnableMultipleHttp2Connections = false,
        };

        if (endpoint.SocketPath is { } socketPath)
        {
            if (tls.CertificateFile is not null || tls.KeyFile is not null || tls.CaFile is not null)
            {
                throw new CliException(ExitCodes.Usage, $"--cert/--key/--ca are for https endpoints; {endpoint.Text} is a Unix socket (its file mode decides who may use it)");
            }

            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    bounded.CancelAfter(timeout);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), bounded.Token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
            return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        }

        handler.SslOptions = ClientTls(tls);
        return GrpcChannel.ForAddress(endpoint.Address!, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }

    private static SslClientAuthenticationOptions ClientTls(TlsFiles tls)
    {
        var options = new SslClientAuthenticationOptions();
        if ((tls.CertificateFile is null) != (tls.KeyFile is null))
        {
            throw new CliException(ExitCodes.Usage, "--cert and --key go together: the client certificate and its private key (PEM files)");
        }

        if (tls.CertificateFile is not null)
        {
            try
            {
                options.ClientCertificates = [X509Certificate2.CreateFromPemFile(tls.CertificateFile, tls.KeyFile)];
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new CliException(ExitCodes.Usage, $"--cert {tls.CertificateFile} --key {tls.KeyFile}: cannot load the client certificate: {ex.Message}");
            }
        }

        if (tls.CaFile is not null)
        {
            X509Certificate2Collection authorities = [];
            try
            {
                authorities.ImportFromPemFile(tls.CaFile);
            }
            catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new CliException(ExitCodes.Usage, $"--ca {tls.CaFile}: cannot load the authority's certificate: {ex.Message}");
            }

            options.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
                {
                    return false;
                }

                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                using var leaf = new X509Certificate2(certificate);
                return chain.Build(leaf);
            };
        }

        return options;
    }
}
