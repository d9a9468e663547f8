namespace HaKit.Replication;

/// <summary>What carries a node's replication streams (<see cref="ReplicationTransportOptions.Protocol"/>).</summary>
public enum ReplicationProtocol
{
    /// <summary>
    /// One TCP connection per group with length-prefixed protobuf frames (TLS by <c>SslStream</c> as configured): a
    /// quarter of gRPC's round trip on loopback in docs/benchmarks.md, so the default.
    /// </summary>
    Tcp = 0,

    /// <summary>One gRPC bidirectional stream per group over HTTP/2 (Kestrel server, Grpc.Net.Client dialer).</summary>
    Grpc = 1,
}
