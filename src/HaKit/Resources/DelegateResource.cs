namespace HaKit.Resources;

/// <summary>
/// A resource made of delegates: the quickest way to plug host-application code (open a listener, become the writer, ...) into a group.
/// </summary>
/// <remarks>
/// Without a monitor delegate, the resource reports <see cref="ResourceStatus.Running"/> after a successful start and
/// <see cref="ResourceStatus.NotRunning"/> before the first start and after a successful stop.
/// </remarks>
public sealed class DelegateResource : IResource
{
    private const int StateStopped = 0;
    private const int StateRunning = 1;

    private readonly Func<ResourceContext, CancellationToken, ValueTask<ResourceResult>> _start;
    private readonly Func<ResourceContext, CancellationToken, ValueTask<ResourceResult>> _stop;
    private readonly Func<ResourceContext, CancellationToken, ValueTask<MonitorResult>>? _monitor;
    private int _state;

    /// <summary>Creates a resource from delegates that return typed results.</summary>
    /// <param name="name">Resource name, unique within its group.</param>
    /// <param name="start">Starts the resource; must be idempotent.</param>
    /// <param name="stop">Stops the resource; must be idempotent.</param>
    /// <param name="monitor">Checks the resource; <see langword="null"/> for the default (Running after a successful start, NotRunning after a stop).</param>
    public DelegateResource(
        string name,
        Func<ResourceContext, CancellationToken, ValueTask<ResourceResult>> start,
        Func<ResourceContext, CancellationToken, ValueTask<ResourceResult>> stop,
        Func<ResourceContext, CancellationToken, ValueTask<MonitorResult>>? monitor = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(stop);
        Name = name;
        _start = start;
        _stop = stop;
        _monitor = monitor;
    }

    /// <summary>
    /// Creates a resource from plain asynchronous delegates: completing is success; a <see cref="ResourceException"/> fails the
    /// action with its kind; any other exception is a <see cref="ResourceFailureKind.Transient"/> failure; an
    /// <see cref="OperationCanceledException"/> caused by the action's own token propagates (the action timed out or the node is shutting down).
    /// </summary>
    /// <param name="name">Resource name, unique within its group.</param>
    /// <param name="start">Starts the resource; must be idempotent.</param>
    /// <param name="stop">Stops the resource; must be idempotent.</param>
    /// <param name="monitor">Checks the resource; <see langword="null"/> for the default (Running after a successful start, NotRunning after a stop).</param>
    public DelegateResource(
        string name,
        Func<ResourceContext, CancellationToken, Task> start,
        Func<ResourceContext, CancellationToken, Task> stop,
        Func<ResourceContext, CancellationToken, ValueTask<MonitorResult>>? monitor = null)
        : this(name, Wrap(start ?? throw new ArgumentNullException(nameof(start))), Wrap(stop ?? throw new ArgumentNullException(nameof(stop))), monitor)
    {
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        var result = await _start(context, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            Volatile.Write(ref _state, StateRunning);
        }

        return result;
    }

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        var result = await _stop(context, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            Volatile.Write(ref _state, StateStopped);
        }

        return result;
    }

    /// <inheritdoc />
    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        if (_monitor is not null)
        {
            return _monitor(context, cancellationToken);
        }

        return new ValueTask<MonitorResult>(Volatile.Read(ref _state) == StateRunning ? MonitorResult.Running : MonitorResult.NotRunning("not started"));
    }

    private static Func<ResourceContext, CancellationToken, ValueTask<ResourceResult>> Wrap(Func<ResourceContext, CancellationToken, Task> action) =>
        async (context, cancellationToken) =>
        {
            try
            {
                await action(context, cancellationToken).ConfigureAwait(false);
                return ResourceResult.Success;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (ResourceException ex)
            {
                return ResourceResult.Failure(ex.Kind == ResourceFailureKind.None ? ResourceFailureKind.Transient : ex.Kind, ex.Message, ex);
            }
            catch (Exception ex)
            {
                return ResourceResult.Transient($"{ex.GetType().Name}: {ex.Message}", ex);
            }
        };
}
