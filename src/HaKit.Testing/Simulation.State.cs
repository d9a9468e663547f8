using HaKit.Ownership;

namespace HaKit.Testing;

// What tests and invariants read: nodes, groups, links, the fault period, observed events, the trace, violations.
public sealed partial class Simulation
{
    /// <summary>The nodes.</summary>
    public IReadOnlyList<SimulatedNode> Nodes => _nodes;

    /// <summary>The configured group names.</summary>
    public IReadOnlyList<string> GroupNames => _groupNames;

    /// <summary>The configured link names.</summary>
    public IReadOnlyList<string> Links => _links;

    /// <summary>Whether faults are being injected.</summary>
    public bool FaultsActive => _faultsOn;

    /// <summary>When faults end (and every fault is healed).</summary>
    public TimeSpan FaultsEndAt { get; private set; }

    /// <summary>Time bounds derived from the configured timings (see <see cref="SimulationBounds"/>).</summary>
    public SimulationBounds Bounds { get; }

    /// <summary>The facts observed in the step just executed (for invariants).</summary>
    public IReadOnlyList<SimulationEvent> StepEvents => _stepEvents;

    /// <summary><see cref="StepEvents"/> as the list itself: the built-in invariants enumerate it after every step without allocating an enumerator.</summary>
    internal List<SimulationEvent> StepEventList => _stepEvents;

    /// <summary><see cref="Nodes"/> as the list itself (enumerated without allocating).</summary>
    internal List<SimulatedNode> NodeList => _nodes;

    /// <summary>The node names in index order (<see cref="SimulatedNode"/>'s index).</summary>
    internal string[] NodeNameArray => _nodeNames;

    /// <summary><see cref="GroupNames"/> as the array itself (enumerated without allocating).</summary>
    internal string[] GroupNameArray => _groupNames;

    /// <summary>The trace so far (empty unless <see cref="SimulationOptions.RecordTrace"/>).</summary>
    public IReadOnlyList<TraceEntry> Trace => _trace;

    /// <summary>Violations found so far.</summary>
    public IReadOnlyList<InvariantViolation> Violations => _violations;

    /// <summary>A node by name.</summary>
    /// <param name="node">The node name.</param>
    public SimulatedNode this[string node] => _byName.TryGetValue(node, out var n) ? n : throw new ArgumentException($"unknown node '{node}'; the cluster has {string.Join(", ", _nodeNames)}", nameof(node));

    /// <summary>The last heartbeat <paramref name="from"/> that reached <paramref name="to"/>'s current process, with its global arrival time.</summary>
    /// <param name="to">The receiver.</param>
    /// <param name="from">The sender.</param>
    public (TimeSpan At, HeartbeatMessage Message)? LastHeartbeat(string to, string from) =>
        _lastHeard[PairSlot(this[to].Index, this[from].Index)];
}
