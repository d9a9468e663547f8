using System.Net;
using Microsoft.Extensions.Logging;

namespace HaKit.Grpc;

/// <summary>Source-generated log messages of the gRPC link.</summary>
internal static partial class GrpcLinkLog
{
    [LoggerMessage(120, LogLevel.Information, "link {Link}: serving gRPC heartbeats on {EndPoint} ({Security})")]
    public static partial void Serving(ILogger logger, string link, EndPoint endPoint, string security);

    [LoggerMessage(121, LogLevel.Information, "link {Link}: stream to node {Peer} ({EndPoint}) is up")]
    public static partial void Connected(ILogger logger, string link, string peer, EndPoint endPoint);

    [LoggerMessage(122, LogLevel.Information, "link {Link}: stream to node {Peer} ended: {How}")]
    public static partial void Ended(ILogger logger, string link, string peer, string how);

    [LoggerMessage(123, LogLevel.Warning, "link {Link}: node {Peer}: {Evidence}: its process is probably gone (crash hint)")]
    public static partial void CrashHint(ILogger logger, string link, string peer, string evidence);

    [LoggerMessage(124, LogLevel.Debug, "link {Link}: connecting to node {Peer} failed ({Error}); next attempt in {DelayMs:0} ms")]
    public static partial void ConnectFailed(ILogger logger, string link, string peer, string error, double delayMs);

    [LoggerMessage(125, LogLevel.Warning, "link {Link}: refused a peer's TLS client certificate ({Subject}): not pinned and not issued by the trusted CA")]
    public static partial void ClientCertificateRefused(ILogger logger, string link, string subject);

    [LoggerMessage(126, LogLevel.Information, "link {Link}: stream to node {Peer} ended ({How}) but the reconnect was not refused ({Error}): no crash hint")]
    public static partial void NoHint(ILogger logger, string link, string peer, string how, string error);

    [LoggerMessage(127, LogLevel.Debug, "link {Link}: connection-loss path warmed up in {Ms:0.0} ms ({How}; reconnect refused: {Refused})")]
    public static partial void WarmedUp(ILogger logger, string link, double ms, string how, bool refused);

    [LoggerMessage(131, LogLevel.Debug, "link {Link}: the server's connection-loss path warmed up in {Ms:0.0} ms (own stream closed without goodbye; the client read: {How})")]
    public static partial void ServerWarmedUp(ILogger logger, string link, double ms, string how);

    [LoggerMessage(132, LogLevel.Debug, "link {Link}: the server's connection-loss path is not warmed up: this node's own certificate is not one its server accepts (peers pinned by thumbprint); the first peer crash runs it cold")]
    public static partial void ServerWarmUpSkipped(ILogger logger, string link);

    [LoggerMessage(129, LogLevel.Information, "link {Link}: connection to node {Peer} ended without goodbye but its port still answers ({Seen}): no crash hint from the watcher")]
    public static partial void WatcherNoHint(ILogger logger, string link, string peer, string seen);

    [LoggerMessage(130, LogLevel.Debug, "link {Link}: the kernel ended the connection to node {Peer} (bytes unread: {Unread}; goodbye heard: {Goodbye}; hinted already: {Hinted})")]
    public static partial void WatcherSawEnd(ILogger logger, string link, string peer, int unread, bool goodbye, bool hinted);

    [LoggerMessage(128, LogLevel.Debug, "link {Link}: warming up the connection-loss path failed: {Error}")]
    public static partial void WarmUpFailed(ILogger logger, string link, string error);
}
