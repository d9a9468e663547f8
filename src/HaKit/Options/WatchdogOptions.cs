namespace HaKit;

/// <summary>Whether a node arms the Linux watchdog device while it owns a group in a lease mode.</summary>
public enum WatchdogMode
{
    /// <summary>Never (the default).</summary>
    Off = 0,

    /// <summary>Use the device when it can be opened; when it cannot, log a warning and run without it (Patroni's <c>automatic</c>).</summary>
    Automatic = 1,

    /// <summary>The device must work: the node refuses to start when it cannot open and configure it (Patroni's <c>required</c>).</summary>
    Required = 2,
}

/// <summary>
/// The optional Linux watchdog, as Patroni uses it: while this node owns a group in a lease mode (Etcd, Witness) it keeps the watchdog
/// device (the kernel's <c>softdog</c> or a hardware one) open and pets it from the node loop, with a timeout below the lease's safe end.
/// A process frozen (or hung) longer than that timeout is reset by the kernel before its lease can have run out, so it never wakes up
/// as an owner. When ownership ends cleanly the device is disarmed with the magic close (<c>V</c>); when the process dies while
/// owning, it is not, and the machine is reset (the resources may still run).
/// </summary>
public sealed class WatchdogOptions
{
    /// <summary>The watchdog's timeout granularity (the kernel's <c>WDIOC_SETTIMEOUT</c> takes whole seconds).</summary>
    public static readonly TimeSpan TimeoutMin = TimeSpan.FromSeconds(1);

    /// <summary>Whether to arm the watchdog while owning. <value>Default <see cref="WatchdogMode.Off"/>.</value></summary>
    public WatchdogMode Mode { get; set; } = WatchdogMode.Off;

    /// <summary>The watchdog device. <value>Default <c>/dev/watchdog</c>. An absolute path.</value></summary>
    public string Device { get; set; } = "/dev/watchdog";

    /// <summary>
    /// The watchdog timeout for <paramref name="arbiter"/>'s lease: the shortest time between a renewal and the lease's safe end while
    /// renewals are on time (<see cref="ArbiterOptions.LeaseTtl"/> × 2/3 − <see cref="ArbiterOptions.LeaseDriftMargin"/>), rounded down
    /// to whole seconds. Below <see cref="TimeoutMin"/> the watchdog cannot be used with that lease.
    /// </summary>
    /// <param name="arbiter">The arbiter settings.</param>
    /// <returns>The timeout in whole seconds (may be zero).</returns>
    public static TimeSpan TimeoutFor(ArbiterOptions arbiter)
    {
        ArgumentNullException.ThrowIfNull(arbiter);
        var span = arbiter.LeaseTtl - (arbiter.LeaseTtl / ArbiterOptions.RenewalsPerLease) - arbiter.LeaseDriftMargin;
        return span <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Floor(span.TotalSeconds));
    }

    /// <summary>Checks the mode, the device path, the arbiter mode and that the lease leaves room for a whole-second timeout.</summary>
    internal void Validate(OptionsPath path, ArbiterOptions arbiter)
    {
        if (!Enum.IsDefined(Mode))
        {
            path.Error(nameof(Mode), Mode, "allowed: Off, Automatic, Required");
            return;
        }

        if (Mode == WatchdogMode.Off)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(Device) || !Device.StartsWith('/'))
        {
            path.Error(nameof(Device), Device, "must be the absolute path of the watchdog device, e.g. /dev/watchdog (modprobe softdog provides one)");
        }

        if (arbiter.Mode is not (ArbiterMode.Etcd or ArbiterMode.Witness))
        {
            path.Error(nameof(Mode), Mode, $"the watchdog is timed against an arbiter lease, and HaKit:Arbiter:Mode is {arbiter.Mode}: use Etcd or Witness, or set {path[nameof(Mode)]} to Off");
            return;
        }

        var timeout = TimeoutFor(arbiter);
        if (timeout < TimeoutMin)
        {
            var needed = TimeSpan.FromTicks((long)((TimeoutMin + arbiter.LeaseDriftMargin).Ticks * 1.5));
            path.Error(nameof(Mode), Mode,
                $"the watchdog's timeout (whole seconds, at least 1) must fit below the lease's safe end: LeaseTtl × 2/3 − LeaseDriftMargin = " +
                $"{(arbiter.LeaseTtl - (arbiter.LeaseTtl / ArbiterOptions.RenewalsPerLease) - arbiter.LeaseDriftMargin).TotalSeconds:0.###} s; " +
                $"raise HaKit:Arbiter:LeaseTtl to at least {needed.TotalSeconds:0.###} s, or set {path[nameof(Mode)]} to Off");
        }
    }
}
