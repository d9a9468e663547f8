using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Linux;

/// <summary>
/// A virtual IP address on an interface, IPv4 or IPv6 (Heartbeat's <c>IPaddr</c>, Pacemaker's <c>ocf:heartbeat:IPaddr2</c>/<c>IPv6addr</c>),
/// managed with iproute2's <c>ip</c> (run without a shell, bounded, output captured).
/// </summary>
/// <remarks>
/// <para><b>Start</b>: an address already there succeeds (and is announced). A missing interface is
/// <see cref="ResourceFailureKind.PermanentOnNode"/>. With <see cref="VirtualIpOptions.DuplicateCheck"/>, IPv4 runs
/// <c>arping -D</c> first: an answer from a host that is not a cluster peer (<see cref="VirtualIpOptions.PeerAddresses"/>) refuses
/// the start as PermanentOnNode naming the MAC; IPv6 adds the address with the kernel's duplicate address detection and waits until it
/// is no longer <c>tentative</c>: <c>dadfailed</c> removes it and refuses the same way. Then the address is announced
/// (<see cref="VirtualIpOptions.AnnounceCount"/> times, <see cref="VirtualIpOptions.AnnounceInterval"/> apart, in the background):
/// IPv4 by gratuitous ARP (<c>arping -U</c>, one process per announcement), IPv6 by unsolicited neighbour advertisements sent from a raw
/// ICMPv6 socket (to ff02::1, override flag set, target link-layer address), as <c>IPaddr2</c>/<c>send_arp</c> and <c>IPv6addr</c> do.</para>
/// <para><b>Monitor</b>: the address is on the interface (<c>ip -o addr show dev</c>); <c>dadfailed</c> is a PermanentOnNode failure.</para>
/// <para><b>Stop</b>: stops pending announcements and removes the address; an address that is not there succeeds (idempotent).</para>
/// </remarks>
public sealed partial class VirtualIp : IAnnouncingResource
{
    private static readonly TimeSpan IpTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan DadWait = TimeSpan.FromSeconds(5);
    private readonly VirtualIpOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly IPAddress _address;
    private readonly int _prefix;
    private readonly string _cidr;
    private readonly bool _v6;
    private readonly Lock _announceLock = new();
    private CancellationTokenSource? _announcing;

    /// <summary>Creates the resource.</summary>
    /// <param name="options">The address, interface and announcement settings.</param>
    /// <param name="logger">Receives command output and lifecycle messages; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for announcement intervals and the duplicate-check wait; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">The name or interface is empty, or the address is not <c>address/prefix</c>.</exception>
    public VirtualIp(VirtualIpOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(options.Name, nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.Interface, nameof(options));
        if (ResourceOptions.ParseCidr(options.Address, out var address, out var prefix) is { } problem)
        {
            throw new ArgumentException($"Address '{options.Address}': {problem}", nameof(options));
        }

        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _address = address;
        _prefix = prefix;
        _v6 = address.AddressFamily == AddressFamily.InterNetworkV6;
        _cidr = $"{address}/{prefix.ToString(CultureInfo.InvariantCulture)}";
        Name = options.Name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>The address (without prefix).</summary>
    public IPAddress Address => _address;

    /// <summary>The interface.</summary>
    public string Interface => _options.Interface;

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        var state = await StateAsync(cancellationToken).ConfigureAwait(false);
        if (state == AddressState.NoInterface)
        {
            return ResourceResult.PermanentOnNode($"interface {Interface} does not exist on this node (OCF_ERR_INSTALLED); ip -br link lists the interfaces");
        }

        if (state is AddressState.Present)
        {
            StartAnnouncing();
            return ResourceResult.Success;
        }

        if (state is AddressState.DadFailed)
        {
            await RemoveAsync(cancellationToken).ConfigureAwait(false);
        }

        if (!_v6 && _options.DuplicateCheck && await DuplicateHolderAsync(cancellationToken).ConfigureAwait(false) is { } holder)
        {
            return ResourceResult.PermanentOnNode($"{_address} is already in use on the network: {holder} answered the duplicate-address check (arping -D); refusing to add it on {Interface}: remove it there or choose another address");
        }

        var add = await IpAsync(AddArguments(), cancellationToken).ConfigureAwait(false);
        if (add.ExitCode != 0 && !add.Stderr.Contains("File exists", StringComparison.Ordinal))
        {
            return Failure("ip addr add", add);
        }

        if (_v6 && _options.DuplicateCheck && await WaitForDadAsync(cancellationToken).ConfigureAwait(false) is { } dad)
        {
            return dad;
        }

        LinuxLog.AddressAdded(_logger, Name, _cidr, Interface);
        StartAnnouncing();
        return ResourceResult.Success;
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        StopAnnouncing();
        var state = await StateAsync(cancellationToken).ConfigureAwait(false);
        if (state is AddressState.Absent or AddressState.NoInterface)
        {
            return ResourceResult.Success;
        }

        var del = await RemoveAsync(cancellationToken).ConfigureAwait(false);
        if (del.ExitCode != 0 && await StateAsync(cancellationToken).ConfigureAwait(false) is AddressState.Present or AddressState.DadFailed)
        {
            return Failure("ip addr del", del);
        }

        LinuxLog.AddressRemoved(_logger, Name, _cidr, Interface);
        return ResourceResult.Success;
    }

    /// <inheritdoc />
    public async ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        await StateAsync(cancellationToken).ConfigureAwait(false) switch
        {
            AddressState.Present => MonitorResult.Running,
            AddressState.DadFailed => MonitorResult.Failed(ResourceFailureKind.PermanentOnNode, $"{_cidr} on {Interface} is dadfailed: another host uses it"),
            AddressState.NoInterface => MonitorResult.NotRunning($"interface {Interface} does not exist"),
            _ => MonitorResult.NotRunning($"{_cidr} is not on {Interface}"),
        };

    /// <summary>Sends the announcements again, now (awaited); nothing when the address is not on the interface.</summary>
    /// <param name="context">Group, epoch, ownership token.</param>
    /// <param name="cancellationToken">Cancels the announcements.</param>
    /// <returns>A task that completes when the announcements were sent.</returns>
    public async ValueTask AnnounceAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (await StateAsync(cancellationToken).ConfigureAwait(false) == AddressState.Present)
        {
            await AnnounceNowAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Where the address stands on this node.</summary>
    internal enum AddressState
    {
        Absent,
        Present,
        Tentative,
        DadFailed,
        NoInterface,
    }

    /// <summary>Reads the interface's addresses.</summary>
    internal async Task<AddressState> StateAsync(CancellationToken cancellationToken)
    {
        var show = await IpAsync([_v6 ? "-6" : "-4", "-o", "addr", "show", "dev", Interface], cancellationToken).ConfigureAwait(false);
        if (show.ExitCode != 0)
        {
            if (show.Stderr.Contains("does not exist", StringComparison.Ordinal))
            {
                return AddressState.NoInterface;
            }

            throw new ResourceException(ResourceFailureKind.Transient, $"ip addr show dev {Interface} failed ({show.ExitCode}): {show.Detail}");
        }

        foreach (var line in show.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split((char[])[' ', '\t', '\\'], StringSplitOptions.RemoveEmptyEntries);
            var at = Array.IndexOf(fields, _v6 ? "inet6" : "inet");
            if (at < 0 || at + 1 >= fields.Length || !SameAddress(fields[at + 1]))
            {
                continue;
            }

            return fields.Contains("dadfailed") ? AddressState.DadFailed : fields.Contains("tentative") ? AddressState.Tentative : AddressState.Present;
        }

        return AddressState.Absent;
    }

    private bool SameAddress(string cidr)
    {
        var slash = cidr.IndexOf('/', StringComparison.Ordinal);
        return IPAddress.TryParse(slash < 0 ? cidr : cidr[..slash], out var a) && a.Equals(_address);
    }

    private List<string> AddArguments()
    {
        List<string> args = [_v6 ? "-6" : "-4", "addr", "add", _cidr, "dev", Interface];
        if (!_v6 && _options.Broadcast.Length > 0)
        {
            args.AddRange(["broadcast", _options.Broadcast]);
        }

        if (!_v6 && _options.Label.Length > 0)
        {
            args.AddRange(["label", $"{Interface}:{_options.Label}"]);
        }

        if (_v6 && !_options.DuplicateCheck)
        {
            args.Add("nodad");
        }

        return args;
    }

    private Task<CommandResult> RemoveAsync(CancellationToken cancellationToken) =>
        IpAsync([_v6 ? "-6" : "-4", "addr", "del", _cidr, "dev", Interface], cancellationToken);

    /// <summary>IPv6: waits while the address is tentative; a failure when the kernel's DAD found a duplicate.</summary>
    private async Task<ResourceResult?> WaitForDadAsync(CancellationToken cancellationToken)
    {
        var deadline = _time.GetTimestamp() + (long)(DadWait.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            var state = await StateAsync(cancellationToken).ConfigureAwait(false);
            if (state == AddressState.DadFailed)
            {
                await RemoveAsync(cancellationToken).ConfigureAwait(false);
                return ResourceResult.PermanentOnNode($"{_address} is already in use on the network: the kernel's duplicate address detection failed (dadfailed) on {Interface}; removed it again: remove it where it is used or choose another address");
            }

            if (state != AddressState.Tentative)
            {
                return state == AddressState.Present ? null : ResourceResult.Transient($"{_cidr} disappeared from {Interface} during duplicate address detection");
            }

            if (_time.GetTimestamp() > deadline)
            {
                return ResourceResult.Transient($"{_cidr} is still tentative on {Interface} after {DadWait.TotalSeconds} s (is the link up?)");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>IPv4: who answers <c>arping -D</c> for the address (null: nobody, or only a cluster peer's stale copy).</summary>
    private async Task<string?> DuplicateHolderAsync(CancellationToken cancellationToken)
    {
        // arping waits whole seconds; it is killed after the (much shorter) wait: an answer on a LAN comes within a millisecond,
        // and -f makes arping exit (and print) at the first one.
        var dad = await RunAsync("arping", ["-D", "-f", "-c", "1", "-w", "1", "-I", Interface, _address.ToString()], _options.DuplicateCheckWait, cancellationToken, timeoutExpected: true).ConfigureAwait(false);
        if (dad.TimedOut || dad.ExitCode == 0)
        {
            return null;
        }

        if (dad.ExitCode == CommandResult.NotFound)
        {
            throw new ResourceException(ResourceFailureKind.PermanentOnNode, "arping is not installed (Debian: apt-get install iputils-arping); needed for the duplicate-address check and the gratuitous ARP (or set DuplicateCheck false)");
        }

        var macs = MacPattern().Matches(dad.Stdout).Select(m => m.Groups[1].Value.ToUpperInvariant()).Distinct().ToList();
        if (macs.Count == 0)
        {
            return dad.ExitCode == 1 ? null : throw new ResourceException(ResourceFailureKind.Transient, $"arping -D failed ({dad.ExitCode}): {dad.Detail}");
        }

        var peers = await PeerMacsAsync(cancellationToken).ConfigureAwait(false);
        var foreign = macs.Where(m => !peers.ContainsKey(m)).ToList();
        if (foreign.Count > 0)
        {
            return $"MAC {string.Join(", ", foreign)}";
        }

        foreach (var mac in macs)
        {
            LinuxLog.StaleCopyOnPeer(_logger, Name, _address.ToString(), mac, peers[mac]);
        }

        return null;
    }

    /// <summary>The MAC addresses of the configured peer addresses, from the neighbour table (<c>ip neigh show</c>).</summary>
    private async Task<Dictionary<string, string>> PeerMacsAsync(CancellationToken cancellationToken)
    {
        var macs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var peer in _options.PeerAddresses)
        {
            var host = peer;
            if (IPEndPoint.TryParse(peer, out var endpoint))
            {
                host = endpoint.Address.ToString();
            }

            if (!IPAddress.TryParse(host, out _))
            {
                continue;
            }

            var neigh = await IpAsync(["neigh", "show", "to", host], cancellationToken).ConfigureAwait(false);
            foreach (Match m in LladdrPattern().Matches(neigh.Stdout))
            {
                macs.TryAdd(m.Groups[1].Value.ToUpperInvariant(), host);
            }
        }

        return macs;
    }

    private void StartAnnouncing()
    {
        if (_options.AnnounceCount <= 0)
        {
            return;
        }

        CancellationTokenSource cts;
        lock (_announceLock)
        {
            _announcing?.Cancel();
            _announcing?.Dispose();
            _announcing = cts = new CancellationTokenSource();
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await AnnounceNowAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
        }, CancellationToken.None);
    }

    private void StopAnnouncing()
    {
        lock (_announceLock)
        {
            _announcing?.Cancel();
            _announcing?.Dispose();
            _announcing = null;
        }
    }

    /// <summary>Sends the announcements (awaited).</summary>
    internal async Task AnnounceNowAsync(CancellationToken cancellationToken)
    {
        var sends = new List<Task>();
        for (var i = 0; i < _options.AnnounceCount; i++)
        {
            if (i > 0)
            {
                await Task.Delay(_options.AnnounceInterval, _time, cancellationToken).ConfigureAwait(false);
            }

            sends.Add(_v6 ? SendAdvertisementAsync(cancellationToken) : SendGratuitousArpAsync(cancellationToken));
        }

        await Task.WhenAll(sends).ConfigureAwait(false);
        LinuxLog.Announced(_logger, Name, _address.ToString(), Interface, _options.AnnounceCount, _v6 ? "unsolicited neighbour advertisement" : "gratuitous ARP");
    }

    private async Task SendGratuitousArpAsync(CancellationToken cancellationToken)
    {
        // One arping per announcement: it sends at once and then waits a whole second, so this keeps sub-second intervals.
        var arp = await RunAsync("arping", ["-U", "-c", "1", "-w", "1", "-I", Interface, _address.ToString()], TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
        if (arp.ExitCode is not 0 and not 1 || arp.TimedOut)
        {
            LinuxLog.AnnounceFailed(_logger, Name, _address.ToString(), arp.Detail);
        }
    }

    private Task SendAdvertisementAsync(CancellationToken cancellationToken)
    {
        if (_options.NetworkNamespace is not null)
        {
            return Task.CompletedTask; // a raw socket opened here would be in this process's namespace, not the resource's
        }

        try
        {
            NeighbourAdvertisement.Send(_address, Interface);
        }
        catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException)
        {
            LinuxLog.AnnounceFailed(_logger, Name, _address.ToString(), ex.Message);
        }

        return Task.Delay(TimeSpan.Zero, _time, cancellationToken);
    }

    private Task<CommandResult> IpAsync(IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        Command.RunAsync("ip", _options.NetworkNamespace is { } ns ? arguments.Prepend(ns).Prepend("-n") : arguments, IpTimeout, _logger, Name, logOutput: false, cancellationToken);

    private Task<CommandResult> RunAsync(string file, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken, bool timeoutExpected = false) =>
        _options.NetworkNamespace is { } ns
            ? Command.RunAsync("ip", arguments.Prepend(file).Prepend(ns).Prepend("exec").Prepend("netns"), timeout, _logger, Name, logOutput: false, cancellationToken, timeoutExpected: timeoutExpected)
            : Command.RunAsync(file, arguments, timeout, _logger, Name, logOutput: false, cancellationToken, timeoutExpected: timeoutExpected);

    private ResourceResult Failure(string what, CommandResult result) => result.ExitCode switch
    {
        CommandResult.NotFound => ResourceResult.PermanentOnNode($"{what}: ip (iproute2) is not installed (OCF_ERR_INSTALLED)"),
        _ when result.Stderr.Contains("Operation not permitted", StringComparison.Ordinal) => ResourceResult.PermanentOnNode($"{what} {_cidr} dev {Interface}: not permitted (OCF_ERR_PERM): run as root or with CAP_NET_ADMIN"),
        _ => ResourceResult.Transient($"{what} {_cidr} dev {Interface} failed ({result.ExitCode}): {result.Detail}"),
    };

    [GeneratedRegex(@"\[([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})\]")]
    private static partial Regex MacPattern();

    [GeneratedRegex(@"lladdr ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})")]
    private static partial Regex LladdrPattern();
}
