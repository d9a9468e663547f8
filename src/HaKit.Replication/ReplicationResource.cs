using HaKit.Resources;

namespace HaKit.Replication;

/// <summary>
/// Ties a <see cref="ReplicatedLog"/> to HaKit's ownership of its group: starting the resource makes this node the log's owner
/// with the group's epoch as the fencing token (after it made durable and applied everything it holds); stopping it makes the
/// node a standby again. List it before the resources that serve the data (they start after it and stop before it).
/// </summary>
/// <param name="log">The group's log.</param>
/// <param name="name">The resource's name in its group.</param>
public sealed class ReplicationResource(ReplicatedLog log, string name = "replication") : IForcibleResource
{
    /// <inheritdoc />
    public string Name { get; } = name;

    /// <summary>The log lives in this process: nothing of the owner role outlives a crash.</summary>
    public bool DiesWithProcess => true;

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            await log.BecomeOwnerAsync(checked((long)context.Epoch), cancellationToken).ConfigureAwait(false);
            return ResourceResult.Success;
        }
        catch (ArbiterUnavailableException ex)
        {
            // Whether this node is outdated is unknown until the arbiter answers: try again (it cannot own the group without the
            // arbiter anyway).
            return ResourceResult.Transient(ex.Message, ex);
        }
        catch (EpochTakenException ex)
        {
            // Its view of the epoch lags: another node owns this epoch. A later takeover (in a newer epoch) may succeed.
            return ResourceResult.Transient(ex.Message, ex);
        }
        catch (InvalidOperationException ex)
        {
            // This node has seen a higher epoch than the one it was given (another owner is newer), or it is marked outdated / lags
            // more than MaxLagOnFailover (ownership waits for data): it must not own the group here without an operator.
            return ResourceResult.PermanentOnNode(ex.Message, ex);
        }
    }

    /// <summary>The operator's override (<c>hakit takeover --force</c>): the next start passes the outdated / MaxLagOnFailover
    /// refusal (<see cref="ReplicatedLog.AllowOutdatedPromotionOnce"/>).</summary>
    /// <param name="reason">Who forces it, from where and when (logged).</param>
    public void AllowForcedStart(string reason) => log.AllowOutdatedPromotionOnce(reason);

    /// <inheritdoc />
    public async ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            if (context.StopReason is StopReason.Switchover or StopReason.Failback or StopReason.Shutdown or StopReason.NodeStandby
                && log.DrainTimeout > TimeSpan.Zero)
            {
                // A graceful handover: writes stop here first, and the target gets everything before this node lets go (DRBD's
                // secondary catching up before a planned role switch). The group's stop timeout still bounds the whole stop.
                await log.DrainAsync(log.DrainTimeout, cancellationToken).ConfigureAwait(false);
            }

            await log.BecomeStandbyAsync(cancellationToken).ConfigureAwait(false);
            return ResourceResult.Success;
        }
        catch (InvalidOperationException ex)
        {
            // The log is stopped: it cannot write anyway.
            return ResourceResult.Transient(ex.Message, ex);
        }
    }

    /// <inheritdoc />
    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken)
    {
        var status = log.Status;
        if (log.IsFaulted)
        {
            return ValueTask.FromResult(MonitorResult.Failed(ResourceFailureKind.PermanentOnNode, $"the replicated log of group {log.Group} stopped on an error"));
        }

        if (status.Role != ReplicaRole.Owner)
        {
            return ValueTask.FromResult(MonitorResult.NotRunning($"the replicated log of group {log.Group} is not the owner"));
        }

        if (status.Degraded || status.PeerOutdated)
        {
            return ValueTask.FromResult(MonitorResult.Degraded(
                $"group {log.Group} ({status.Mode}): writing without the peer (degraded: {status.Degraded}); the peer is marked outdated until it catches up"));
        }

        return ValueTask.FromResult(status.PeerConnected || status.Mode == ReplicationMode.Async
            ? MonitorResult.Running
            : MonitorResult.Degraded($"group {log.Group} ({status.Mode}): the peer is not connected; appends wait for it"));
    }
}
