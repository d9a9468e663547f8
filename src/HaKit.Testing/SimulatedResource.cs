using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>
/// A resource for simulations: it remembers whether it runs and the epochs it was started with, and answers every action at once
/// (the simulator adds durations, hangs and failures from the <see cref="FaultProfile"/>).
/// </summary>
/// <param name="name">The resource name.</param>
public sealed class SimulatedResource(string name) : IResource
{
    private readonly List<ulong> _startedEpochs = [];

    /// <inheritdoc />
    public string Name { get; } = name;

    /// <summary>Whether the resource runs (started and not stopped since).</summary>
    public bool IsRunning { get; private set; }

    /// <summary>The epochs of every successful start, in order.</summary>
    public IReadOnlyList<ulong> StartedEpochs => _startedEpochs;

    /// <inheritdoc />
    public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        IsRunning = true;
        _startedEpochs.Add(context.Epoch);
        return ValueTask.FromResult(ResourceResult.Success);
    }

    /// <inheritdoc />
    public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        IsRunning = false;
        return ValueTask.FromResult(ResourceResult.Success);
    }

    /// <inheritdoc />
    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult(IsRunning ? MonitorResult.Running : MonitorResult.NotRunning("not started"));
}
