using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HaKit.Cli;

// haresources: each line's resources mapped onto HaKit:Resources entries (IPaddr/IPaddr2 → VirtualIp, Filesystem, LSB and
// Heartbeat scripts → Lsb), with a warning for what has no counterpart.
internal sealed partial class HeartbeatImport
{
    private JsonArray ReadHaResources(string file)
    {
        var groups = new JsonArray();
        if (!File.Exists(file))
        {
            Warn("haresources: not found; no groups imported (add HaKit:Groups)");
            return groups;
        }

        if (_autoFailback is null)
        {
            Warn("ha.cf: no auto_failback line: Heartbeat's default (legacy) returns groups to their preferred node; mapped to AutoFailback true");
        }

        var failback = _autoFailback ?? true;
        var n = 0;
        foreach (var (number, fields) in Lines(file))
        {
            n++;
            var where = $"haresources:{number}";
            var preferred = fields[0];
            if (!_nodes.Contains(preferred, StringComparer.Ordinal))
            {
                Warn($"{where}: {preferred} is not a node line in ha.cf; PreferredNode kept as written");
            }

            var resources = new JsonArray();
            var names = new List<string>();
            foreach (var spec in fields.Skip(1))
            {
                var name = IPAddress.TryParse(spec.Split('/')[0], out _) ? "IPaddr::" + spec : spec;
                if (names.Contains(name, StringComparer.Ordinal))
                {
                    Warn($"{where}: {name} is listed twice in one group; kept once");
                    continue;
                }

                names.Add(name);
                resources.Add(name);
                var kind = name.Split("::")[0];
                if (MapResource(where, name) is { } entry)
                {
                    _resources.TryAdd(name, entry);
                }
                else
                {
                    Warn($"{where}: resource {name} ({ResourceKind(kind)}) is not shipped with HaKit: register an IResource named \"{name}\" for group group{n} (AddResource) before the node can start");
                }
            }

            if (resources.Count == 0)
            {
                Warn($"{where}: no resources for {preferred}; the group group{n} is empty");
            }

            groups.Add(new JsonObject
            {
                ["Name"] = $"group{n}",
                ["PreferredNode"] = preferred,
                ["AutoFailback"] = failback,
                ["Resources"] = resources,
            });
        }

        return groups;
    }

    /// <summary>
    /// A haresources entry as a typed <c>HaKit:Resources</c> entry (HaKit.Linux): <c>IPaddr</c>/<c>IPaddr2::ip[/prefix[/nic[/broadcast]]]</c>
    /// → VirtualIp; <c>Filesystem::device::dir::fstype[::options]</c> → Filesystem; any other script (an init script or a Heartbeat
    /// resource script such as <c>drbddisk::r0</c>) → Lsb, run as Heartbeat runs it. <see langword="null"/> for MailTo (not built yet).
    /// </summary>
    private JsonObject? MapResource(string where, string name)
    {
        var parts = name.Split("::");
        var uses = "; the node needs the HaKit.Linux package and .UseLinuxResources() on AddHaKit()";
        switch (parts[0])
        {
            case "IPaddr" or "IPaddr2" when parts.Length >= 2:
            {
                var fields = parts[1].Split('/');
                var entry = new JsonObject { ["Name"] = name, ["Type"] = "VirtualIp" };
                var prefix = fields.Length > 1 && fields[1].Length > 0 ? fields[1] : null;
                var nic = fields.Length > 2 && fields[2].Length > 0 ? fields[2] : null;
                string? label = null;
                if (nic is not null && nic.Contains(':', StringComparison.Ordinal))
                {
                    label = nic[(nic.IndexOf(':', StringComparison.Ordinal) + 1)..];
                    nic = nic[..nic.IndexOf(':', StringComparison.Ordinal)];
                }

                var notes = new List<string>();
                if (prefix is null)
                {
                    prefix = IPAddress.TryParse(fields[0], out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "64" : "24";
                    notes.Add($"no netmask given (IPaddr takes the interface's): written as /{prefix}, check it");
                }
                else if (IPAddress.TryParse(prefix, out var mask) && mask.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                {
                    prefix = System.Numerics.BitOperations.PopCount(BitConverter.ToUInt32(mask.GetAddressBytes())).ToString(CultureInfo.InvariantCulture); // a dotted netmask
                }

                if (nic is null)
                {
                    nic = GuessInterface(fields[0]);
                    notes.Add(nic is null
                        ? "no interface given (IPaddr finds it by route): fill in Interface"
                        : $"no interface given (IPaddr finds it by route): written as {nic}, the heartbeat link whose peer is in the same /24; check it");
                }

                entry["Address"] = $"{fields[0]}/{prefix}";
                entry["Interface"] = nic ?? "";
                if (label is not null)
                {
                    entry["Label"] = label;
                }

                if (fields.Length > 3 && fields[3].Length > 0)
                {
                    entry["Broadcast"] = fields[3];
                }

                Warn($"{where}: resource {name}: mapped to a VirtualIp entry in HaKit:Resources ({entry["Address"]} on {(nic ?? "?")}){(notes.Count > 0 ? "; " + string.Join("; ", notes) : "")}{uses}");
                return entry;
            }

            case "Filesystem" when parts.Length >= 3:
            {
                var entry = new JsonObject { ["Name"] = name, ["Type"] = "Filesystem", ["Device"] = parts[1], ["Directory"] = parts[2] };
                if (parts.Length > 3 && parts[3].Length > 0)
                {
                    entry["FsType"] = parts[3];
                }

                if (parts.Length > 4 && parts[4].Length > 0)
                {
                    entry["MountOptions"] = parts[4];
                }

                Warn($"{where}: resource {name}: mapped to a Filesystem entry in HaKit:Resources (mount {parts[1]} on {parts[2]}){uses}");
                return entry;
            }

            case "MailTo":
                return null;
            default:
                Warn($"{where}: resource {name}: mapped to an Lsb entry in HaKit:Resources (script {parts[0]} from /etc/init.d or /etc/ha.d/resource.d, arguments before the action as Heartbeat passes them){uses}");
                return new JsonObject { ["Name"] = name, ["Type"] = "Lsb", ["Script"] = name };
        }
    }

    /// <summary>The heartbeat link device (ucast) whose peer address shares the first three octets of <paramref name="address"/>, if exactly one does.</summary>
    private string? GuessInterface(string address)
    {
        if (!IPAddress.TryParse(address, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return null;
        }

        var net = ip.GetAddressBytes()[..3];
        var devices = _ucast.Where(u => IPAddress.TryParse(u.Address, out var peer) && peer.AddressFamily == ip.AddressFamily && peer.GetAddressBytes()[..3].SequenceEqual(net))
            .Select(u => u.Dev).Distinct(StringComparer.Ordinal).ToList();
        return devices.Count == 1 ? devices[0] : null;
    }

    private static string ResourceKind(string kind) => kind switch
    {
        "IPaddr" or "IPaddr2" => "a virtual IP address",
        "Filesystem" => "a file system mount",
        "drbddisk" => "a DRBD resource",
        "MailTo" => "a mail notification",
        _ => "a resource agent or init script",
    };
}
