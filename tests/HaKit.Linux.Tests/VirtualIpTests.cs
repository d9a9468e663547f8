using System.Text.RegularExpressions;
using HaKit.Tests.Transport;

namespace HaKit.Linux.Tests;

/// <summary>
/// <see cref="VirtualIp"/> on a real kernel: a server namespace (where the address goes, interface <c>vs</c>, 10.77.0.1/24,
/// fd00:77::1/64) and a client namespace (interface <c>vc</c>, 10.77.0.2/24) on a veth pair. Needs root and iproute2; the
/// IPv4 tests need arping (iputils-arping). Every test gets fresh namespaces, deleted afterwards.
/// </summary>
[TestFixture]
[NonParallelizable]
public partial class VirtualIpTests
{
    private string _server = "";
    private string _client = "";

    [SetUp]
    public void SetUp()
    {
        NetNs.IgnoreIfUnavailable();
        if (ChildIn(null, "arping") is null)
        {
            Assert.Ignore("arping (package iputils-arping) is not installed");
        }

        _server = NetNs.UniqueName("hk-vs");
        _client = NetNs.UniqueName("hk-vc");
        NetNs.Add(_server);
        NetNs.Add(_client);
        NetNs.Ip("link", "add", "vs", "netns", _server, "type", "veth", "peer", "name", "vc", "netns", _client);
        foreach (var (ns, dev, v4, v6) in new[] { (_server, "vs", "10.77.0.1/24", "fd00:77::1/64"), (_client, "vc", "10.77.0.2/24", "fd00:77::2/64") })
        {
            NetNs.Ip("-n", ns, "addr", "add", v4, "dev", dev);
            NetNs.Ip("-n", ns, "-6", "addr", "add", v6, "dev", dev, "nodad");
            NetNs.Ip("-n", ns, "link", "set", dev, "up");
            NetNs.Ip("-n", ns, "link", "set", "lo", "up");
        }
    }

    [TearDown]
    public void TearDown()
    {
        foreach (var ns in new[] { _server, _client }.Where(n => n.Length > 0))
        {
            NetNs.Delete(ns);
        }
    }

    private static string? ChildIn(string? unused, string file) => Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, file)).FirstOrDefault(File.Exists);

    private VirtualIp Vip(string address, Action<VirtualIpOptions>? change = null, ListLogger? logger = null)
    {
        var options = new VirtualIpOptions { Name = "vip", Address = address, Interface = "vs", NetworkNamespace = _server };
        change?.Invoke(options);
        return new VirtualIp(options, logger);
    }

    private string Mac(string ns, string dev) => NetNs.Ip("-n", ns, "-o", "link", "show", "dev", dev) is var s ? MacPattern().Match(s).Groups[1].Value : "";

    private string ServerAddresses() => NetNs.Ip("-n", _server, "-o", "addr", "show", "dev", "vs");

    [Test]
    public async Task An_IPv4_address_is_added_with_its_label_monitored_and_removed_idempotently()
    {
        var vip = Vip("10.77.0.100/24", o => { o.Label = "vip"; o.Broadcast = "+"; o.AnnounceCount = 0; });
        Assert.That((await vip.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.NotRunning));
        Assert.That(await vip.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(ServerAddresses(), Does.Match(@"inet 10\.77\.0\.100/24 brd 10\.77\.0\.255 scope global secondary vs:vip"));
        Assert.That((await vip.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.Running));
        Assert.That(await vip.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success), "start of a present address");
        Assert.That(await vip.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(ServerAddresses(), Does.Not.Contain("10.77.0.100"));
        Assert.That((await vip.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.NotRunning));
        Assert.That(await vip.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success), "stop of an absent address");
    }

    [Test]
    public async Task Gratuitous_ARP_moves_the_clients_neighbour_entry_without_a_flush()
    {
        // The client knows the VIP at another MAC (the old owner): a stale entry, as after talking to it.
        NetNs.Ip("-n", _client, "neigh", "replace", "10.77.0.100", "lladdr", "02:00:00:00:00:99", "dev", "vc", "nud", "stale");
        var vip = Vip("10.77.0.100/24", o => { o.AnnounceCount = 2; o.AnnounceInterval = TimeSpan.FromMilliseconds(100); });
        Assert.That(await vip.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        var serverMac = Mac(_server, "vs");
        await Support.Eventually(
            () => NetNs.Ip("-n", _client, "neigh", "show", "10.77.0.100").Contains(serverMac, StringComparison.OrdinalIgnoreCase),
            $"the client's entry for 10.77.0.100 points at {serverMac}");

        // Again through the public re-announce (after a split brain this node won): the entry is moved back once more.
        NetNs.Ip("-n", _client, "neigh", "replace", "10.77.0.100", "lladdr", "02:00:00:00:00:99", "dev", "vc", "nud", "stale");
        await vip.AnnounceAsync(Support.Context(), default);
        await Support.Eventually(
            () => NetNs.Ip("-n", _client, "neigh", "show", "10.77.0.100").Contains(serverMac, StringComparison.OrdinalIgnoreCase),
            "re-announced");
        await vip.StopAsync(Support.Context(), default);
    }

    [Test]
    public async Task An_IPv4_address_live_on_another_host_is_refused_with_its_MAC()
    {
        NetNs.Ip("-n", _client, "addr", "add", "10.77.0.100/24", "dev", "vc");
        var result = await Vip("10.77.0.100/24").StartAsync(Support.Context(), default);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(result.Message, Does.Contain("already in use").And.Contain(Mac(_client, "vc").ToUpperInvariant()));
        Assert.That(ServerAddresses(), Does.Not.Contain("10.77.0.100"), "not added");
    }

    [Test]
    public async Task A_stale_copy_on_a_cluster_peer_is_taken_over_and_logged()
    {
        NetNs.Ip("-n", _client, "addr", "add", "10.77.0.100/24", "dev", "vc");
        NetNs.Ip("-n", _server, "neigh", "replace", "10.77.0.2", "lladdr", Mac(_client, "vc"), "dev", "vs", "nud", "reachable");
        var logger = new ListLogger();
        var vip = Vip("10.77.0.100/24", o => { o.PeerAddresses = ["10.77.0.2:7000"]; o.AnnounceCount = 0; }, logger);
        Assert.That(await vip.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(ServerAddresses(), Does.Contain("10.77.0.100"));
        Assert.That(logger.Lines, Has.Some.Contains("a stale copy left by a crash; taking it over"));
        await vip.StopAsync(Support.Context(), default);
    }

    [Test]
    public async Task Without_the_duplicate_check_the_address_is_added_at_once()
    {
        NetNs.Ip("-n", _client, "addr", "add", "10.77.0.100/24", "dev", "vc");
        var vip = Vip("10.77.0.100/24", o => { o.DuplicateCheck = false; o.AnnounceCount = 0; });
        Assert.That(await vip.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        await vip.StopAsync(Support.Context(), default);
    }

    [Test]
    public async Task A_missing_interface_is_permanent_on_this_node()
    {
        var vip = new VirtualIp(new VirtualIpOptions { Name = "vip", Address = "10.77.0.100/24", Interface = "nope0", NetworkNamespace = _server });
        var result = await vip.StartAsync(Support.Context(), default);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode));
        Assert.That(result.Message, Does.Contain("interface nope0 does not exist"));
        Assert.That(await vip.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
    }

    [Test]
    public async Task An_IPv6_address_waits_for_duplicate_address_detection_and_is_removed()
    {
        var vip = Vip("fd00:77::100/64", o => o.AnnounceCount = 0);
        Assert.That(await vip.StartAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        var shown = NetNs.Ip("-n", _server, "-6", "-o", "addr", "show", "dev", "vs");
        Assert.That(shown, Does.Contain("fd00:77::100/64"));
        var line = shown.Split('\n').Single(l => l.Contains("fd00:77::100/64", StringComparison.Ordinal));
        Assert.That(line, Does.Not.Contain("tentative"), "start returned after DAD (the interface's own link-local address may still be tentative)");
        Assert.That((await vip.MonitorAsync(Support.Context(), default)).Status, Is.EqualTo(ResourceStatus.Running));
        Assert.That(await vip.StopAsync(Support.Context(), default), Is.EqualTo(ResourceResult.Success));
        Assert.That(NetNs.Ip("-n", _server, "-6", "-o", "addr", "show", "dev", "vs"), Does.Not.Contain("fd00:77::100"));
    }

    [Test]
    public async Task An_IPv6_address_in_use_elsewhere_fails_DAD_and_is_refused()
    {
        NetNs.Ip("-n", _client, "-6", "addr", "add", "fd00:77::100/64", "dev", "vc", "nodad");
        var result = await Vip("fd00:77::100/64").StartAsync(Support.Context(), default);
        Assert.That(result.Kind, Is.EqualTo(ResourceFailureKind.PermanentOnNode), result.Message);
        Assert.That(result.Message, Does.Contain("dadfailed"));
        Assert.That(NetNs.Ip("-n", _server, "-6", "-o", "addr", "show", "dev", "vs"), Does.Not.Contain("fd00:77::100"), "removed again");
    }

    [Test]
    public void The_neighbour_advertisement_is_an_override_NA_with_the_target_MAC()
    {
        var packet = NeighbourAdvertisement.Build(System.Net.IPAddress.Parse("fd00::100"), [0x02, 0, 0, 0, 0, 0x42]);
        Assert.That(packet[0], Is.EqualTo(136));
        Assert.That(packet[4], Is.EqualTo(0x20), "override, not solicited");
        Assert.That(new System.Net.IPAddress(packet.AsSpan(8, 16)), Is.EqualTo(System.Net.IPAddress.Parse("fd00::100")));
        Assert.That(packet[24..], Is.EqualTo(new byte[] { 2, 1, 0x02, 0, 0, 0, 0, 0x42 }));
    }

    [GeneratedRegex(@"link/ether ([0-9a-f:]{17})")]
    private static partial Regex MacPattern();
}
