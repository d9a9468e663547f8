using HaKit.Arbitration;
using HaKit.Diagnostics;
using HaKit.Fencing;
using HaKit.Ownership;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// The node's executor of the core's commands (on the loop): sends on the links, persists epochs, asks and releases the arbiter,
/// fences, drives the resource groups and publishes events. Work that takes time runs as a tracked task whose result is posted back.
/// </summary>
internal sealed class NodeCommandExecutor(
    HaKitOptions options,
    ICommandLoop loop,
    IHeartbeatLinks links,
    DurableNodeState state,
    IArbiter arbiter,
    IFenceRunner fencing,
    IReadOnlyDictionary<string, IGroupDriver> drivers,
    HaKitMetrics metrics,
    ILogger logger,
    Action<ClusterEvent> publish) : ICoreCommandHandler
{
    /// <inheritdoc />
    public ValueTask SendHeartbeatAsync(SendHeartbeat command, CancellationToken cancellationToken)
    {
        if (TakeoverTrace.On && command.Message.Probe)
        {
            TakeoverTrace.Mark("loop.probe.send");
        }

        return links.SendHeartbeatAsync(command.Message, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask PersistEpochAsync(PersistEpoch command, CancellationToken cancellationToken)
    {
        TakeoverTrace.Mark("persist.begin");
        var saved = state.SaveEpoch(command.Group, command.Epoch);
        TakeoverTrace.Mark("persist.end");
        loop.Core.OnEpochPersisted(loop.Now, command.Group, command.Epoch, saved);
        return default;
    }

    /// <inheritdoc />
    public ValueTask AskArbiterAsync(AskArbiter command, CancellationToken cancellationToken)
    {
        loop.Track(AskAsync(command, cancellationToken));
        return default;
    }

    /// <inheritdoc />
    public ValueTask ReleaseArbiterAsync(ReleaseArbiter command, CancellationToken cancellationToken)
    {
        loop.TrackRelease(ReleaseAsync(command.Group, cancellationToken));
        return default;
    }

    /// <inheritdoc />
    public ValueTask FenceNodeAsync(FenceNode command, CancellationToken cancellationToken)
    {
        loop.Track(FenceAsync(command, cancellationToken));
        return default;
    }

    /// <inheritdoc />
    public ValueTask StartGroupAsync(StartGroup command, CancellationToken cancellationToken)
    {
        TakeoverTrace.Mark("start.begin");
        TakeoverTrace.StartStep();
        // The start runs on this thread until its first real wait (all of it, for a synchronous resource): its ownership must be
        // published first, not at the end of this step.
        loop.PublishOwnership();
        drivers[command.Group].Start(loop, command.Epoch, cancellationToken);
        return default;
    }

    /// <inheritdoc />
    public ValueTask StopGroupAsync(StopGroup command, CancellationToken cancellationToken)
    {
        drivers[command.Group].Stop(loop, command);
        return default;
    }

    /// <inheritdoc />
    public ValueTask MonitorGroupAsync(MonitorGroup command, CancellationToken cancellationToken)
    {
        drivers[command.Group].Monitor(loop, command.Epoch, cancellationToken);
        return default;
    }

    /// <inheritdoc />
    public ValueTask EmitEventAsync(EmitEvent command, CancellationToken cancellationToken)
    {
        if (!TakeoverTrace.On)
        {
            publish(command.Event);
            return default;
        }

        var point = command.Event switch
        {
            RoleChanged { To: GroupRole.Acquiring } => "event.acquiring",
            RoleChanged { To: GroupRole.Starting } => "event.starting",
            RoleChanged { To: GroupRole.Active } => "event.active",
            PeerCrashHinted => "event.hint",
            _ => null,
        };
        if (point is not null)
        {
            TakeoverTrace.Mark(point);
            if (point == "event.acquiring")
            {
                TakeoverTrace.StartStep(); // the rest of this step is the takeover's: mark its commands
            }
        }

        publish(command.Event);
        if (point is not null)
        {
            TakeoverTrace.Mark(point + ".published");
        }

        return default;
    }

    private async Task AskAsync(AskArbiter ask, CancellationToken cancellationToken)
    {
        ArbiterDecision decision;
        try
        {
            decision = await arbiter.RequestAsync(ask.Request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // An arbiter that throws broke its contract; its answer is unknown, not a refusal: an owner serves on until its lease runs out.
            decision = ArbiterDecision.Unreachable($"arbiter {arbiter.Name} failed: {ex.Message}");
        }

        metrics.ArbiterAnswered(ask.Request, decision);
        loop.Post(() => loop.Core.OnArbiterAnswer(loop.Now, ask.RequestId, decision));
    }

    private async Task ReleaseAsync(string group, CancellationToken cancellationToken)
    {
        try
        {
            await arbiter.ReleaseAsync(group, options.NodeName, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            RuntimeLog.TakeoverDelayed(logger, group, $"arbiter release failed: {ex.Message}");
        }
    }

    private async Task FenceAsync(FenceNode fence, CancellationToken cancellationToken)
    {
        var result = await fencing.FenceAsync(fence.Node, cancellationToken).ConfigureAwait(false);
        loop.Post(() => loop.Core.OnFenceCompleted(loop.Now, fence.RequestId, result));
    }
}
