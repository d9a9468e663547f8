using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using HaKit.Integration.Harness;

namespace HaKit.Integration.Namespaces;

/// <summary>
/// The sample pair with each node on its own host: a fresh <see cref="NamespaceBridge"/> (a in one namespace, b in the other, the
/// caller's namespace on the bridge), heartbeats on <c>lan0</c> at <see cref="HeartbeatA"/> and <see cref="HeartbeatB"/>, a fresh
/// state directory. <see cref="DisposeAsync"/> kills and reaps every node, then removes the namespaces, the bridge and the directory,
/// each step even when an earlier one failed.
/// </summary>
public sealed class NamespaceSamplePair : IAsyncDisposable
{
    private const int PortA = 7401;
    private const int PortB = 7402;
    private readonly List<SampleNode> _started = [];
    private readonly string[] _extraArgs;

    private NamespaceSamplePair(NamespaceBridge net, string preset, string[] extraArgs)
    {
        Net = net;
        Timing = PresetTiming.Of(preset);
        _extraArgs = extraArgs;
        HeartbeatA = new IPEndPoint(net.AddressA, PortA);
        HeartbeatB = new IPEndPoint(net.AddressB, PortB);
        StateDirectory = Directory.CreateTempSubdirectory("hakit-it-ns-").FullName;
    }

    /// <summary>The namespaces and the bridge.</summary>
    public NamespaceBridge Net { get; }

    /// <summary>The preset's timing.</summary>
    public PresetTiming Timing { get; }

    /// <summary>Node a's heartbeat address (in its namespace).</summary>
    public IPEndPoint HeartbeatA { get; }

    /// <summary>Node b's heartbeat address (in its namespace).</summary>
    public IPEndPoint HeartbeatB { get; }

    /// <summary>The state directory both nodes use.</summary>
    public string StateDirectory { get; }

    /// <summary>Creates the namespaces and the bridge (removed again if anything fails).</summary>
    /// <param name="preset">Lan, Fast or Wan.</param>
    /// <param name="extraArgs">Arguments for both nodes.</param>
    public static NamespaceSamplePair Create(string preset, params string[] extraArgs)
    {
        var net = NamespaceBridge.Create();
        try
        {
            return new NamespaceSamplePair(net, preset, extraArgs);
        }
        catch
        {
            net.Dispose();
            throw;
        }
    }

    /// <summary>Starts node <paramref name="node"/> (a or b) in its namespace, serving HTTP on its own address, without waiting.</summary>
    public SampleNode Start(string node, params string[] more)
    {
        var process = SampleNode.StartDll(node, SampleProgram.DllPath,
        [
            "--node", node,
            $"--HaKit:Preset={Timing.Name}",
            $"--HaKit:Nodes:0:Addresses:lan0={HeartbeatA}",
            $"--HaKit:Nodes:1:Addresses:lan0={HeartbeatB}",
            $"--HaKit:StateDirectory={StateDirectory}",
            $"--Sample:HttpAddress=0.0.0.0:{8080.ToString(CultureInfo.InvariantCulture)}",
            .. _extraArgs,
            .. more,
        ], Net.NamespaceOf(node));
        _started.Add(process);
        return process;
    }

    /// <summary>
    /// a starts alone and serves group <c>web</c>; then b starts. Returns once heartbeats flow both ways across the bridge: a reported
    /// b <c>Alive</c> (it had declared b dead at its own start), and b, past its initial dead time, has not declared a dead nor taken
    /// the group (a node prints no line for a peer it hears from the start). Throws when not so; every wait is bounded by <paramref name="timeout"/>.
    /// </summary>
    public async Task<(SampleNode A, SampleNode B)> StartWithOwnerAAsync(TimeSpan timeout)
    {
        var a = Start("a");
        await a.WaitForLineAsync(l => l.IsHttpListening, timeout, "a: http listening").ConfigureAwait(false);
        var b = Start("b");
        await b.WaitForLineAsync(l => l.IsReady, timeout, "b: ready").ConfigureAwait(false);
        var readyAt = Stopwatch.GetTimestamp();
        await a.WaitForLineAsync(l => l.IsPeer && l["node"] == "b" && l["health"] == "Alive", timeout, "a: peer b Alive").ConfigureAwait(false);
        var settle = Timing.InitialDeadTime + TimeSpan.FromMilliseconds(300) - Stopwatch.GetElapsedTime(readyAt);
        if (settle > TimeSpan.Zero)
        {
            await Task.Delay(settle).ConfigureAwait(false);
        }

        if (b.Lines.FirstOrDefault(l => (l.IsPeer && l["health"] == "Dead") || l.IsRoleTo("Acquiring")) is { } line)
        {
            throw new InvalidOperationException($"b did not hear a across the bridge within its initial dead time: {line.Raw}\n{Transcripts()}");
        }

        return (a, b);
    }

    /// <summary>Every node's transcript.</summary>
    public string Transcripts()
    {
        var text = new StringBuilder();
        text.Append("namespaces ").Append(Net.NamespaceA).Append(' ').Append(Net.NamespaceB).Append(", heartbeats a=").Append(HeartbeatA)
            .Append(" b=").Append(HeartbeatB).Append(", state ").Append(StateDirectory).Append('\n');
        foreach (var p in _started)
        {
            text.Append(p.Transcript()).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>Kills and reaps every node, then removes the namespaces, the bridge and the state directory.</summary>
    public async ValueTask DisposeAsync()
    {
        List<Exception> errors = [];
        try
        {
            await Task.WhenAll(_started.Select(p => p.DisposeAsync().AsTask())).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            errors.Add(ex);
        }

        try
        {
            Net.Dispose();
        }
        catch (Exception ex)
        {
            errors.Add(ex);
        }

        try
        {
            Directory.Delete(StateDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (Exception ex)
        {
            errors.Add(ex);
        }

        if (errors.Count > 0)
        {
            throw new AggregateException("cleaning up the namespace pair failed", errors);
        }
    }
}
