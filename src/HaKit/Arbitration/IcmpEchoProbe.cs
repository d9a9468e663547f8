using System.Net;
using System.Net.NetworkInformation;

namespace HaKit.Arbitration;

/// <summary>
/// A reachability probe that sends one ICMP echo request (<see cref="Ping"/>) and waits for the reply: Heartbeat's <c>ping</c>
/// nodes and Pacemaker's <c>ping</c> resource.
/// </summary>
/// <remarks>
/// On Linux, .NET sends the echo over a raw socket when the process may (root or CAP_NET_RAW), else over an unprivileged ICMP
/// datagram socket when the process's group is inside <c>net.ipv4.ping_group_range</c>, else it runs the system <c>ping</c>
/// utility. Any echo reply within the timeout counts; every other outcome (timeout, unreachable, unresolvable name, an error of
/// the platform, cancellation) counts as "does not answer": <see cref="ProbeAsync"/> never throws. Thread-safe: each probe uses
/// its own <see cref="Ping"/>.
/// </remarks>
internal sealed class IcmpEchoProbe : IReachabilityProbe
{
    private static readonly byte[] Payload = "hakit-ipfail"u8.ToArray();
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates a probe.</summary>
    /// <param name="host">Host name or IP address.</param>
    /// <param name="timeout">How long one probe may take, name resolution included. Positive.</param>
    /// <param name="timeProvider">The clock that bounds the wait.</param>
    public IcmpEchoProbe(string host, TimeSpan timeout, TimeProvider timeProvider)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        ArgumentNullException.ThrowIfNull(timeProvider);
        Host = host;
        Timeout = timeout;
        _timeProvider = timeProvider;
        Target = "icmp " + host;
    }

    /// <summary>The host name or address.</summary>
    public string Host { get; }

    /// <summary>The timeout of one probe.</summary>
    public TimeSpan Timeout { get; }

    /// <inheritdoc />
    public string Target { get; }

    /// <inheritdoc />
    /// <returns><see langword="true"/> if an echo reply came within the timeout; otherwise <see langword="false"/>.</returns>
    public async ValueTask<bool> ProbeAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        try
        {
            // Ping runs its own timeout on the system clock; the linked token also bounds name resolution and the fallback to the
            // ping utility on the node's clock.
            using var timeout = new CancellationTokenSource(Timeout, _timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
            using var ping = new Ping();
            var reply = IPAddress.TryParse(Host, out var address)
                ? await ping.SendPingAsync(address, Timeout, Payload, null, linked.Token).ConfigureAwait(false)
                : await ping.SendPingAsync(Host, Timeout, Payload, null, linked.Token).ConfigureAwait(false);
            return reply.Status == IPStatus.Success;
        }
        catch (Exception)
        {
            // Timed out, unreachable, unresolvable, not permitted or cancelled: the contract is "does not answer", never an exception.
            return false;
        }
    }

    /// <inheritdoc />
    public override string ToString() => Target;
}
