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
    /// <summary>Creates a channel to the admin endpoint with the default <see cref="AdminChannelOptions"/>.</summary>
    /// <param name="endpoint"><c>unix:/absolute/path</c> or <c>https://host:port</c>.</param>
    /// <param name="tls">Client certificate and server checks for an https endpoint (required there; ignored for unix:).</param>
    /// <returns>The channel (dispose it when done).</returns>
    /// <exception cref="ArgumentException">The endpoint is neither form, or an https endpoint was given without credentials.</exception>
    public static GrpcChannel Create(string endpoint, AdminClientCredentials? tls = null) => Create(endpoint, tls, new AdminChannelOptions());

    /// <summary>Creates a channel to the admin endpoint.</summary>
    /// <param name="endpoint"><c>unix:/absolute/path</c> or <c>https://host:port</c>.</param>
    /// <param name="tls">Client certificate and server checks for an https endpoint (required there; ignored for unix:).</param>
    /// <param name="options">Connect timeout and keep-alive pings.</param>
    /// <returns>The channel (dispose it when done).</returns>
    /// <exception cref="ArgumentException">The endpoint is neither form, or an https endpoint was given without credentials.</exception>
    public static GrpcChannel Create(string endpoint, AdminClientCredentials? tls, AdminChannelOptions options)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(endpoint);
        ArgumentNullException.ThrowIfNull(options);
        if (!AdminEndpointText.TryParse(endpoint, out var socketPath, out var address, out var error))
        {
            throw new ArgumentException($"Admin endpoint {error}; use unix:/absolute/path/node.admin.sock or https://host:port.", nameof(endpoint));
        }

        var connectTimeout = options.ConnectTimeout;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = connectTimeout,
            KeepAlivePingDelay = options.KeepAlivePingDelay,
            KeepAlivePingTimeout = options.KeepAlivePingTimeout < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : options.KeepAlivePingTimeout,
            KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
            EnableMultipleHttp2Connections = false,
        };

        if (socketPath is not null)
        {
            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    bounded.CancelAfter(connectTimeout);
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

        if (tls is null)
        {
            throw new ArgumentException(
                $"Admin endpoint '{endpoint}' is mutual TLS: pass the client certificate and key (AdminClientCredentials).", nameof(tls));
        }

        var clientCertificate = tls.LoadClientCertificate();
        var roots = tls.ServerCaFile is { Length: > 0 } ca ? AdminCertificates.LoadPemBundle(ca) : null;
        var thumbprints = tls.ServerThumbprints.Select(AdminCertificates.NormaliseThumbprint).ToArray();
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            ClientCertificates = new X509CertificateCollection { clientCertificate },
            RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                roots is null && thumbprints.Length == 0
                    ? errors == SslPolicyErrors.None
                    // A pinned or private-CA server certificate is checked by its chain or thumbprint, not by its host name.
                    : AdminCertificates.IsAccepted(certificate, roots, thumbprints, errors),
        };
        return GrpcChannel.ForAddress(address!, new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
    }
}
