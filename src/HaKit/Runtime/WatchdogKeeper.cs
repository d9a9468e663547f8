using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// Arms the watchdog while this node owns a group on a lease, pets it from the node loop, and disarms it (magic close) when the last
/// such ownership ends or the node stops. Loop only (no locks); <see cref="Dispose"/> after the loop stopped.
/// </summary>
/// <remarks>
/// Pets are spaced at least an eighth of the timeout apart (a write to the device per heartbeat is not needed); a loop that does not run
/// for the whole timeout (a frozen or hung process) lets the kernel reset the machine. Arming happens at the first step that owns, so
/// a start that owns the group already runs under the watchdog.
/// </remarks>
internal sealed partial class WatchdogKeeper(IWatchdogDevice device, WatchdogMode mode, string devicePath, TimeSpan timeout, TimeProvider time, ILogger logger) : IDisposable
{
    private readonly long _petEvery = (long)(timeout.TotalSeconds / 8 * time.TimestampFrequency);
    private bool _armed;
    private bool _failed;
    private long _lastPet;

    /// <summary>Whether the device is armed now.</summary>
    public bool Armed => _armed;

    /// <summary>Checks at start-up that the device can be armed, configured and disarmed (Required: throws naming the key; Automatic: a warning).</summary>
    /// <returns>Whether the watchdog can be used.</returns>
    public bool Probe()
    {
        try
        {
            device.Arm(Seconds);
            device.Disarm();
            LogReady(logger, devicePath, Seconds);
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            device.Disarm();
            if (mode == WatchdogMode.Required)
            {
                throw new HaKitConfigurationException([
                    $"HaKit:Watchdog:Device = {devicePath}: cannot arm it ({ex.Message}); load a watchdog driver (modprobe softdog), run as a user " +
                    "that may open it (root), or set HaKit:Watchdog:Mode to Automatic or Off",
                ]);
            }

            _failed = true;
            LogUnavailable(logger, devicePath, ex.Message);
            return false;
        }
    }

    /// <summary>Called after every loop step: arms and pets while <paramref name="owning"/>, disarms when it ends.</summary>
    /// <param name="owning">Whether a group is owned here on a lease.</param>
    public void Update(bool owning)
    {
        if (!owning)
        {
            if (_armed)
            {
                _armed = false;
                device.Disarm();
                LogDisarmed(logger, devicePath);
            }

            return;
        }

        var now = time.GetTimestamp();
        try
        {
            if (!_armed)
            {
                if (_failed)
                {
                    return; // Automatic, and the device did not work: run without it (logged once)
                }

                device.Arm(Seconds);
                _armed = true;
                _lastPet = now;
                LogArmed(logger, devicePath, Seconds);
                return;
            }

            if (now - _lastPet >= _petEvery)
            {
                device.Pet();
                _lastPet = now;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            _failed = mode != WatchdogMode.Required;
            LogFailed(logger, devicePath, ex.Message);
        }
    }

    /// <summary>Disarms when armed (a clean stop of the node).</summary>
    public void Dispose() => Update(owning: false);

    private int Seconds => (int)timeout.TotalSeconds;

    [LoggerMessage(60, LogLevel.Information, "watchdog {Device}: usable with a {Seconds} s timeout; armed while this node owns a group on a lease")]
    private static partial void LogReady(ILogger logger, string device, int seconds);

    [LoggerMessage(61, LogLevel.Warning, "watchdog {Device}: not usable ({Reason}); running without it (HaKit:Watchdog:Mode = Automatic)")]
    private static partial void LogUnavailable(ILogger logger, string device, string reason);

    [LoggerMessage(62, LogLevel.Information, "watchdog {Device}: armed with a {Seconds} s timeout (this node owns a group; a freeze that long resets the machine)")]
    private static partial void LogArmed(ILogger logger, string device, int seconds);

    [LoggerMessage(63, LogLevel.Information, "watchdog {Device}: disarmed (magic close): no group is owned here any more")]
    private static partial void LogDisarmed(ILogger logger, string device);

    [LoggerMessage(64, LogLevel.Error, "watchdog {Device}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string device, string reason);
}
