using System.Collections.Concurrent;
using HaKit.Wire.Proto;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// The runtime half of the admin API's switchover and takeover: a command that must run on the group's owner travels there over the
/// heartbeat links (<see cref="AdminRequest"/>, signed and replay-checked like every envelope); the owner runs its own
/// <see cref="SwitchoverCommand"/> (the core's graceful handoff, so never two owners) and answers with the core's
/// <see cref="AdminResult"/> (<see cref="AdminReply"/>). The core stays a pure state machine: it gains only a read-only query
/// (<c>HolderOf</c>), no command, so the simulator's executors are unchanged.
/// </summary>
internal sealed class AdminForwarding(HaKitOptions options, NodeLoop loop, NodeLinks links, ILogger logger, TimeProvider time)
{
    private const int HandledMemory = 256;
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<AdminResult>> _pending = new();
    private readonly HashSet<(string Sender, ulong Incarnation, ulong RequestId)> _handled = [];
    private readonly Queue<(string Sender, ulong Incarnation, ulong RequestId)> _handledOrder = new();
    private long _nextRequestId;
    private ulong _incarnation;

    /// <summary>How long a requester waits for the owner's answer: twice the dead time, at least 2 s.</summary>
    public TimeSpan ReplyTimeout => TimeSpan.FromTicks(Math.Max((2 * options.Timing.DeadTime).Ticks, TimeSpan.FromSeconds(2).Ticks));

    /// <summary>Sets this process's incarnation (replies are addressed to it).</summary>
    public void Open(ulong incarnation) => _incarnation = incarnation;

    /// <summary>Switchover sent to this node: run here when this node holds the group (or nobody does: the core says why not), else forwarded to the holder.</summary>
    public Task<AdminResult> SwitchoverAsync(string group, string? target, CancellationToken cancellationToken) =>
        RunAsync(group, target, AdminRequestKind.AdminRequestSwitchover, cancellationToken);

    /// <summary>Takeover asked on this node: the holder hands the group to this node; refused with the reason when it cannot be reached.</summary>
    public Task<AdminResult> TakeoverAsync(string group, CancellationToken cancellationToken) =>
        RunAsync(group, null, AdminRequestKind.AdminRequestTakeover, cancellationToken);

    /// <summary>An admin message from an authenticated peer (on a link's thread). True when it was an admin message for this node's handling.</summary>
    public bool OnMessage(string sender, ulong incarnation, ClusterMessage message)
    {
        if (message.BodyCase == ClusterMessage.BodyOneofCase.AdminRequest)
        {
            var request = message.AdminRequest;
            if (request.To != options.NodeName)
            {
                return true; // for another node on a shared link
            }

            var (id, group, target, kind) = (request.RequestId, request.Group, request.Target, request.Kind);
            loop.Post(() => Handle(sender, incarnation, id, group, target, kind));
            return true;
        }

        if (message.BodyCase == ClusterMessage.BodyOneofCase.AdminReply)
        {
            var reply = message.AdminReply;
            if (reply.To == options.NodeName && reply.ToIncarnation == _incarnation && _pending.TryRemove(reply.RequestId, out var waiter))
            {
                waiter.TrySetResult(new AdminResult(reply.Accepted, reply.Reason) { HandledBy = sender });
            }

            return true; // a duplicate (one per link), a late one, or one for another node: nothing to do
        }

        return false;
    }

    private async Task<AdminResult> RunAsync(string group, string? target, AdminRequestKind kind, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(group);
        var decided = new TaskCompletionSource<(AdminResult? Result, string? Holder)>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!loop.Post(() => decided.TrySetResult(Decide(group, target, kind))))
        {
            return Local(new AdminResult(false, "the node is not running"));
        }

        var (result, holder) = await decided.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        if (result is not null)
        {
            return result;
        }

        var id = (ulong)Interlocked.Increment(ref _nextRequestId);
        var waiter = new TaskCompletionSource<AdminResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = waiter;
        try
        {
            var what = kind == AdminRequestKind.AdminRequestTakeover ? "takeover" : "switchover";
            RuntimeLog.AdminForwarded(logger, what, group, holder!);
            await links.SendOnLinksAsync(new ClusterMessage
            {
                AdminRequest = new AdminRequest { RequestId = id, Group = group, Target = target ?? "", Kind = kind, To = holder! },
            }).ConfigureAwait(false);
            try
            {
                return await waiter.Task.WaitAsync(ReplyTimeout, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return Local(new AdminResult(false,
                    $"group {group}: the owner {holder} did not answer the {what} within {ReplyTimeout.TotalMilliseconds:0} ms (it may be unreachable or busy); nothing was changed here"));
            }
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>On the loop: runs the command here, refuses it, or names the holder to forward it to.</summary>
    private (AdminResult? Result, string? Holder) Decide(string group, string? target, AdminRequestKind kind)
    {
        var local = options.NodeName;
        var holder = loop.Core.HolderOf(group, out var known);
        if (!known)
        {
            return (Local(new AdminResult(false, $"unknown group '{group}'")), null);
        }

        if (kind == AdminRequestKind.AdminRequestSwitchover && (holder is null || holder.Value.Node == local))
        {
            // This node holds it, or nobody does: the core decides (and says why not).
            return (Local(loop.Core.Admin(loop.Now, new SwitchoverCommand(group, string.IsNullOrEmpty(target) ? null : target))), null);
        }

        if (kind == AdminRequestKind.AdminRequestTakeover && holder?.Node == local)
        {
            return (Local(new AdminResult(false, $"group {group} already runs on {local}: nothing to take over")), null);
        }

        if (holder is not { } h)
        {
            return (Local(new AdminResult(false,
                $"group {group} has no owner that {local} knows of: nothing to hand over; it starts on the best eligible node by itself (see the group's status for why it has not)")), null);
        }

        if (h.Health == PeerHealth.Dead)
        {
            return (Local(new AdminResult(false,
                $"group {group}: owner {h.Node} is unreachable ({h.Health}); confirm it down with `hakit confirm-down {h.Node}` if it is, then {local} starts the group itself")), null);
        }

        return (null, h.Node);
    }

    /// <summary>On the loop: a request from <paramref name="sender"/> for a group this node should hold.</summary>
    private void Handle(string sender, ulong incarnation, ulong requestId, string group, string target, AdminRequestKind kind)
    {
        var key = (sender, incarnation, requestId);
        if (!_handled.Add(key))
        {
            return; // the same request on another link: answered already
        }

        _handledOrder.Enqueue(key);
        if (_handledOrder.Count > HandledMemory)
        {
            _handled.Remove(_handledOrder.Dequeue());
        }

        var takeover = kind == AdminRequestKind.AdminRequestTakeover;
        var result = loop.Core.Admin(loop.Now, new SwitchoverCommand(group, takeover ? sender : string.IsNullOrEmpty(target) ? null : target));
        RuntimeLog.AdminRequestHandled(logger, takeover ? "takeover" : "switchover", group, sender, result.Accepted ? "accepted" : "refused", result.Message);
        loop.Track(links.SendOnLinksAsync(new ClusterMessage
        {
            AdminReply = new AdminReply { RequestId = requestId, To = sender, ToIncarnation = incarnation, Accepted = result.Accepted, Reason = result.Message },
        }).AsTask());
    }

    private AdminResult Local(AdminResult result) => result with { HandledBy = options.NodeName };
}
