using HaKit.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace HaKit.Tests.Runtime;

/// <summary>
/// The optional watchdog (issue 13): armed while a group is owned on a lease, petted from the loop, disarmed with the magic close when
/// ownership ends or the node stops. Against a recording device on virtual time; the real device only where it exists, and then only
/// open, pet and magic close (a test never lets it fire: that would reset the machine).
/// </summary>
public class WatchdogTests
{
    private sealed class RecordingDevice : IWatchdogDevice
    {
        public List<string> Calls { get; } = [];

        public bool FailArm { get; set; }

        public bool Armed { get; private set; }

        public void Arm(int timeoutSeconds)
        {
            Calls.Add($"arm {timeoutSeconds}");
            if (FailArm)
            {
                throw new UnauthorizedAccessException("permission denied");
            }

            Armed = true;
        }

        public void Pet() => Calls.Add("pet");

        public void Disarm()
        {
            if (Armed)
            {
                Calls.Add("disarm");
            }

            Armed = false;
        }
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(4);

    private static (WatchdogKeeper Keeper, RecordingDevice Device, FakeTimeProvider Time) Create(WatchdogMode mode = WatchdogMode.Automatic)
    {
        var time = new FakeTimeProvider();
        var device = new RecordingDevice();
        return (new WatchdogKeeper(device, mode, "/dev/watchdog", Timeout, time, NullLogger.Instance), device, time);
    }

    [Test]
    public void Armed_while_owning_petted_at_most_every_eighth_of_the_timeout_and_disarmed_when_ownership_ends()
    {
        var (keeper, device, time) = Create();
        keeper.Update(owning: false);
        Assert.That(device.Calls, Is.Empty, "nothing owned: the device stays closed");

        keeper.Update(owning: true);
        Assert.That(device.Calls, Is.EqualTo(new[] { "arm 4" }));
        for (var i = 0; i < 40; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(50)); // a step per tick for 2 s
            keeper.Update(owning: true);
        }

        Assert.That(device.Calls.Count(c => c == "pet"), Is.EqualTo(4), "2 s / (4 s / 8)");
        keeper.Update(owning: false);
        Assert.That(device.Calls[^1], Is.EqualTo("disarm"));
        Assert.That(keeper.Armed, Is.False);
    }

    [Test]
    public void Disposing_a_keeper_that_owns_disarms_it()
    {
        var (keeper, device, _) = Create();
        keeper.Update(owning: true);
        keeper.Dispose();
        Assert.That(device.Calls, Is.EqualTo(new[] { "arm 4", "disarm" }));
    }

    [Test]
    public void Automatic_runs_without_a_device_that_cannot_be_armed()
    {
        var (keeper, device, _) = Create();
        device.FailArm = true;
        Assert.That(keeper.Probe(), Is.False);
        keeper.Update(owning: true);
        keeper.Update(owning: true);
        Assert.That(device.Calls, Is.EqualTo(new[] { "arm 4" }), "probed once, then left alone");
    }

    [Test]
    public void Required_refuses_to_start_without_a_device_naming_the_key_and_the_fix()
    {
        var (keeper, device, _) = Create(WatchdogMode.Required);
        device.FailArm = true;
        var ex = Assert.Throws<HaKitConfigurationException>(() => keeper.Probe())!;
        Assert.That(ex.Message, Does.Contain("HaKit:Watchdog:Device = /dev/watchdog").And.Contain("permission denied").And.Contain("modprobe softdog"));
    }

    [Test]
    public void Probe_arms_and_disarms_at_once()
    {
        var (keeper, device, _) = Create(WatchdogMode.Required);
        Assert.That(keeper.Probe(), Is.True);
        Assert.That(device.Calls, Is.EqualTo(new[] { "arm 4", "disarm" }));
    }

    [TestCase(5000, 500, 2)]   // default lease: 3.33 − 0.5 = 2.83 → 2 s
    [TestCase(30000, 500, 19)] // Patroni-like: 20 − 0.5 → 19 s
    [TestCase(2000, 300, 1)]   // the sample's Witness lease: 1.33 − 0.3 = 1.03 → 1 s
    [TestCase(1500, 300, 0)]   // too short for a whole second
    public void The_timeout_fits_below_the_leases_safe_end(int leaseMs, int marginMs, int seconds)
    {
        var arbiter = new ArbiterOptions { LeaseTtl = TimeSpan.FromMilliseconds(leaseMs), LeaseDriftMargin = TimeSpan.FromMilliseconds(marginMs) };
        Assert.That(WatchdogOptions.TimeoutFor(arbiter), Is.EqualTo(TimeSpan.FromSeconds(seconds)));
    }

    [Test]
    [Platform(Include = "Linux")]
    public void A_missing_device_fails_to_arm_naming_its_path()
    {
        var device = new LinuxWatchdogDevice("/nonexistent/watchdog");
        var ex = Assert.Throws<System.ComponentModel.Win32Exception>(() => device.Arm(2))!;
        Assert.That(ex.Message, Does.Contain("cannot open the watchdog device /nonexistent/watchdog"));
        Assert.DoesNotThrow(device.Disarm, "nothing is open");
    }

    [Test]
    [Platform(Include = "Linux")]
    public void A_file_that_is_not_a_watchdog_refuses_the_timeout_and_is_closed_again()
    {
        var path = Path.GetTempFileName();
        try
        {
            var device = new LinuxWatchdogDevice(path);
            var ex = Assert.Throws<System.ComponentModel.Win32Exception>(() => device.Arm(2))!;
            Assert.That(ex.Message, Does.Contain($"the watchdog device {path} refused a 2 s timeout (WDIOC_SETTIMEOUT)"));
            Assert.That(File.ReadAllText(path), Is.EqualTo("V"), "the failed arm was undone with the magic close");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// The real device: open (arm) with a long timeout, pet, magic close. Only where /dev/watchdog exists, its driver honours the
    /// magic close and nowayout is off (otherwise the device could not be disarmed and the machine would be reset).
    /// </summary>
    [Test]
    [Platform(Include = "Linux")]
    public void The_real_device_opens_pets_and_disarms_with_the_magic_close()
    {
        const string path = "/dev/watchdog";
        if (!File.Exists(path))
        {
            Assert.Ignore("no /dev/watchdog here (no watchdog driver loaded; `modprobe softdog` provides one where modules can be loaded)");
        }

        if (SafeToOpenReason() is { } reason)
        {
            Assert.Ignore(reason);
        }

        var device = new LinuxWatchdogDevice(path);
        try
        {
            device.Arm(60); // long: a failing test run still has a minute to disarm it below
            Assert.That(device.Options & LinuxWatchdogDevice.MagicCloseFlag, Is.Not.Zero, $"the driver ({device.Identity}) does not report WDIOF_MAGICCLOSE");
            Assert.That(device.TimeoutSeconds, Is.InRange(1, 60));
            Assert.DoesNotThrow(device.Pet);
        }
        finally
        {
            device.Disarm();
        }
    }

    /// <summary>Why opening the device could leave it armed (then the test must not open it), or null when it is known to disarm.</summary>
    private static string? SafeToOpenReason()
    {
        const string sysfs = "/sys/class/watchdog/watchdog0";
        if (File.Exists($"{sysfs}/nowayout") && File.ReadAllText($"{sysfs}/nowayout").Trim() != "0")
        {
            return "the watchdog has nowayout set: it could not be disarmed, and the machine would be reset";
        }

        if (File.Exists($"{sysfs}/options"))
        {
            var options = Convert.ToInt32(File.ReadAllText($"{sysfs}/options").Trim().Replace("0x", "", StringComparison.Ordinal), 16);
            return (options & LinuxWatchdogDevice.MagicCloseFlag) != 0 ? null : "the watchdog driver does not honour the magic close: it could not be disarmed";
        }

        const string softdog = "/sys/module/softdog/parameters/nowayout";
        if (File.Exists(softdog))
        {
            return File.ReadAllText(softdog).Trim() is "N" or "0" ? null : "softdog is loaded with nowayout: it could not be disarmed";
        }

        return "cannot tell whether this watchdog driver honours the magic close (no sysfs options, not softdog): not opening it";
    }
}
