namespace HaKit.Admin;

/// <summary>How <see cref="AdminChannel"/> connects: how long a connection attempt may take, and how a silent connection is noticed.</summary>
public sealed class AdminChannelOptions
{
    /// <summary>How long connecting (and the TLS handshake) may take. <value>Default 10 s.</value></summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The interval of HTTP/2 pings on an idle connection, so that a watch on a node that vanished (a host without power)
    /// ends instead of waiting forever. <value>Default 5 s; <see cref="Timeout.InfiniteTimeSpan"/> sends none.</value>
    /// </summary>
    public TimeSpan KeepAlivePingDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a ping may go unanswered before the connection is closed. <value>Default 10 s (at least 1 s).</value></summary>
    public TimeSpan KeepAlivePingTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
