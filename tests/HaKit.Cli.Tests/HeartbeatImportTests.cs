using System.Runtime.Versioning;
using System.Text.Json.Nodes;

namespace HaKit.Cli.Tests;

[UnsupportedOSPlatform("windows")] // Unix file modes: the authkeys check and the private output file
public sealed class HeartbeatImportTests
{
    // A two-node Heartbeat 2.x/3.x set as found in /etc/ha.d (the Linux-HA "getting started" shape).
    private const string HaCf = """
        # /etc/ha.d/ha.cf
        logfacility     local0
        logfile         /var/log/ha-log
        debugfile       /var/log/ha-debug
        keepalive 2
        warntime 6
        deadtime 10
        initdead 60
        udpport 694
        ucast eth0 192.168.10.11
        ucast eth0 192.168.10.12
        mcast eth1 225.0.0.1 694 1 0
        auto_failback off
        node alpha
        node beta
        ping 192.168.10.1
        ping_group routers 192.168.10.2 192.168.10.3
        respawn hacluster /usr/lib/heartbeat/ipfail
        apiauth ipfail gid=haclient uid=hacluster
        crm no
        """;

    private const string HaResources = """
        # node   resources...
        alpha 192.168.10.100 Filesystem::/dev/drbd0::/srv::ext4 \
              apache2
        beta IPaddr2::192.168.10.101/24/eth0 mysql
        """;

    private const string AuthKeys = """
        auth 1
        1 sha1 ThisIsTheOldHeartbeatSecret
        2 md5 another-one
        """;

    private DirectoryInfo _dir = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Directory.CreateTempSubdirectory("hakit-cli-hb-");
        Write("ha.cf", HaCf);
        Write("haresources", HaResources);
        Write("authkeys", AuthKeys, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [TearDown]
    public void TearDown() => _dir.Delete(recursive: true);

    private void Write(string name, string text, UnixFileMode? mode = null)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        if (mode is { } m)
        {
            File.SetUnixFileMode(path, m);
        }
    }

    [Test]
    public async Task A_realistic_set_maps_timing_links_nodes_groups_ping_and_keys()
    {
        var result = await Cli.RunAsync("import", "heartbeat", _dir.FullName);
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        var hakit = JsonNode.Parse(result.Out)!["HaKit"]!;

        Assert.That(hakit["Timing"]!["Interval"]!.GetValue<string>(), Is.EqualTo("00:00:02"));
        Assert.That(hakit["Timing"]!["WarnTime"]!.GetValue<string>(), Is.EqualTo("00:00:06"));
        Assert.That(hakit["Timing"]!["DeadTime"]!.GetValue<string>(), Is.EqualTo("00:00:10"));
        Assert.That(hakit["Timing"]!["InitialDeadTime"]!.GetValue<string>(), Is.EqualTo("00:01:00"));

        var nodes = hakit["Nodes"]!.AsArray();
        Assert.That(nodes.Select(n => n!["Name"]!.GetValue<string>()), Is.EqualTo(new[] { "alpha", "beta" }));
        Assert.That(nodes[0]!["Addresses"]!["eth0"]!.GetValue<string>(), Is.EqualTo("192.168.10.11:694"));
        Assert.That(nodes[1]!["Addresses"]!["eth0"]!.GetValue<string>(), Is.EqualTo("192.168.10.12:694"));

        var links = hakit["Links"]!.AsArray();
        Assert.That(links[0]!["Name"]!.GetValue<string>(), Is.EqualTo("eth0"));
        Assert.That(links[0]!["Kind"]!.GetValue<string>(), Is.EqualTo("Udp"));
        Assert.That(links[1]!["Kind"]!.GetValue<string>(), Is.EqualTo("Multicast"));
        Assert.That(links[1]!["Group"]!.GetValue<string>(), Is.EqualTo("225.0.0.1"));
        Assert.That(links[1]!["Port"]!.GetValue<int>(), Is.EqualTo(694));

        var groups = hakit["Groups"]!.AsArray();
        Assert.That(groups, Has.Count.EqualTo(2));
        Assert.That(groups[0]!["PreferredNode"]!.GetValue<string>(), Is.EqualTo("alpha"));
        Assert.That(groups[0]!["AutoFailback"]!.GetValue<bool>(), Is.False, "auto_failback off");
        Assert.That(groups[0]!["Resources"]!.AsArray().Select(r => r!.GetValue<string>()),
            Is.EqualTo(new[] { "IPaddr::192.168.10.100", "Filesystem::/dev/drbd0::/srv::ext4", "apache2" }), "a continued line is one group; a bare address is IPaddr");
        Assert.That(groups[1]!["PreferredNode"]!.GetValue<string>(), Is.EqualTo("beta"));

        Assert.That(hakit["Arbiter"]!["PingTargets"]!.AsArray().Select(t => t!.GetValue<string>()), Is.EqualTo(new[] { "icmp:192.168.10.1", "icmp:192.168.10.2", "icmp:192.168.10.3" }), "ping nodes are ICMP targets");
        Assert.That(hakit["Arbiter"]!["Ipfail"]!["Enabled"]!.GetValue<bool>(), Is.True, "respawn ... ipfail turns ipfail on");
        Assert.That(hakit["Auth"]!["SendKeyId"]!.GetValue<uint>(), Is.EqualTo(1u));
        Assert.That(hakit["Auth"]!["Keys"]!.AsArray(), Has.Count.EqualTo(2));

        // Warnings: every directive that is not mapped, each resource without an implementation, the key algorithm, the mcast interface address.
        foreach (var expected in new[] { "ha.cf:2: logfacility", "ha.cf:3: logfile", "ha.cf:19: apiauth", "ha.cf:20: crm no", "ping_group routers",
                     "resource apache2", "resource Filesystem::/dev/drbd0::/srv::ext4", "resource IPaddr2::192.168.10.101/24/eth0", "HMAC-SHA256", "mcast eth1" })
        {
            Assert.That(result.Error, Does.Contain(expected));
        }

        Assert.That(result.Error, Does.Not.Contain("ha.cf:18: respawn"), "respawn of ipfail is mapped (HaKit:Arbiter:Ipfail)");

        Assert.That(result.Error, Does.Not.Contain("ThisIsTheOldHeartbeatSecret"), "a secret is never printed");
    }

    [Test]
    public async Task IPaddr_Filesystem_and_script_resources_become_typed_entries_of_HaKit_Resources()
    {
        Write("haresources", """
            alpha 192.168.10.100 IPaddr2::192.168.10.101/255.255.255.0/eth0:web/192.168.10.255 Filesystem::/dev/drbd0::/srv::ext4::noatime drbddisk::r0 apache2 MailTo::root
            """);
        var result = await Cli.RunAsync("import", "heartbeat", _dir.FullName);
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        var entries = JsonNode.Parse(result.Out)!["HaKit"]!["Resources"]!.AsArray().ToDictionary(e => e!["Name"]!.GetValue<string>(), e => e!.ToJsonString());
        Assert.That(entries.Keys, Is.EquivalentTo(new[] { "IPaddr::192.168.10.100", "IPaddr2::192.168.10.101/255.255.255.0/eth0:web/192.168.10.255", "Filesystem::/dev/drbd0::/srv::ext4::noatime", "drbddisk::r0", "apache2" }), "MailTo is not built yet");
        Assert.That(entries["IPaddr::192.168.10.100"], Is.EqualTo("""{"Name":"IPaddr::192.168.10.100","Type":"VirtualIp","Address":"192.168.10.100/24","Interface":"eth0"}"""), "interface guessed from the ucast link");
        Assert.That(entries["IPaddr2::192.168.10.101/255.255.255.0/eth0:web/192.168.10.255"], Is.EqualTo("""{"Name":"IPaddr2::192.168.10.101/255.255.255.0/eth0:web/192.168.10.255","Type":"VirtualIp","Address":"192.168.10.101/24","Interface":"eth0","Label":"web","Broadcast":"192.168.10.255"}"""));
        Assert.That(entries["Filesystem::/dev/drbd0::/srv::ext4::noatime"], Is.EqualTo("""{"Name":"Filesystem::/dev/drbd0::/srv::ext4::noatime","Type":"Filesystem","Device":"/dev/drbd0","Directory":"/srv","FsType":"ext4","MountOptions":"noatime"}"""));
        Assert.That(entries["drbddisk::r0"], Is.EqualTo("""{"Name":"drbddisk::r0","Type":"Lsb","Script":"drbddisk::r0"}"""));
        Assert.That(result.Error, Does.Contain("written as /24, check it").And.Contain("UseLinuxResources()").And.Contain("resource MailTo::root (a mail notification) is not shipped"));
    }

    [Test]
    public async Task The_same_set_imported_twice_gives_the_same_keys_so_each_node_can_import_its_own()
    {
        var first = JsonNode.Parse((await Cli.RunAsync("import", "heartbeat", _dir.FullName)).Out)!["HaKit"]!["Auth"]!.ToJsonString();
        var second = JsonNode.Parse((await Cli.RunAsync("import", "heartbeat", _dir.FullName)).Out)!["HaKit"]!["Auth"]!.ToJsonString();
        Assert.That(second, Is.EqualTo(first));
    }

    [Test]
    public async Task The_written_file_is_private_and_passes_config_check_once_the_interface_addresses_are_filled_in()
    {
        // Unicast only: everything ha.cf says maps, so the output is a configuration the node accepts.
        Write("ha.cf", HaCf.Replace("mcast eth1 225.0.0.1 694 1 0", "", StringComparison.Ordinal));
        var output = Path.Combine(_dir.FullName, "appsettings.json");
        var result = await Cli.RunAsync("import", "heartbeat", _dir.FullName, "--out", output, "--ping-port", "22");
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        Assert.That(File.GetUnixFileMode(output) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead), Is.EqualTo((UnixFileMode)0), "it holds the key");

        var check = await Cli.RunAsync("config", "check", output);
        Assert.That(check.Code, Is.EqualTo(0), check.ToString());
        Assert.That(check.Out, Does.Contain("as node alpha: valid").And.Contain("as node beta: valid"));
    }

    [Test]
    public async Task With_multicast_the_missing_interface_addresses_are_named_by_config_check()
    {
        var output = Path.Combine(_dir.FullName, "appsettings.json");
        Assert.That((await Cli.RunAsync("import", "heartbeat", _dir.FullName, "--out", output)).Code, Is.EqualTo(0));
        var check = await Cli.RunAsync("config", "check", output, "--node", "alpha");
        Assert.That(check.Code, Is.EqualTo(ExitCodes.Refused), check.ToString());
        Assert.That(check.Out, Does.Contain("HaKit:Nodes:0:Addresses:eth1"));
        Assert.That(check.Out, Does.Not.Contain("HaKit:Arbiter:PingTargets"), "ICMP ping nodes are valid targets (icmp:host)");
    }

    [Test]
    public async Task An_authkeys_file_others_can_read_is_refused()
    {
        File.SetUnixFileMode(Path.Combine(_dir.FullName, "authkeys"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var output = Path.Combine(_dir.FullName, "out.json");
        var result = await Cli.RunAsync("import", "heartbeat", _dir.FullName, "--out", output);
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Refused), result.ToString());
        Assert.That(result.Error, Does.Contain("0644").And.Contain("chmod 600"));
        Assert.That(File.Exists(output), Is.False, "nothing is written");
    }

    [Test]
    public async Task A_crc_key_is_replaced_by_a_random_one_with_a_loud_warning()
    {
        Write("authkeys", "auth 3\n3 crc\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var result = await Cli.RunAsync("import", "heartbeat", _dir.FullName);
        Assert.That(result.Code, Is.EqualTo(0), result.ToString());
        Assert.That(result.Error, Does.Contain("NO AUTHENTICATION"));
        var auth = JsonNode.Parse(result.Out)!["HaKit"]!["Auth"]!;
        Assert.That(auth["SendKeyId"]!.GetValue<uint>(), Is.EqualTo(3u));
        Assert.That(Convert.FromBase64String(auth["Keys"]![0]!["Secret"]!.GetValue<string>()), Has.Length.EqualTo(32));
    }

    [Test]
    public async Task A_directory_without_ha_cf_is_a_usage_error()
    {
        File.Delete(Path.Combine(_dir.FullName, "ha.cf"));
        var result = await Cli.RunAsync("import", "heartbeat", _dir.FullName);
        Assert.That(result.Code, Is.EqualTo(ExitCodes.Usage), result.ToString());
    }

    [TestCase("2", 2000)]
    [TestCase("500ms", 500)]
    [TestCase("1.5", 1500)]
    [TestCase("250000us", 250)]
    [TestCase("3s", 3000)]
    public void Heartbeat_times_parse(string text, int milliseconds) =>
        Assert.That(HeartbeatImport.ParseTime(text), Is.EqualTo(TimeSpan.FromMilliseconds(milliseconds)));

    [Test]
    public void A_time_that_is_not_one_does_not_parse() => Assert.That(HeartbeatImport.ParseTime("soon"), Is.Null);
}
