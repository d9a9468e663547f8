using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HaKit.Cli;

/// <summary>
/// <c>hakit import heartbeat DIR [--out FILE]</c>: reads Heartbeat's <c>ha.cf</c>, <c>haresources</c> and <c>authkeys</c> from DIR
/// and writes the equivalent HaKit configuration (a <c>{"HaKit": {...}}</c> document). Every directive or resource that has no
/// HaKit equivalent is a warning on standard error; an authkeys file that group or others can access is refused, as Heartbeat does.
/// </summary>
internal sealed partial class HeartbeatImport
{
    /// <summary>Heartbeat's default UDP port (<c>udpport</c>).</summary>
    public const int DefaultUdpPort = 694;

    /// <summary>Prefix of the text hashed to derive a HaKit key from a Heartbeat secret.</summary>
    private const string KeyDerivationLabel = "hakit import heartbeat authkeys\n";

    private static readonly string[] LoggingDirectives = ["logfile", "logfacility", "debugfile", "debug", "use_logd", "conn_logd_time"];

    private readonly List<string> _warnings = [];
    private readonly List<string> _nodes = [];
    private readonly List<(string Dev, string Address, string Where)> _ucast = [];
    private readonly List<(string Dev, string Group, int Port, int Ttl, string Where)> _mcast = [];
    private readonly List<(string Dev, string Where)> _bcast = [];
    private readonly List<string> _pingTargets = [];
    private readonly JsonObject _timing = [];
    private readonly int? _pingPort;
    private int _udpPort = DefaultUdpPort;
    private bool? _autoFailback;
    private bool _ipfail;
    private readonly Dictionary<string, JsonObject> _resources = new(StringComparer.Ordinal);

    /// <summary>Creates an import.</summary>
    /// <param name="pingPort">TCP port HaKit probes on each Heartbeat ping node (HaKit checks reachability by TCP connect, not ICMP); <see langword="null"/>: the targets are written without one, which config check reports.</param>
    public HeartbeatImport(int? pingPort = null) => _pingPort = pingPort;

    /// <summary>What the import found that it could not map (one line each, with file and line number).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>Runs the command: the document on standard output or in <paramref name="outFile"/> (mode 0600: it holds the key).</summary>
    public static int Run(CliConsole console, string directory, string? outFile, int? pingPort)
    {
        if (pingPort is < 1 or > 65535)
        {
            throw new CliException(ExitCodes.Usage, $"--ping-port {pingPort}: a TCP port, 1..65535");
        }

        var import = new HeartbeatImport(pingPort);
        var document = import.Convert(directory);
        foreach (var warning in import.Warnings)
        {
            console.Error.WriteLine("warning: " + warning);
        }

        var json = document.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        if (outFile is null)
        {
            console.Out.WriteLine(json);
        }
        else
        {
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var stream = new FileStream(outFile, options))
            using (var writer = new StreamWriter(stream, new UTF8Encoding(false)))
            {
                writer.WriteLine(json);
            }

            console.Error.WriteLine($"wrote {outFile}; check it with: hakit config check {outFile}");
        }

        return ExitCodes.Done;
    }

    /// <summary>Reads the three files in <paramref name="directory"/> and returns the HaKit document.</summary>
    public JsonObject Convert(string directory)
    {
        var haCf = Path.Combine(directory, "ha.cf");
        if (!File.Exists(haCf))
        {
            throw new CliException(ExitCodes.Usage, $"import heartbeat {directory}: no ha.cf there (expected {haCf}, and haresources and authkeys beside it; usually /etc/ha.d)");
        }

        // authkeys first: a refused file stops the import before anything is written.
        var auth = ReadAuthKeys(Path.Combine(directory, "authkeys"));
        ReadHaCf(haCf);
        var groups = ReadHaResources(Path.Combine(directory, "haresources"));

        var hakit = new JsonObject();
        var (nodes, links) = NodesAndLinks();
        hakit["Nodes"] = nodes;
        hakit["Links"] = links;
        if (_timing.Count > 0)
        {
            hakit["Timing"] = _timing;
        }

        hakit["Auth"] = auth;
        if (_resources.Count > 0)
        {
            hakit["Resources"] = new JsonArray([.. _resources.Values]);
        }

        hakit["Groups"] = groups;
        var arbiter = new JsonObject { ["Mode"] = "TwoNode" };
        if (_pingTargets.Count > 0)
        {
            var targets = _pingTargets.Distinct(StringComparer.Ordinal).ToList();
            arbiter["PingTargets"] = new JsonArray(targets.Select(t => (JsonNode)(_pingPort is { } p ? Endpoint(t, p) : "icmp:" + t)).ToArray());
            if (_pingPort is { } port)
            {
                Warn($"ha.cf: ping nodes {string.Join(", ", targets)}: written as TCP connect targets host:{port} (--ping-port): make sure each answers on that port");
            }
        }

        if (_ipfail)
        {
            arbiter["Ipfail"] = new JsonObject { ["Enabled"] = _pingTargets.Count > 0 };
            if (_pingTargets.Count == 0)
            {
                Warn("ha.cf: respawn ipfail without ping nodes: HaKit:Arbiter:Ipfail written disabled (add HaKit:Arbiter:PingTargets to turn it on)");
            }
        }

        if (_nodes.Count > 2)
        {
            Warn($"ha.cf: {_nodes.Count} nodes: HaKit's TwoNode mode is for two; set HaKit:Arbiter:Mode to Etcd (with UseEtcd) or Witness for more");
        }

        hakit["Arbiter"] = arbiter;
        hakit["StateDirectory"] = "/var/lib/hakit";
        return new JsonObject { ["HaKit"] = hakit };
    }

    private void ReadHaCf(string file)
    {
        foreach (var (number, fields) in Lines(file))
        {
            var where = $"ha.cf:{number}";
            var directive = fields[0].ToLowerInvariant();
            var args = fields.Skip(1).ToArray();
            switch (directive)
            {
                case "keepalive":
                    Time(where, "Interval", args);
                    break;
                case "deadtime":
                    Time(where, "DeadTime", args);
                    break;
                case "warntime":
                    Time(where, "WarnTime", args);
                    break;
                case "initdead":
                    Time(where, "InitialDeadTime", args);
                    break;
                case "udpport" when args.Length == 1 && int.TryParse(args[0], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535:
                    _udpPort = port;
                    break;
                case "node":
                    _nodes.AddRange(args.Where(n => !_nodes.Contains(n, StringComparer.Ordinal)));
                    break;
                case "ucast" when args.Length == 2:
                    _ucast.Add((args[0], args[1], where));
                    break;
                case "mcast" when args.Length >= 3 && int.TryParse(args[2], NumberStyles.None, CultureInfo.InvariantCulture, out var mport):
                    var ttl = args.Length >= 4 && int.TryParse(args[3], NumberStyles.None, CultureInfo.InvariantCulture, out var t) ? t : 1;
                    _mcast.Add((args[0], args[1], mport, ttl, where));
                    if (args.Length >= 5 && args[4] != "0")
                    {
                        Warn($"{where}: mcast loop {args[4]}: HaKit never loops its own multicast back; ignored");
                    }

                    break;
                case "bcast":
                    foreach (var dev in args)
                    {
                        _bcast.Add((dev, where));
                        Warn($"{where}: bcast {dev}: HaKit has no broadcast link; mapped to a Udp unicast link '{dev}' on port {_udpPort}: fill in every node's address on it (HaKit:Nodes:i:Addresses:{dev})");
                    }

                    break;
                case "auto_failback" when args.Length == 1:
                    switch (args[0].ToLowerInvariant())
                    {
                        case "on" or "yes" or "true" or "1":
                            _autoFailback = true;
                            break;
                        case "off" or "no" or "false" or "0":
                            _autoFailback = false;
                            break;
                        case "legacy":
                            _autoFailback = true;
                            Warn($"{where}: auto_failback legacy: mapped to AutoFailback true (groups return to their preferred node)");
                            break;
                        default:
                            Warn($"{where}: auto_failback {args[0]}: expected on, off or legacy; not mapped");
                            break;
                    }

                    break;
                case "ping":
                    _pingTargets.AddRange(args);
                    break;
                case "respawn" when args.Length >= 2 && Path.GetFileName(args[1]) == "ipfail":
                    _ipfail = true; // ipfail moves resources to the node that reaches more ping nodes: HaKit:Arbiter:Ipfail
                    break;
                case "ping_group" when args.Length >= 2:
                    _pingTargets.AddRange(args.Skip(1));
                    Warn($"{where}: ping_group {args[0]}: HaKit has no ping groups; its members are added as individual ping targets (HaKit:Arbiter:PingTargets)");
                    break;
                case var d when LoggingDirectives.Contains(d):
                    Warn($"{where}: {fields[0]}: not mapped; a HaKit node logs through its host's logging (the Logging section, ILogger)");
                    break;
                default:
                    Warn($"{where}: {string.Join(' ', fields)}: not mapped (no HaKit equivalent{Hint(directive)})");
                    break;
            }
        }
    }

    private static string Hint(string directive) => directive switch
    {
        "stonith" or "stonith_host" => "; configure fencing in HaKit:Fencing:Agents",
        "serial" or "baud" => "; HaKit has no serial links: use a second network link",
        "respawn" or "apiauth" => "; run helper programs as ProcessResource or a service of their own",
        "crm" or "pacemaker" => "; a CRM/Pacemaker cluster's CIB is not imported, only haresources",
        "realtime" => "; see HaKit:RealtimePriority",
        "watchdog" => "; see the watchdog in docs/fencing.md",
        "udpport" or "ucast" or "mcast" or "auto_failback" or "ping_group" => ": wrong number or form of arguments",
        _ => "",
    };

    private void Time(string where, string key, string[] args)
    {
        if (args.Length == 1 && ParseTime(args[0]) is { } value)
        {
            _timing[key] = value.ToString("c", CultureInfo.InvariantCulture);
        }
        else
        {
            Warn($"{where}: {string.Join(' ', args)}: not a time (seconds, or with an ms or us suffix); HaKit:Timing:{key} left to the preset");
        }
    }

    /// <summary>A Heartbeat time: seconds (<c>2</c>, <c>1.5</c>), or with a unit: <c>500ms</c>, <c>2s</c>, <c>250000us</c>.</summary>
    internal static TimeSpan? ParseTime(string text)
    {
        var (number, scale) = text.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (text[..^2], 1e-3)
            : text.EndsWith("us", StringComparison.OrdinalIgnoreCase) ? (text[..^2], 1e-6)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : (text, 1.0);
        return double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) && value * scale < 86400
            ? TimeSpan.FromTicks((long)Math.Round(value * scale * TimeSpan.TicksPerSecond))
            : null;
    }

    private (JsonArray Nodes, JsonArray Links) NodesAndLinks()
    {
        if (_nodes.Count == 0)
        {
            Warn("ha.cf: no node lines; add HaKit:Nodes (every node of the cluster with its address on each link)");
        }

        var addresses = _nodes.ToDictionary(n => n, _ => new JsonObject(), StringComparer.Ordinal);
        var links = new JsonArray();
        var linkNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var dev in _ucast.Select(u => u.Dev).Concat(_bcast.Select(b => b.Dev)).Distinct(StringComparer.Ordinal))
        {
            linkNames.Add(dev);
            links.Add(new JsonObject { ["Name"] = dev, ["Kind"] = "Udp" });
            var ips = _ucast.Where(u => u.Dev == dev).Select(u => u.Address).Distinct(StringComparer.Ordinal).ToList();
            if (ips.Count == _nodes.Count && ips.Count > 0)
            {
                for (var i = 0; i < ips.Count; i++)
                {
                    addresses[_nodes[i]][dev] = Endpoint(ips[i], _udpPort);
                }

                Warn($"ha.cf: ucast {dev}: the addresses {string.Join(", ", ips)} were given to the nodes in node-line order ({string.Join(", ", _nodes.Select((n, i) => $"{n}={ips[i]}"))}); Heartbeat does not say which is whose: check HaKit:Nodes:i:Addresses:{dev}");
            }
            else
            {
                foreach (var n in _nodes)
                {
                    addresses[n][dev] = "";
                }

                Warn($"ha.cf: {(ips.Count == 0 ? "bcast" : "ucast")} {dev}: {(ips.Count == 0 ? "no addresses" : $"{ips.Count} address(es) ({string.Join(", ", ips)})")} for {_nodes.Count} nodes: fill in each node's ip:port on link {dev} (HaKit:Nodes:i:Addresses:{dev}; Heartbeat's port is {_udpPort})");
            }
        }

        foreach (var m in _mcast)
        {
            var name = linkNames.Contains(m.Dev) ? m.Dev + "-mcast" : m.Dev;
            linkNames.Add(name);
            links.Add(new JsonObject { ["Name"] = name, ["Kind"] = "Multicast", ["Group"] = m.Group, ["Port"] = m.Port, ["Ttl"] = m.Ttl });
            foreach (var n in _nodes)
            {
                addresses[n][name] = "";
            }

            Warn($"{m.Where}: mcast {m.Dev}: HaKit joins the group on an interface address, which ha.cf does not give: fill in each node's IPv4 address of {m.Dev} (HaKit:Nodes:i:Addresses:{name})");
        }

        if (links.Count == 0)
        {
            Warn("ha.cf: no ucast, mcast or bcast line: add at least one link to HaKit:Links and each node's address on it");
        }

        var nodes = new JsonArray();
        foreach (var n in _nodes)
        {
            nodes.Add(new JsonObject { ["Name"] = n, ["Priority"] = 100, ["Addresses"] = addresses[n] });
        }

        return (nodes, links);
    }

    private static string Endpoint(string ip, int port) =>
        IPAddress.TryParse(ip, out var address) ? new IPEndPoint(address, port).ToString() : $"{ip}:{port}";

    private JsonObject ReadAuthKeys(string file)
    {
        if (!File.Exists(file))
        {
            Warn("authkeys: not found; a new random key was generated: copy the written file to every node (importing again elsewhere makes another key)");
            return Auth([(1, RandomKey())], 1);
        }

        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(file);
            const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            if ((mode & others) != 0)
            {
                throw new CliException(ExitCodes.Refused, $"{file}: mode {System.Convert.ToString((int)mode, 8).PadLeft(4, '0')} lets group or others access the keys; Heartbeat refuses such a file and so does this import: chmod 600 {file}");
            }
        }

        uint? send = null;
        var keys = new List<(uint Id, string Secret)>();
        foreach (var (number, fields) in Lines(file))
        {
            var where = $"authkeys:{number}";
            if (fields[0] == "auth" && fields.Length == 2 && uint.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var s))
            {
                send = s;
                continue;
            }

            if (fields.Length >= 2 && uint.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id >= AuthKeyOptions.IdMin)
            {
                var method = fields[1].ToLowerInvariant();
                switch (method)
                {
                    case "sha1" or "md5" when fields.Length >= 3:
                        var secret = string.Join(' ', fields.Skip(2));
                        keys.Add((id, Derive(secret)));
                        Warn($"{where}: key {id} ({method}): HaKit signs with HMAC-SHA256 and 32-byte keys; this key was derived from the Heartbeat secret (SHA-256), so importing on every node gives the same key, but it is no stronger than that secret{(secret.Length < 20 ? $" ({secret.Length} characters)" : "")}: replace it with one from hakit keygen");
                        break;
                    case "crc":
                        keys.Add((id, RandomKey()));
                        Warn($"{where}: key {id} is crc: NO AUTHENTICATION in Heartbeat (anyone on the network could forge heartbeats). HaKit always authenticates: a new random key was generated; copy the written file to every node (importing again elsewhere makes another key)");
                        break;
                    default:
                        Warn($"{where}: key {id} {fields[1]}: unknown method (sha1, md5 or crc) or no secret; skipped");
                        break;
                }

                continue;
            }

            Warn($"{where}: not an 'auth N' or 'N method secret' line; skipped");
        }

        if (keys.Count == 0)
        {
            Warn("authkeys: no usable key; a new random key was generated: copy the written file to every node");
            keys.Add((1, RandomKey()));
        }

        if (send is null || !keys.Any(k => k.Id == send))
        {
            Warn($"authkeys: {(send is null ? "no auth line" : $"auth {send} names no usable key")}; signing with key {keys[0].Id}");
            send = keys[0].Id;
        }

        return Auth(keys, send.Value);
    }

    private static JsonObject Auth(IEnumerable<(uint Id, string Secret)> keys, uint send) => new()
    {
        ["Keys"] = new JsonArray(keys.Select(k => (JsonNode)new JsonObject { ["Id"] = k.Id, ["Secret"] = k.Secret }).ToArray()),
        ["SendKeyId"] = send,
    };

    private static string Derive(string secret) =>
        System.Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(KeyDerivationLabel + secret)));

    private static string RandomKey() => System.Convert.ToBase64String(RandomNumberGenerator.GetBytes(AuthKeyOptions.SecretMinBytes));

    private void Warn(string text) => _warnings.Add(text);

    /// <summary>Non-empty lines without comments, split on blanks; a line ending in a backslash continues on the next (haresources).</summary>
    private static IEnumerable<(int Number, string[] Fields)> Lines(string file)
    {
        var number = 0;
        var start = 0;
        var pending = new StringBuilder();
        foreach (var raw in File.ReadLines(file))
        {
            number++;
            var hash = raw.IndexOf('#', StringComparison.Ordinal);
            var line = (hash >= 0 ? raw[..hash] : raw).TrimEnd();
            if (pending.Length == 0)
            {
                start = number;
            }

            if (line.EndsWith('\\'))
            {
                pending.Append(line[..^1]).Append(' ');
                continue;
            }

            pending.Append(line);
            var fields = pending.ToString().Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            pending.Clear();
            if (fields.Length > 0)
            {
                yield return (start, fields);
            }
        }
    }
}
