using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace HaKit.Transport;

/// <summary>Source-generated log messages of the heartbeat transports.</summary>
internal static partial class TransportLog
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Link {Link}: listening on {EndPoint}")]
    public static partial void Started(ILogger logger, string link, string endPoint);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Link {Link}: joined multicast group {Group}:{Port} on interface {Interface} (ttl {Ttl}, loopback {Loopback})")]
    public static partial void JoinedGroup(ILogger logger, string link, string group, int port, string @interface, int ttl, bool loopback);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Link {Link}: stopped")]
    public static partial void Stopped(ILogger logger, string link);

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "Link {Link}: receive failed ({SocketError})")]
    public static partial void ReceiveFailed(ILogger logger, string link, SocketError socketError, Exception error);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Debug, Message = "Link {Link}: ignored ICMP-driven receive error {SocketError}")]
    public static partial void ReceiveIcmpIgnored(ILogger logger, string link, SocketError socketError);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Warning, Message = "Link {Link}: send to {Destination} failed ({SocketError})")]
    public static partial void SendFailed(ILogger logger, string link, string destination, SocketError socketError, Exception error);

    [LoggerMessage(EventId = 1016, Level = LogLevel.Warning, Message = "Link {Link}: send to {Destination} failed ({SocketError}: {Message})")]
    public static partial void SendFailedExpected(ILogger logger, string link, string destination, SocketError socketError, string message);

    [LoggerMessage(EventId = 1017, Level = LogLevel.Warning, Message = "Link {Link}: receive failed ({SocketError}: {Message})")]
    public static partial void ReceiveFailedExpected(ILogger logger, string link, SocketError socketError, string message);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Error, Message = "Link {Link}: packet receiver threw")]
    public static partial void ReceiverThrew(ILogger logger, string link, Exception error);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Error, Message = "Link {Link}: fault handler threw while reporting a fault")]
    public static partial void FaultHandlerThrew(ILogger logger, string link, Exception error);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Debug, Message = "Link {Link}: multicast option {Option} not applied")]
    public static partial void OptionNotApplied(ILogger logger, string link, string option, Exception error);

    [LoggerMessage(EventId = 1018, Level = LogLevel.Warning, Message = "Link {Link}: could not size the socket's receive buffer to {Bytes} bytes ({SocketError}); a burst of junk may push heartbeats out")]
    public static partial void ReceiveBufferNotSized(ILogger logger, string link, int bytes, System.Net.Sockets.SocketError socketError);

    [LoggerMessage(EventId = 1019, Level = LogLevel.Debug, Message = "Link {Link}: socket not connected to its peer {Peer} ({SocketError}); datagrams from other sources are filtered by the link instead of the kernel")]
    public static partial void NotConnected(ILogger logger, string link, string peer, System.Net.Sockets.SocketError socketError);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Warning, Message = "Link {Link}: the receive thread did not end within {Milliseconds} ms of closing the socket (a packet receiver still busy?)")]
    public static partial void ReceiveThreadNotEnded(ILogger logger, string link, double milliseconds);
}
