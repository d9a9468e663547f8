using System.Net;
using System.Net.Sockets;

namespace HaKit.Arbitration;

/// <summary>
/// The syntax of <see cref="ArbiterOptions.PingTargets"/>: <c>icmp:host</c> (ICMP echo), <c>tcp:host:port</c> (TCP connect), or the
/// older <c>host:port</c>, which stays a TCP connect. A host is a name, an IPv4 address, or an IPv6 address (in brackets when a port
/// follows: <c>tcp:[fd00::1]:443</c>; <c>icmp:fd00::1</c> and <c>icmp:[fd00::1]</c> are both accepted).
/// </summary>
internal static class ReachabilityTarget
{
    /// <summary>The prefix of an ICMP echo target.</summary>
    public const string IcmpPrefix = "icmp:";

    /// <summary>The prefix of a TCP connect target.</summary>
    public const string TcpPrefix = "tcp:";

    /// <summary>What a valid target looks like (for error messages).</summary>
    public const string Syntax = "icmp:host (ICMP echo), tcp:host:port or host:port (TCP connect); IPv6 in brackets before a port, e.g. icmp:10.0.0.1, tcp:gateway.example:443, [fd00::1]:80";

    /// <summary>Creates the probe for a target.</summary>
    /// <param name="target">The configured target.</param>
    /// <param name="timeout">How long one probe may take. Positive.</param>
    /// <param name="timeProvider">The clock that runs the timeout.</param>
    /// <returns>An <see cref="IcmpEchoProbe"/> or a <see cref="TcpConnectProbe"/>.</returns>
    /// <exception cref="FormatException">The target is not valid; the message says why.</exception>
    public static IReachabilityProbe Create(string target, TimeSpan timeout, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(target);
        var text = target.Trim();
        if (text.StartsWith(IcmpPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var host = ParseIcmpHost(target, text[IcmpPrefix.Length..]);
            return new IcmpEchoProbe(host, timeout, timeProvider);
        }

        if (text.StartsWith(TcpPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return TcpConnectProbe.Parse(text[TcpPrefix.Length..], timeout, timeProvider);
        }

        return TcpConnectProbe.Parse(text, timeout, timeProvider);
    }

    /// <summary>Checks a target's syntax.</summary>
    /// <param name="target">The configured target.</param>
    /// <param name="error">Why it is not valid.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool TryValidate(string? target, out string error)
    {
        if (string.IsNullOrWhiteSpace(target))
        {
            error = "the target is empty";
            return false;
        }

        try
        {
            _ = Create(target, TimeSpan.FromSeconds(1), TimeProvider.System);
            error = "";
            return true;
        }
        catch (FormatException e)
        {
            error = e.Message;
            return false;
        }
    }

    private static string ParseIcmpHost(string target, string host)
    {
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
            if (!IPAddress.TryParse(host, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                throw Bad(target, $"'{host}' between brackets is not an IPv6 address");
            }
        }

        if (host.Length == 0 || host.Any(char.IsWhiteSpace) || host.Contains('/', StringComparison.Ordinal))
        {
            throw Bad(target, "the host is missing or contains spaces");
        }

        if (host.Contains(':', StringComparison.Ordinal) && !IPAddress.TryParse(host, out _))
        {
            throw Bad(target, "an ICMP target has no port (icmp:host); use tcp:host:port for a TCP connect");
        }

        return host;
    }

    private static FormatException Bad(string target, string why) => new($"Invalid reachability target '{target}': {why}. Expected {Syntax}.");
}
