using HaKit.Replication.Protocol;

namespace HaKit.Replication;

/// <summary>The drain of a planned handover (see <see cref="DrainAsync"/>).</summary>
public sealed partial class ReplicatedLog
{
    /// <summary>How often <see cref="DrainAsync"/> looks at the peer's progress.</summary>
    private static readonly TimeSpan DrainPoll = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// A graceful handover's first step on the owner (a switchover, a failback, a node shutting down or put in standby): from now
    /// on appends are refused (<see cref="InvalidOperationException"/>: write to the new owner), every append queued before this call
    /// is still written, and the task completes once the peer has all of them durable (the target is caught up before the old owner
    /// stops), or after <paramref name="timeout"/>, or at once when the peer is not connected (nothing can catch up then). Appends are
    /// accepted again after the next <see cref="BecomeOwnerAsync"/>.
    /// </summary>
    /// <param name="timeout">The longest wait for the peer (<c>ReplicationOptions.DrainTimeout</c>).</param>
    /// <param name="cancellationToken">Stops waiting (appends stay refused).</param>
    /// <returns>How many entries the peer still lacked on disk when the drain ended (0: caught up).</returns>
    public async Task<long> DrainAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Through the loop's queue: every append queued before it is appended first, every one after it is refused.
        await Post(DrainInput.Instance, cancellationToken).ConfigureAwait(false);
        var started = _time.GetTimestamp();
        while (true)
        {
            var status = Status;
            var missing = status.Role == ReplicaRole.Owner ? Math.Max(0, status.Last.Index - status.PeerDurable) : 0;
            if (missing == 0 || !status.PeerConnected || _time.GetElapsedTime(started) >= timeout)
            {
                ReplicationLog.Drained(_logger, _options.Group, missing, _time.GetElapsedTime(started).TotalMilliseconds, status.PeerConnected);
                return missing;
            }

            await Task.Delay(DrainPoll, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed record DrainInput
    {
        public static readonly DrainInput Instance = new();
    }
}
