using System.Text.Json;
using CsCheck;
using HaKit.Cli;
using HaKit.Hosting;
using Microsoft.Extensions.Configuration;

namespace HaKit.Fuzz.Tests;

/// <summary>
/// The Heartbeat importer (<c>hakit import heartbeat</c>, <see cref="HeartbeatImport"/>) on random <c>ha.cf</c>, <c>haresources</c>
/// and <c>authkeys</c> files built from Heartbeat's real directives with hostile arguments, comments, junk lines and control
/// characters. It either writes a HaKit document (valid JSON that the node's binder and validator read, reporting errors by key)
/// with a warning per directive it could not map, or refuses with a clear error (<see cref="CliException"/>); it never throws
/// anything else and never hangs.
/// </summary>
[TestFixture]
[Platform(Include = "Linux", Reason = "authkeys file modes")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HeartbeatImportFuzzTests
{
    private static readonly string[] Directives =
    [
        "keepalive", "deadtime", "warntime", "initdead", "udpport", "node", "ucast", "mcast", "bcast", "auto_failback", "ping",
        "ping_group", "logfacility", "logfile", "debugfile", "crm", "respawn", "apiauth", "baud", "serial", "use_logd", "compression",
        "stonith_host", "watchdog", "KEEPALIVE", "node_name", "",
    ];

    private static readonly string[] Arguments =
    [
        "1", "2", "10", "30", "500ms", "2s", "0", "-1", "1e9", "99999999999999999999", "ms", "us", "1.5", "eth0", "eth1", "lo", "node1",
        "node2", "node-a", "10.0.0.1", "10.0.0.2", "239.0.0.1", "694", "65536", "on", "off", "legacy", "yes", "1", "224.0.0.1", "::1",
        "192.168.1.255", "#", "# comment", "\\", "::", "IPaddr::10.0.0.100/24/eth0", "IPaddr2::10.0.0.100", "drbddisk::r0",
        "Filesystem::/dev/drbd0::/data::ext4", "mysqld", "apache", "sha1", "md5", "crc", "secret", "", " ", "\t", "é", "\u0000", "\u202e",
        new string('x', 200),
    ];

    private static Gen<string> Line(string[] heads) => Gen.Frequency(
        (8, Gen.Select(Gen.Int[0, heads.Length - 1], Gen.Int[0, Arguments.Length - 1].Array[0, 5])
            .Select((h, args) => heads[h] + " " + string.Join(' ', args.Select(a => Arguments[a])))),
        (1, Gen.String[0, 40]),
        (1, Gen.Const("")));

    private static Gen<string> File(string[] heads) => Line(heads).Array[0, 12].Select(lines => string.Join('\n', lines));

    private static readonly string[] Nodes = ["node1", "node2", "node-a", "x", "IPaddr::1.2.3.4", ""];
    private static readonly string[] AuthHeads = ["auth", "1", "2", "3", "16", "0", "x"];

    [Test]
    public void Random_Heartbeat_configurations_import_or_are_refused_with_a_clear_error()
    {
        // The last value picks the authkeys mode: mostly private (0600), sometimes readable by the group (0640, refused as Heartbeat does).
        var gen = Gen.Select(File(Directives), File(Nodes), File(AuthHeads), Gen.Bool, Gen.Int[0, 9]);
        var dir = Directory.CreateTempSubdirectory("hakit-fuzz-import-");
        int imported = 0, refused = 0;
        try
        {
            Fuzz.Run("cli/import-heartbeat", gen, input =>
            {
                var (haCf, haResources, authKeys, withResources, mode) = input;
                System.IO.File.WriteAllText(Path.Combine(dir.FullName, "ha.cf"), haCf);
                var resources = Path.Combine(dir.FullName, "haresources");
                if (withResources)
                {
                    System.IO.File.WriteAllText(resources, haResources);
                }
                else
                {
                    System.IO.File.Delete(resources);
                }

                var keys = Path.Combine(dir.FullName, "authkeys");
                System.IO.File.WriteAllText(keys, authKeys);
                System.IO.File.SetUnixFileMode(keys, UnixFileMode.UserRead | UnixFileMode.UserWrite | (mode == 0 ? UnixFileMode.GroupRead : UnixFileMode.None));
                try
                {
                    var document = new HeartbeatImport(pingPort: 7).Convert(dir.FullName);
                    using var parsed = JsonDocument.Parse(document.ToJsonString());
                    Fuzz.Require(parsed.RootElement.TryGetProperty("HaKit", out _), () => "the document has a HaKit section");

                    // What the operator does next (`hakit config check`): the node's own binder and validator read it without
                    // throwing, and every error names its key.
                    using var json = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(document.ToJsonString()));
                    var configuration = new ConfigurationBuilder().AddJsonStream(json).Build();
                    var options = new HaKitOptions();
                    HaKitOptionsBinder.Bind(options, configuration, "HaKit");
                    foreach (var error in HaKitOptionsBinder.ErrorsOf(options).Concat(HaKitOptionsValidator.Validate(options, "HaKit")))
                    {
                        Fuzz.Require(error.Contains("HaKit:", StringComparison.Ordinal), () => $"an error names its key: {error}");
                    }

                    imported++;
                }
                catch (CliException e)
                {
                    Fuzz.Require(!string.IsNullOrWhiteSpace(e.Message), () => "a refusal says why");
                    refused++;
                }
            }, ciDefault: 1_500, print: i => $"ha.cf:\n{i.Item1}\nharesources ({(i.Item4 ? "present" : "absent")}):\n{i.Item2}\nauthkeys (mode {(i.Item5 == 0 ? "0640" : "0600")}):\n{i.Item3}");
            TestContext.Out.WriteLine($"imported {imported}, refused {refused}");
            Assert.That(imported, Is.GreaterThan(0), "the generator reaches a written document");
            Assert.That(refused, Is.GreaterThan(0), "the generator reaches a refusal");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
