namespace HaKit.Hosting;

/// <summary>Where this node serves its admin API (registered by <c>AddHaKit()</c>; known once the host has started).</summary>
public interface IHaKitAdminEndpoint
{
    /// <summary>
    /// The admin endpoint as the <c>hakit</c> tool takes it: <c>unix:/absolute/path/node.admin.sock</c>; <see langword="null"/> before
    /// start or when <c>HaKit:Admin:Enabled</c> is false.
    /// </summary>
    string? Endpoint { get; }

    /// <summary>The mutual-TLS TCP endpoint (<c>https://address:port</c>), or <see langword="null"/> when none is configured.</summary>
    string? TcpEndpoint { get; }
}
