using System.Globalization;

namespace HaKit.Integration.Namespaces;

/// <summary>
/// The kernel's UDP counters of one network namespace (the <c>Udp:</c> lines of <c>/proc/&lt;pid&gt;/net/snmp</c> for a process
/// inside it). <see cref="NoPorts"/> counts datagrams no socket would take: with a heartbeat socket connected to its one peer,
/// datagrams to its port from any other address or port end there, before any process sees them.
/// </summary>
/// <param name="InDatagrams">Datagrams delivered to a socket.</param>
/// <param name="NoPorts">Datagrams for which no socket matched (address, port and, for a connected socket, the source).</param>
/// <param name="InErrors">Datagrams dropped on receive (among them a full receive buffer).</param>
/// <param name="RcvbufErrors">Datagrams dropped because a socket's receive buffer was full.</param>
public sealed record UdpCounters(long InDatagrams, long NoPorts, long InErrors, long RcvbufErrors)
{
    /// <summary>The counters of the namespace process <paramref name="pid"/> runs in.</summary>
    public static UdpCounters Of(int pid)
    {
        var udp = File.ReadAllLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/net/snmp").Where(l => l.StartsWith("Udp: ", StringComparison.Ordinal)).ToArray();
        if (udp.Length != 2)
        {
            throw new InvalidOperationException($"/proc/{pid}/net/snmp has no Udp: header and value lines");
        }

        var names = udp[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var values = udp[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long Get(string name) => long.Parse(values[Array.IndexOf(names, name)], CultureInfo.InvariantCulture);
        return new UdpCounters(Get("InDatagrams"), Get("NoPorts"), Get("InErrors"), Get("RcvbufErrors"));
    }

    /// <summary>What changed from <paramref name="before"/> to this.</summary>
    public UdpCounters Since(UdpCounters before) =>
        new(InDatagrams - before.InDatagrams, NoPorts - before.NoPorts, InErrors - before.InErrors, RcvbufErrors - before.RcvbufErrors);
}
