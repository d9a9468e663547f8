using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HaKit.Arbitration;

/// <summary>
/// A reachability probe that opens a TCP connection to <c>host:port</c> and closes it at once: the target answers
/// if the connection is established within the timeout (Heartbeat's <c>ping</c> nodes, without needing raw ICMP sockets).
/// </summary>
/// <remarks>
/// Any established connection counts, whatever the service behind the port does next. A refused connection, a host
/// or name that cannot be reached, the timeout, or cancellation by the caller all count as "does not answer";
/// <see cref="ProbeAsync"/> never throws. Thread-safe: concurrent probes use separate sockets.
/// </remarks>
internal sealed class TcpConnectProbe : IReachabilityProbe
{
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates a probe.</summary>
    /// <param name="host">Host name or IP address (IPv6 without brackets).</param>
    /// <param name="port">TCP port, 1..65535.</param>
    /// <param name="timeout">How long one probe may take, name resolution included. Positive.</param>
    /// <param name="timeProvider">The clock that runs the timeout.</param>
    /// <exception cref="ArgumentException">An argument is out of range.</exception>
    public TcpConnectProbe(string host, int port, TimeSpan timeout, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, IPEndPoint.MinPort + 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(timeProvider);
        Host = host;
        Port = port;
        Timeout = timeout;
        _timeProvider = timeProvider;
        Target = host.Contains(':', StringComparison.Ordinal)
            ? string.Create(CultureInfo.InvariantCulture, $"tcp [{host}]:{port}")
            : string.Create(CultureInfo.InvariantCulture, $"tcp {host}:{port}");
    }

    /// <summary>The host name or address.</summary>
    public string Host { get; }

    /// <summary>The TCP port.</summary>
    public int Port { get; }

    /// <summary>The timeout of one probe.</summary>
    public TimeSpan Timeout { get; }

    /// <inheritdoc />
    public string Target { get; }

    /// <summary>
    /// Parses <c>host:port</c>, <c>1.2.3.4:port</c> or <c>[ipv6]:port</c> (as in <see cref="ArbiterOptions.PingTargets"/>) into a probe.
    /// </summary>
    /// <param name="hostPort">The target.</param>
    /// <param name="timeout">How long one probe may take. Positive.</param>
    /// <param name="timeProvider">The clock that runs the timeout.</param>
    /// <returns>The probe.</returns>
    /// <exception cref="FormatException"><paramref name="hostPort"/> is not a valid <c>host:port</c>; the message says why.</exception>
    /// <exception cref="ArgumentException"><paramref name="timeout"/> is not positive, or an argument is <see langword="null"/>.</exception>
    public static TcpConnectProbe Parse(string hostPort, TimeSpan timeout, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(hostPort);
        var text = hostPort.Trim();
        string host;
        string portText;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                throw BadTarget(hostPort, "a bracketed IPv6 address must be followed by ':port', as in [fd00::1]:80");
            }

            host = text[1..close];
            portText = text[(close + 2)..];
            if (!IPAddress.TryParse(host, out var address) || address.AddressFamily != AddressFamily.InterNetworkV6)
            {
                throw BadTarget(hostPort, $"'{host}' between brackets is not an IPv6 address");
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon < 0)
            {
                throw BadTarget(hostPort, "the port is missing");
            }

            if (text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                throw BadTarget(hostPort, "an IPv6 address must be written in brackets, as in [fd00::1]:80");
            }

            host = text[..colon];
            portText = text[(colon + 1)..];
        }

        if (host.Length == 0 || host.Any(char.IsWhiteSpace))
        {
            throw BadTarget(hostPort, "the host is missing or contains spaces");
        }

        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port < 1 || port > IPEndPoint.MaxPort)
        {
            throw BadTarget(hostPort, $"the port '{portText}' is not a number from 1 to {IPEndPoint.MaxPort}");
        }

        return new TcpConnectProbe(host, port, timeout, timeProvider);
    }

    /// <inheritdoc />
    /// <returns><see langword="true"/> if a TCP connection was established within the timeout; otherwise <see langword="false"/>.</returns>
    public async ValueTask<bool> ProbeAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        try
        {
            using var timeout = new CancellationTokenSource(Timeout, _timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            using var socket = IPAddress.TryParse(Host, out var address)
                ? new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
                : new Socket(SocketType.Stream, ProtocolType.Tcp);
            if (address is not null)
            {
                await socket.ConnectAsync(address, Port, linked.Token).ConfigureAwait(false);
            }
            else
            {
                await socket.ConnectAsync(Host, Port, linked.Token).ConfigureAwait(false);
            }

            return socket.Connected;
        }
        catch (Exception)
        {
            // Refused, unreachable, unresolvable, timed out or cancelled: the contract is "does not answer", never an exception.
            return false;
        }
    }

    /// <inheritdoc />
    public override string ToString() => Target;

    private static FormatException BadTarget(string hostPort, string why) =>
        new($"Invalid reachability target '{hostPort}': {why}. Expected host:port, a.b.c.d:port or [ipv6]:port.");
}
