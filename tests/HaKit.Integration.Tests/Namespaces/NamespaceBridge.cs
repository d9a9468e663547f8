using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using HaKit.Tests.Transport;

namespace HaKit.Integration.Namespaces;

/// <summary>
/// Two hosts as network namespaces (<c>a</c> and <c>b</c>) on a bridge in the caller's namespace, addresses 10.214.S.1 (a),
/// 10.214.S.2 (b) and 10.214.S.254 (the bridge: the test process and a witness reach both from here). Each node can bind the same
/// service port on its own host, as two machines with a virtual IP would. <see cref="Dispose"/> removes both namespaces and the bridge.
/// </summary>
public sealed class NamespaceBridge : IDisposable
{
    private NamespaceBridge()
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        Bridge = $"hkb{suffix}";
        NamespaceA = $"hakit-fz-{suffix}-a";
        NamespaceB = $"hakit-fz-{suffix}-b";
        VethA = $"hkv{suffix}a";
        VethB = $"hkv{suffix}b";
        var subnet = RandomNumberGenerator.GetInt32(1, 255).ToString(CultureInfo.InvariantCulture);
        AddressA = IPAddress.Parse($"10.214.{subnet}.1");
        AddressB = IPAddress.Parse($"10.214.{subnet}.2");
        HostAddress = IPAddress.Parse($"10.214.{subnet}.254");
    }

    /// <summary>The bridge (in the caller's namespace).</summary>
    public string Bridge { get; }

    /// <summary>Host a's namespace.</summary>
    public string NamespaceA { get; }

    /// <summary>Host b's namespace.</summary>
    public string NamespaceB { get; }

    /// <summary>The bridge-side end of a's veth.</summary>
    public string VethA { get; }

    /// <summary>The bridge-side end of b's veth.</summary>
    public string VethB { get; }

    /// <summary>Host a's address.</summary>
    public IPAddress AddressA { get; }

    /// <summary>Host b's address.</summary>
    public IPAddress AddressB { get; }

    /// <summary>The bridge's address (the caller's namespace).</summary>
    public IPAddress HostAddress { get; }

    /// <summary>The namespace of node <paramref name="node"/> (a or b).</summary>
    public string NamespaceOf(string node) => node == "a" ? NamespaceA : NamespaceB;

    /// <summary>The address of node <paramref name="node"/> (a or b).</summary>
    public IPAddress AddressOf(string node) => node == "a" ? AddressA : AddressB;

    /// <summary>Creates the namespaces, the bridge and the links; on any failure removes what was created and rethrows.</summary>
    public static NamespaceBridge Create()
    {
        var net = new NamespaceBridge();
        try
        {
            NetNs.Ip("link", "add", net.Bridge, "type", "bridge");
            NetNs.Ip("addr", "add", $"{net.HostAddress}/24", "dev", net.Bridge);
            NetNs.Ip("link", "set", net.Bridge, "up");
            foreach (var (ns, veth, address) in new[] { (net.NamespaceA, net.VethA, net.AddressA), (net.NamespaceB, net.VethB, net.AddressB) })
            {
                NetNs.Add(ns);
                NetNs.Ip("link", "add", veth, "type", "veth", "peer", "name", "lan0", "netns", ns);
                NetNs.Ip("link", "set", veth, "master", net.Bridge, "up");
                NetNs.Ip("-n", ns, "link", "set", "lo", "up");
                NetNs.Ip("-n", ns, "addr", "add", $"{address}/24", "dev", "lan0");
                NetNs.Ip("-n", ns, "link", "set", "lan0", "up");
            }

            net.WaitUntilUp();
            return net;
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>Deletes the veth pairs, both namespaces and the bridge. Idempotent; a device already gone is not an error.</summary>
    public void Dispose()
    {
        List<Exception> errors = [];
        foreach (var dev in new[] { VethA, VethB })
        {
            DeleteLink(dev, errors);
        }

        foreach (var ns in new[] { NamespaceA, NamespaceB })
        {
            try
            {
                NetNs.Delete(ns);
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        }

        DeleteLink(Bridge, errors);
        if (errors.Count > 0)
        {
            throw new AggregateException("cannot remove the test's network namespaces or bridge", errors);
        }
    }

    /// <summary>Deletes a link of the caller's namespace; one that is gone (or goes while asked: a namespace deleted takes its veth pairs with it, asynchronously) is fine.</summary>
    private static void DeleteLink(string dev, List<Exception> errors)
    {
        try
        {
            if (Directory.Exists($"/sys/class/net/{dev}"))
            {
                NetNs.Ip("link", "del", dev);
            }
        }
        catch (InvalidOperationException ex) when (ex.Message.Contains("Cannot find device", StringComparison.Ordinal))
        {
        }
        catch (Exception ex)
        {
            errors.Add(ex);
        }
    }

    private void WaitUntilUp()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (!(IsUp(NamespaceA) && IsUp(NamespaceB)))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("the test's veth links did not come up within 5 s");
            }

            Thread.Sleep(20);
        }
    }

    private static bool IsUp(string ns) => NetNs.Ip("-n", ns, "link", "show", "lan0").Contains("LOWER_UP", StringComparison.Ordinal);
}
