using HaKit.Resources;

namespace HaKit.Tests.Resources;

/// <summary>A fake resource with scripted results that writes every action to a shared log ("start a", "stop b", ...).</summary>
internal sealed class RecordingResource : IResource
{
    private readonly List<string> _log;
    private readonly Queue<Func<CancellationToken, ValueTask<ResourceResult>>> _starts = new();
    private readonly Queue<Func<CancellationToken, ValueTask<ResourceResult>>> _stops = new();
    private readonly Queue<Func<CancellationToken, ValueTask<MonitorResult>>> _monitors = new();

    public RecordingResource(string name, List<string> log)
    {
        Name = name;
        _log = log;
    }

    public string Name { get; }

    public List<(ResourceAction Action, ResourceContext Context)> Contexts { get; } = [];

    /// <summary>Used when the start script is empty.</summary>
    public Func<CancellationToken, ValueTask<ResourceResult>> DefaultStart { get; set; } = _ => new(ResourceResult.Success);

    public Func<CancellationToken, ValueTask<ResourceResult>> DefaultStop { get; set; } = _ => new(ResourceResult.Success);

    public Func<CancellationToken, ValueTask<MonitorResult>> DefaultMonitor { get; set; } = _ => new(MonitorResult.Running);

    public RecordingResource Start(ResourceResult result) { _starts.Enqueue(_ => new(result)); return this; }

    public RecordingResource Start(Func<CancellationToken, ValueTask<ResourceResult>> action) { _starts.Enqueue(action); return this; }

    public RecordingResource Stop(ResourceResult result) { _stops.Enqueue(_ => new(result)); return this; }

    public RecordingResource Stop(Func<CancellationToken, ValueTask<ResourceResult>> action) { _stops.Enqueue(action); return this; }

    public RecordingResource Monitor(MonitorResult result) { _monitors.Enqueue(_ => new(result)); return this; }

    public RecordingResource Monitor(Func<CancellationToken, ValueTask<MonitorResult>> action) { _monitors.Enqueue(action); return this; }

    /// <summary>An action that never completes until its token is cancelled.</summary>
    public static async ValueTask<T> Hang<T>(CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        throw new InvalidOperationException("unreachable");
    }

    public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        Record(ResourceAction.Start, context);
        return (_starts.TryDequeue(out var a) ? a : DefaultStart)(cancellationToken);
    }

    public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        Record(ResourceAction.Stop, context);
        return (_stops.TryDequeue(out var a) ? a : DefaultStop)(cancellationToken);
    }

    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        Record(ResourceAction.Monitor, context);
        return (_monitors.TryDequeue(out var a) ? a : DefaultMonitor)(cancellationToken);
    }

    private void Record(ResourceAction action, ResourceContext context)
    {
        lock (_log)
        {
            _log.Add($"{action.ToString().ToLowerInvariant()} {Name}");
            Contexts.Add((action, context));
        }
    }
}
