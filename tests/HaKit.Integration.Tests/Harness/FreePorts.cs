using System.Net;
using System.Net.Sockets;

namespace HaKit.Integration.Harness;

/// <summary>Free loopback ports, chosen by the kernel (bind to port 0) and released at once for the process under test.</summary>
public static class FreePorts
{
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Handed = [];

    /// <summary>A UDP port free on 127.0.0.1 right now (not handed out before by this process).</summary>
    public static int Udp() => Pick(() =>
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    });

    /// <summary>A TCP port free on 127.0.0.1 right now (not handed out before by this process).</summary>
    public static int Tcp() => Pick(() =>
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    });

    private static int Pick(Func<int> bind)
    {
        // The kernel hands out ephemeral ports in sequence, so a repeat is rare; skip it anyway so that two
        // pairs started by one process never share a port.
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var port = bind();
            lock (Gate)
            {
                if (Handed.Add(port))
                {
                    return port;
                }
            }
        }

        throw new InvalidOperationException("no free loopback port found in 50 attempts");
    }
}
