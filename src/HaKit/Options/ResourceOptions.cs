using System.Net;
using System.Net.Sockets;

namespace HaKit;

/// <summary>The kind of a resource declared in configuration (<c>HaKit:Resources:&lt;n&gt;:Type</c>).</summary>
public enum ResourceType
{
    /// <summary>A virtual IP address on an interface (HaKit.Linux <c>VirtualIp</c>; Heartbeat's <c>IPaddr</c>/<c>IPaddr2</c>).</summary>
    VirtualIp = 1,

    /// <summary>An OCF resource agent (HaKit.Linux <c>OcfResource</c>; Pacemaker's <c>ocf:provider:agent</c>).</summary>
    Ocf = 2,

    /// <summary>An LSB init script or a Heartbeat resource script (HaKit.Linux <c>LsbResource</c>; Pacemaker's <c>lsb:name</c>).</summary>
    Lsb = 3,

    /// <summary>A systemd unit (HaKit.Linux <c>SystemdUnit</c>; Pacemaker's <c>systemd:name</c>).</summary>
    Systemd = 4,

    /// <summary>A mount (HaKit.Linux <c>FilesystemResource</c>; the <c>Filesystem</c> agent).</summary>
    Filesystem = 5,

    /// <summary>A foreground child process (<see cref="Resources.ProcessResource"/>, in HaKit itself).</summary>
    Process = 6,
}

/// <summary>
/// One resource declared in configuration, <c>HaKit:Resources:&lt;n&gt;</c>: a group lists it by <see cref="Name"/> in
/// <c>HaKit:Groups:i:Resources</c> like a resource registered in code. Only the keys of its <see cref="Type"/> are read.
/// HaKit.Hosting creates it (<see cref="ResourceType.Process"/> itself; the others need the HaKit.Linux package and <c>UseLinuxResources()</c>).
/// </summary>
public sealed class ResourceOptions
{
    /// <summary>The resource name, unique among <c>HaKit:Resources</c>; groups list it by this name. <value>Required.</value></summary>
    public string Name { get; set; } = "";

    /// <summary>The resource kind. <value>Required: VirtualIp, Ocf, Lsb, Systemd, Filesystem or Process.</value></summary>
    public ResourceType? Type { get; set; }

    /// <summary>VirtualIp: the address with its prefix length, IPv4 or IPv6 (<c>10.0.0.100/24</c>, <c>fd00::100/64</c>). <value>Required for VirtualIp.</value></summary>
    public string Address { get; set; } = "";

    /// <summary>VirtualIp: the interface the address goes on (<c>eth0</c>). <value>Required for VirtualIp.</value></summary>
    public string Interface { get; set; } = "";

    /// <summary>VirtualIp, IPv4: the label suffix (IPaddr2's <c>iflabel</c>): the address shows as <c>eth0:&lt;label&gt;</c>. <value>Default: none.</value></summary>
    public string Label { get; set; } = "";

    /// <summary>VirtualIp, IPv4: the broadcast address, or <c>+</c> to derive it from the prefix (IPaddr2's <c>broadcast</c>). <value>Default: none.</value></summary>
    public string Broadcast { get; set; } = "";

    /// <summary>VirtualIp: refuse to add an address that another host answers for (IPv4 <c>arping -D</c>; IPv6 the kernel's duplicate address detection). <value>Default <see langword="true"/>.</value></summary>
    public bool DuplicateCheck { get; set; } = true;

    /// <summary>VirtualIp: announcements sent after adding the address (gratuitous ARP / unsolicited neighbour advertisements). <value>Default 3. Range 0..100.</value></summary>
    public int AnnounceCount { get; set; } = 3;

    /// <summary>VirtualIp: the interval between announcements. <value>Default 00:00:00.200.</value></summary>
    public TimeSpan AnnounceInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Ocf: the agent, as <c>ocf:provider:type</c>, <c>provider/type</c>, or an absolute path. <value>Required for Ocf.</value></summary>
    public string Agent { get; set; } = "";

    /// <summary>Ocf: the agent's parameters, passed as <c>OCF_RESKEY_&lt;name&gt;</c>. <value>Default: none.</value></summary>
    public Dictionary<string, string> Parameters { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Lsb: the init script (a path, or a name looked up in <c>/etc/init.d</c> then <c>/etc/ha.d/resource.d</c>); Heartbeat's <c>script::arg1::arg2</c> form is accepted. <value>Required for Lsb.</value></summary>
    public string Script { get; set; } = "";

    /// <summary>Lsb: arguments placed before the action (Heartbeat resource scripts); Process: the program's arguments. <value>Default: none.</value></summary>
    public List<string> Arguments { get; set; } = [];

    /// <summary>Systemd: the unit (<c>nginx.service</c>). <value>Required for Systemd.</value></summary>
    public string Unit { get; set; } = "";

    /// <summary>Filesystem: the device, or the source directory of a bind mount. <value>Required for Filesystem.</value></summary>
    public string Device { get; set; } = "";

    /// <summary>Filesystem: the mount point (an absolute path). <value>Required for Filesystem.</value></summary>
    public string Directory { get; set; } = "";

    /// <summary>Filesystem: the file system type (<c>ext4</c>, <c>xfs</c>, <c>tmpfs</c>). <value>Required unless <see cref="MountOptions"/> has <c>bind</c>.</value></summary>
    public string FsType { get; set; } = "";

    /// <summary>Filesystem: mount options (<c>-o</c>), comma separated. <value>Default: none.</value></summary>
    public string MountOptions { get; set; } = "";

    /// <summary>Filesystem: before unmounting, kill the processes holding the mount (SIGTERM, then SIGKILL), as the Filesystem agent's <c>force_unmount</c>. <value>Default <see langword="false"/>.</value></summary>
    public bool ForceUnmount { get; set; }

    /// <summary>Process: the executable. <value>Required for Process.</value></summary>
    public string FileName { get; set; } = "";

    /// <summary>Process: the working directory. <value>Default: the host's current directory.</value></summary>
    public string WorkingDirectory { get; set; } = "";

    /// <summary>Checks this entry; adds its name to <paramref name="names"/> (reporting a duplicate).</summary>
    internal void Validate(OptionsPath path, HashSet<string> names)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            path.Error(nameof(Name), Name, "every resource needs a unique, non-empty name, listed in HaKit:Groups:i:Resources, e.g. vip");
        }
        else if (!names.Add(Name))
        {
            path.Error(nameof(Name), Name, "duplicate resource name; names in Resources must be unique");
        }

        switch (Type)
        {
            case ResourceType.VirtualIp:
                ValidateVirtualIp(path);
                break;
            case ResourceType.Ocf:
                Required(path, nameof(Agent), Agent, "the agent as ocf:provider:type (ocf:heartbeat:apache), provider/type or an absolute path");
                foreach (var key in Parameters.Keys.Where(k => k.Length == 0 || !k.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')))
                {
                    path[nameof(Parameters)].Error(key, key, "parameter names are letters, digits and '_' (they become OCF_RESKEY_<name>)");
                }

                break;
            case ResourceType.Lsb:
                Required(path, nameof(Script), Script, "the init script: a path (/etc/init.d/apache2) or a name in /etc/init.d or /etc/ha.d/resource.d, optionally with Heartbeat's ::arg form");
                break;
            case ResourceType.Systemd:
                Required(path, nameof(Unit), Unit, "the unit name, e.g. nginx.service");
                break;
            case ResourceType.Filesystem:
                Required(path, nameof(Device), Device, "the device (/dev/drbd0, LABEL=data) or the source directory of a bind mount");
                if (Required(path, nameof(Directory), Directory, "the mount point, an absolute path, e.g. /srv/data") && !System.IO.Path.IsPathRooted(Directory))
                {
                    path.Error(nameof(Directory), Directory, "must be an absolute path, e.g. /srv/data");
                }

                if (string.IsNullOrWhiteSpace(FsType) && !MountOptions.Split(',').Contains("bind", StringComparer.Ordinal))
                {
                    path.Error(nameof(FsType), FsType, "required unless MountOptions has bind: the file system type, e.g. ext4, xfs, tmpfs");
                }

                break;
            case ResourceType.Process:
                Required(path, nameof(FileName), FileName, "the executable to run in the foreground, e.g. /usr/sbin/nginx");
                break;
            case null:
                path.Error(nameof(Type), null, "required: one of VirtualIp, Ocf, Lsb, Systemd, Filesystem, Process");
                break;
            default:
                path.Error(nameof(Type), Type.Value.ToString(), "unknown resource type; one of: VirtualIp, Ocf, Lsb, Systemd, Filesystem, Process");
                break;
        }
    }

    /// <summary>Parses <c>address/prefix</c>; <see langword="null"/> with the reason when it is not one.</summary>
    /// <param name="text">The text (<c>10.0.0.100/24</c>).</param>
    /// <param name="address">The address.</param>
    /// <param name="prefix">The prefix length.</param>
    /// <returns>The problem, or <see langword="null"/> when <paramref name="text"/> parsed.</returns>
    public static string? ParseCidr(string text, out IPAddress address, out int prefix)
    {
        address = IPAddress.None;
        prefix = 0;
        var slash = (text ?? "").IndexOf('/', StringComparison.Ordinal);
        if (slash < 0)
        {
            return "needs a prefix length: address/prefix, e.g. 10.0.0.100/24 or fd00::100/64";
        }

        if (!IPAddress.TryParse(text.AsSpan(0, slash), out var parsed) || parsed.ToString().Contains('%', StringComparison.Ordinal))
        {
            return "not an IPv4 or IPv6 address before the '/', e.g. 10.0.0.100/24";
        }

        var max = parsed.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix) || prefix < 1 || prefix > max)
        {
            return $"the prefix length must be 1..{max}, e.g. {(max == 32 ? "10.0.0.100/24" : "fd00::100/64")}";
        }

        address = parsed;
        return null;
    }

    private void ValidateVirtualIp(OptionsPath path)
    {
        var address = IPAddress.None;
        if (Required(path, nameof(Address), Address, "the address with its prefix length, e.g. 10.0.0.100/24 or fd00::100/64") && ParseCidr(Address, out address, out _) is { } problem)
        {
            path.Error(nameof(Address), Address, problem);
        }
        else if (address.AddressFamily == AddressFamily.InterNetworkV6 && (Label.Length > 0 || Broadcast.Length > 0))
        {
            path.Error(Label.Length > 0 ? nameof(Label) : nameof(Broadcast), Label.Length > 0 ? Label : Broadcast, "IPv4 only: an IPv6 address has no label and no broadcast; remove the key");
        }

        if (Required(path, nameof(Interface), Interface, "the interface to add the address to, e.g. eth0 (ip -br link lists them)") &&
            (Interface.Length > 15 || Interface.Any(c => char.IsWhiteSpace(c) || c is '/' or ':')))
        {
            path.Error(nameof(Interface), Interface, "not an interface name (at most 15 characters, no blanks, '/' or ':'); ip -br link lists them");
        }

        if (Label.Length > 0 && (Interface.Length + 1 + Label.Length > 15 || Label.Any(c => char.IsWhiteSpace(c) || c is '/' or ':')))
        {
            path.Error(nameof(Label), Label, "the full label <interface>:<label> must fit 15 characters without blanks, '/' or ':', e.g. vip");
        }

        if (Broadcast.Length > 0 && Broadcast != "+" && !(IPAddress.TryParse(Broadcast, out var b) && b.AddressFamily == AddressFamily.InterNetwork))
        {
            path.Error(nameof(Broadcast), Broadcast, "an IPv4 address or + (derived from the prefix), e.g. 10.0.0.255");
        }

        path.InRange(nameof(AnnounceCount), AnnounceCount, 0, 100, " announcements (0 sends none)");
        path.Positive(nameof(AnnounceInterval), AnnounceInterval);
    }

    private static bool Required(OptionsPath path, string name, string value, string what)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            path.Error(name, value, $"required for this Type: {what}");
            return false;
        }

        return true;
    }
}
