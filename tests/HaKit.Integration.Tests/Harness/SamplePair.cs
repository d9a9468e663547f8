using System.Globalization;
using System.Net;
using System.Text;

namespace HaKit.Integration.Harness;

/// <summary>Timing of a preset as the tests and the harness need it (mirrors <c>HaKit.HaKitPresets</c>).</summary>
/// <param name="Name">Lan, Fast or Wan.</param>
/// <param name="Interval">Heartbeat interval.</param>
/// <param name="DeadTime">Silence after which a peer is dead.</param>
/// <param name="InitialDeadTime">How long a starting node waits for a peer before it takes groups alone.</param>
public sealed record PresetTiming(string Name, TimeSpan Interval, TimeSpan DeadTime, TimeSpan InitialDeadTime)
{
    /// <summary>The timing of the named preset, read from the library so it cannot drift.</summary>
    public static PresetTiming Of(string preset)
    {
        if (!Enum.TryParse<HaKitPreset>(preset, ignoreCase: true, out var p) || !Enum.IsDefined(p))
        {
            throw new ArgumentException($"preset '{preset}': unknown; use Lan, Fast or Wan", nameof(preset));
        }

        var t = HaKitPresets.Create(p).Timing;
        return new PresetTiming(p.ToString(), t.Interval, t.DeadTime, t.InitialDeadTime);
    }
}

/// <summary>
/// Two sample nodes (a and b) on fresh loopback ports with a fresh state directory. Tracks every process it started;
/// disposing kills them all, waits until they are reaped and deletes the state directory.
/// </summary>
public sealed class SamplePair : IAsyncDisposable
{
    private readonly List<SampleNode> _started = [];
    private readonly string[] _extraArgs;

    /// <summary>Picks ports (UDP for heartbeats, TCP for the service) and creates the state directory.</summary>
    public SamplePair(string preset, params string[] extraArgs)
    {
        Timing = PresetTiming.Of(preset);
        _extraArgs = extraArgs;
        HeartbeatPortA = FreePorts.Udp();
        HeartbeatPortB = FreePorts.Udp();
        Service = new IPEndPoint(IPAddress.Loopback, FreePorts.Tcp());
        StateDirectory = Directory.CreateTempSubdirectory("hakit-it-").FullName;
    }

    /// <summary>The preset's timing.</summary>
    public PresetTiming Timing { get; }

    /// <summary>Node a's heartbeat port.</summary>
    public int HeartbeatPortA { get; }

    /// <summary>Node b's heartbeat port.</summary>
    public int HeartbeatPortB { get; }

    /// <summary>The shared service address (<c>Sample:HttpAddress</c>).</summary>
    public IPEndPoint Service { get; }

    /// <summary>The state directory both nodes use (each writes its own file).</summary>
    public string StateDirectory { get; }

    /// <summary>Every process started so far, in order.</summary>
    public IReadOnlyList<SampleNode> Started => _started;

    /// <summary>The command-line arguments for <paramref name="node"/> (a or b), plus <paramref name="more"/>.</summary>
    public IReadOnlyList<string> Arguments(string node, params string[] more) =>
    [
        "--node", node,
        $"--HaKit:Preset={Timing.Name}",
        $"--HaKit:Nodes:0:Addresses:lan0=127.0.0.1:{HeartbeatPortA.ToString(CultureInfo.InvariantCulture)}",
        $"--HaKit:Nodes:1:Addresses:lan0=127.0.0.1:{HeartbeatPortB.ToString(CultureInfo.InvariantCulture)}",
        $"--HaKit:StateDirectory={StateDirectory}",
        $"--Sample:HttpAddress={Service}",
        .. _extraArgs,
        .. more,
    ];

    /// <summary>Starts node <paramref name="node"/> and waits (bounded) for its <c>ready</c> line.</summary>
    public async Task<SampleNode> StartAsync(string node, TimeSpan readyTimeout, params string[] more)
    {
        var process = Start(node, more);
        await process.WaitForLineAsync(l => l.IsReady, readyTimeout, "ready").ConfigureAwait(false);
        return process;
    }

    /// <summary>Starts node <paramref name="node"/> without waiting.</summary>
    public SampleNode Start(string node, params string[] more)
    {
        var process = SampleNode.StartSample(node, Arguments(node, more));
        _started.Add(process);
        return process;
    }

    /// <summary>
    /// The usual opening: a starts alone and takes group <c>web</c> after its initial dead time (epoch 1), then b joins as standby.
    /// Returns once a serves, b is ready, and b has had <paramref name="settle"/> to hear a's heartbeats.
    /// </summary>
    public async Task<(SampleNode A, SampleNode B)> StartWithOwnerAAsync(TimeSpan timeout, TimeSpan settle)
    {
        var a = await StartAsync("a", timeout).ConfigureAwait(false);
        await a.WaitForLineAsync(l => l.IsHttpListening, timeout, "http listening").ConfigureAwait(false);
        var b = await StartAsync("b", timeout).ConfigureAwait(false);
        await Task.Delay(settle).ConfigureAwait(false);
        return (a, b);
    }

    /// <summary>Every process's transcript.</summary>
    public string Transcripts()
    {
        var text = new StringBuilder();
        text.Append("service ").Append(Service).Append(", heartbeats a=").Append(HeartbeatPortA).Append(" b=").Append(HeartbeatPortB)
            .Append(", state ").Append(StateDirectory).Append('\n');
        foreach (var p in _started)
        {
            text.Append(p.Transcript()).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>Kills and reaps every process, then deletes the state directory.</summary>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_started.Select(p => p.DisposeAsync().AsTask())).ConfigureAwait(false);
        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
