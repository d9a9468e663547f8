using HaKit.Diagnostics;
using HaKit.Ownership;
using HaKit.Resources;

namespace HaKit.Runtime;

/// <summary>Runs one group's actions and owns its ownership token.</summary>
internal sealed class GroupDriver(ResourceGroupRunner runner) : IGroupDriver, IDisposable
{
    private static readonly CancellationToken Cancelled = new(canceled: true);
    private CancellationTokenSource? _ownership;
    private CancellationTokenSource? _action;

    public int ResourceCount => runner.Resources.Count;

    public OwnershipGuard Guard => runner.Guard!;

    public CancellationToken OwnershipToken => _ownership is { IsCancellationRequested: false } o ? o.Token : Cancelled;

    public void Start(ICommandLoop loop, ulong epoch, CancellationToken shutdown)
    {
        RevokeOwnership();
        _ownership?.Dispose();
        _action?.Dispose();
        _ownership = new CancellationTokenSource();
        _action = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
        var ownership = _ownership.Token;
        var action = _action.Token;
        loop.Track(Run());

        async Task Run()
        {
            GroupActionOutcome outcome;
            try
            {
                outcome = await runner.StartAsync(epoch, ownership, action).ConfigureAwait(false);
                TakeoverTrace.Mark("start.resources.done");
            }
            catch (Exception ex)
            {
                outcome = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, null, $"start aborted: {ex.Message}", 0);
            }

            if (outcome.Outcome is GroupOutcome.Blocked or GroupOutcome.Failed)
            {
                RevokeOwnership();
            }

            loop.Post(() =>
            {
                TakeoverTrace.Mark("loop.started.step");
                loop.Core.OnGroupStarted(loop.Now, runner.GroupName, epoch, outcome);
            });
        }
    }

    public void Stop(ICommandLoop loop, StopGroup command)
    {
        var epoch = command.Epoch;
        // The instant the node stops owning the group: leader-only work sees the token cancelled.
        RevokeOwnership();
        _action?.Cancel();
        loop.Track(Run());

        async Task Run()
        {
            GroupActionOutcome outcome;
            try
            {
                // A stop is never cancelled: it is bounded by the group's stop timeout.
                outcome = await runner.StopAsync(CancellationToken.None, command.Reason).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                outcome = new GroupActionOutcome(GroupOutcome.Blocked, ResourceFailureKind.Transient, null, $"stop aborted: {ex.Message}", 0);
            }

            loop.Post(() => loop.Core.OnGroupStopped(loop.Now, runner.GroupName, epoch, outcome));
        }
    }

    public void Monitor(ICommandLoop loop, ulong epoch, CancellationToken shutdown)
    {
        var action = _action?.Token ?? shutdown;
        loop.Track(Run());

        async Task Run()
        {
            GroupActionOutcome outcome;
            try
            {
                outcome = await runner.MonitorAsync(action).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (action.IsCancellationRequested)
            {
                return; // the group is stopping or the node is shutting down: nothing to report
            }
            catch (Exception ex)
            {
                outcome = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, null, $"monitor aborted: {ex.Message}", 0);
            }

            if (outcome.Outcome is GroupOutcome.Blocked)
            {
                RevokeOwnership();
            }

            loop.Post(() => loop.Core.OnGroupMonitored(loop.Now, runner.GroupName, epoch, outcome));
        }
    }

    /// <summary>The orphan probe at node start (before the loop decides anything): stops whatever of this group still runs here.</summary>
    public Task<IReadOnlyList<OrphanFinding>> ProbeAsync(CancellationToken cancellationToken) => runner.ProbeAsync(cancellationToken);

    /// <summary>Announces the group's announcing resources again (a split brain resolved in this node's favour).</summary>
    public void Announce(NodeLoop loop, CancellationToken shutdown)
    {
        loop.Track(Run());

        async Task Run()
        {
            try
            {
                await runner.AnnounceAsync(shutdown).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Shutting down.
            }
        }
    }

    public void Dispose()
    {
        _ownership?.Dispose();
        _action?.Dispose();
    }

    private void RevokeOwnership()
    {
        try
        {
            _ownership?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
