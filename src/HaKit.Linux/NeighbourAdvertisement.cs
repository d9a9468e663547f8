using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HaKit.Linux;

/// <summary>
/// Sends one unsolicited IPv6 neighbour advertisement (RFC 4861 §7.2.6) from a raw ICMPv6 socket: to all nodes (ff02::1), hop limit
/// 255, override flag set, with the interface's MAC as target link-layer address. The kernel fills in the ICMPv6 checksum.
/// Needs root or CAP_NET_RAW.
/// </summary>
internal static class NeighbourAdvertisement
{
    /// <summary>Builds the ICMPv6 message (type 136) for <paramref name="target"/> owned by <paramref name="mac"/>.</summary>
    public static byte[] Build(IPAddress target, ReadOnlySpan<byte> mac)
    {
        var packet = new byte[32];
        packet[0] = 136; // neighbour advertisement
        packet[4] = 0x20; // O (override); not a router, not solicited
        target.GetAddressBytes().CopyTo(packet, 8);
        packet[24] = 2; // option: target link-layer address
        packet[25] = 1; // length in units of 8 bytes
        mac.CopyTo(packet.AsSpan(26));
        return packet;
    }

    /// <summary>Sends one advertisement for <paramref name="target"/> on <paramref name="interfaceName"/>.</summary>
    public static void Send(IPAddress target, string interfaceName)
    {
        var mac = ReadMac(interfaceName);
        var index = int.Parse(File.ReadAllText($"/sys/class/net/{interfaceName}/ifindex").Trim(), CultureInfo.InvariantCulture);
        using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6);
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, 255);
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, index);
        socket.Bind(new IPEndPoint(target, 0));
        socket.SendTo(Build(target, mac), new IPEndPoint(new IPAddress(IPAddress.Parse("ff02::1").GetAddressBytes(), index), 0));
    }

    private static byte[] ReadMac(string interfaceName) =>
        File.ReadAllText($"/sys/class/net/{interfaceName}/address").Trim().Split(':').Select(h => byte.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
}
