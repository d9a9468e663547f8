using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;

namespace HaKit.Admin;

/// <summary>
/// Opens a gRPC channel to a node's admin API from an endpoint string as the node reports it: <c>unix:/abs/path/node.admin.sock</c>
/// (the default, a Unix domain socket) or <c>https://host:port</c> (the optional TCP endpoint, mutual TLS: pass
/// <see cref="AdminClientCredentials"/>). Use it with <see cref="V1.ClusterAdmin.ClusterAdminClient"/>.
/// </summary>
public static class AdminChannel
{
    /// <summary>Creates a channel to the admin endpoint.</summary>
    /// <param name="endpoint"><c>unix:/absolute/path</c> or <c>https://host:port</c>.</param>
    /// <param name="tls">Client certificate and server checks for an https endpoint (required there; ignored for unix:).</param>
    /// <returns>The channel (dispose it when done).</returns>
    /// <exception cref="ArgumentException">The endpoint is neither form, or an https endpoint was given without credentials.</exception>
    public static GrpcChannel Create(string endpoint, AdminClientCredentials? tls = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        if (endpoint.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = endpoint["unix:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                // unix:///abs/path (URI form) is accepted too.
                path = path[2..];
            }

            if (path.Length == 0)
            {
                throw new ArgumentException($"Admin endpoint '{endpoint}' names no socket path; use unix:/absolute/path/node.admin.sock.", nameof(endpoint));
            }

            var socketPath = Path.GetFullPath(path);
            var handler = new SocketsHttpHandler
            {
                ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken).ConfigureAwait(false);
                        return new NetworkStream(socket, ownsSocket: true);
                    }
                    catch
                    {
                        socket.Dispose();
                        throw;
                    }
                },
            };
            return GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        }

        if (endpoint.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            if (tls is null)
            {
                throw new ArgumentException(
                    $"Admin endpoint '{endpoint}' is mutual TLS: pass the client certificate and key (AdminClientCredentials).", nameof(tls));
            }

            var clientCertificate = tls.LoadClientCertificate();
            var roots = tls.ServerCaFile is { Length: > 0 } ca ? AdminCertificates.LoadPemBundle(ca) : null;
            var thumbprints = tls.ServerThumbprints.Select(AdminCertificates.NormaliseThumbprint).ToArray();
            var handler = new SocketsHttpHandler
            {
                SslOptions = new SslClientAuthenticationOptions
                {
                    ClientCertificates = new X509CertificateCollection { clientCertificate },
                    RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                        roots is null && thumbprints.Length == 0
                            ? errors == SslPolicyErrors.None
                            // A pinned or private-CA server certificate is checked by its chain or thumbprint, not by its host name.
                            : AdminCertificates.IsAccepted(certificate, roots, thumbprints, errors),
                },
            };
            return GrpcChannel.ForAddress(endpoint, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        }

        throw new ArgumentException($"Admin endpoint '{endpoint}' is neither unix:/path nor https://host:port.", nameof(endpoint));
    }
}
