using System.Net;

namespace HaKit.Replication;

/// <summary>Where a node's replication transport listens and where its peer is.</summary>
public sealed class ReplicationTransportOptions
{
    /// <summary>This node's id (for example <c>a</c>). Of the two nodes, the one whose id sorts first (ordinal) dials.</summary>
    public string NodeId { get; set; } = "";

    /// <summary>The address this node's replication server binds (for example 127.0.0.1:7511).</summary>
    public IPEndPoint? Listen { get; set; }

    /// <summary>The peer's id.</summary>
    public string PeerId { get; set; } = "";

    /// <summary>The peer's replication address (for example 127.0.0.1:7512).</summary>
    public IPEndPoint? Peer { get; set; }

    /// <summary>
    /// What carries the streams: <see cref="ReplicationProtocol.Tcp"/> (the default: a TCP connection per group) or
    /// <see cref="ReplicationProtocol.Grpc"/> (a gRPC stream per group over HTTP/2). Both nodes must use the same.
    /// </summary>
    public ReplicationProtocol Protocol { get; set; } = ReplicationProtocol.Tcp;

    /// <summary>
    /// TLS on the stream (the same settings as a Grpc link's). <see langword="null"/> (the default) or
    /// <see cref="ReplicationTlsOptions.AllowPlaintext"/>: plaintext (TCP, or HTTP/2 without TLS), allowed only when <see cref="Listen"/> and
    /// <see cref="Peer"/> are loopback addresses.
    /// </summary>
    public ReplicationTlsOptions? Tls { get; set; }

    /// <summary>The configuration key of <see cref="Tls"/> in messages about its files.</summary>
    internal string TlsKey { get; set; } = "Replication:Transport:Tls";

    /// <summary>How long the dialer waits between connection attempts. Default 200 ms.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Checks the settings.</summary>
    /// <param name="key">The configuration key prefix for messages.</param>
    /// <exception cref="HaKitConfigurationException">A setting is invalid; the message names the key, the value and the fix.</exception>
    public void Validate(string key = "Replication:Transport")
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(NodeId))
        {
            errors.Add($"{key}:NodeId = '{NodeId}': empty; give this node's id");
        }

        if (string.IsNullOrWhiteSpace(PeerId) || string.Equals(PeerId, NodeId, StringComparison.Ordinal))
        {
            errors.Add($"{key}:PeerId = '{PeerId}': empty or the same as NodeId; give the peer's id");
        }

        if (Listen is null)
        {
            errors.Add($"{key}:Listen = '': missing; give the address this node's replication server binds, e.g. 127.0.0.1:7511");
        }

        if (Peer is null)
        {
            errors.Add($"{key}:Peer = '': missing; give the peer's replication address, e.g. 127.0.0.1:7512");
        }

        if (Tls is null)
        {
            foreach (var address in new[] { Listen, Peer }.OfType<IPEndPoint>().Where(a => !IPAddress.IsLoopback(a.Address)))
            {
                errors.Add($"{key}:Tls = (none): the replication address {address} is not a loopback address; plaintext is only for loopback addresses (127.0.0.1, ::1): set Tls (CertificateFile, KeyFile, TrustedCaFile) on a network address");
            }
        }
        else
        {
            errors.AddRange(Tls.Validate($"{key}:Tls", new[] { Listen, Peer }.OfType<IPEndPoint>()));
        }

        if (!Enum.IsDefined(Protocol))
        {
            errors.Add($"{key}:Protocol = {(int)Protocol}: unknown; use Tcp or Grpc");
        }

        if (ReconnectDelay <= TimeSpan.Zero)
        {
            errors.Add($"{key}:ReconnectDelay = {ReconnectDelay}: not positive; use e.g. 00:00:00.2");
        }

        if (errors.Count > 0)
        {
            throw new HaKitConfigurationException(errors);
        }
    }
}
