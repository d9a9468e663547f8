using Grpc.Core;
using HaKit.Admin.V1;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Hosting.Admin;

/// <summary>
/// The admin API (<c>hakit.admin.v1.ClusterAdmin</c>) over the node: standby, maintenance, cleanup and confirm-down run on this node's
/// core; switchover and takeover go to the group's owner when that is another node (<see cref="ClusterNode.SwitchoverAsync"/>,
/// <see cref="ClusterNode.TakeoverAsync"/>); a refused command answers with the core's reason.
/// </summary>
internal sealed class ClusterAdminService(ClusterNode node, HaKitOptions options, AdminEventJournal journal) : ClusterAdmin.ClusterAdminBase
{
    public override Task<StatusReply> GetStatus(StatusRequest request, ServerCallContext context) => Task.FromResult(Status());

    public override Task<CommandReply> SetStandby(SetStandbyRequest request, ServerCallContext context) =>
        Run(new SetStandbyCommand(request.Standby), context);

    public override Task<CommandReply> SetMaintenance(SetMaintenanceRequest request, ServerCallContext context) =>
        Run(new SetMaintenanceCommand(Required(request.Group, "group"), request.Maintenance), context);

    public override Task<CommandReply> Cleanup(CleanupRequest request, ServerCallContext context) =>
        Run(new ClearFailuresCommand(Required(request.Group, "group")), context);

    public override Task<CommandReply> ConfirmDown(ConfirmDownRequest request, ServerCallContext context) =>
        Run(new ConfirmNodeDownCommand(Required(request.Node, "node")), context);

    public override async Task<CommandReply> Switchover(SwitchoverRequest request, ServerCallContext context)
    {
        EnsureRunning();
        var result = await node.SwitchoverAsync(Required(request.Group, "group"), request.Target.Length == 0 ? null : request.Target, context.CancellationToken).ConfigureAwait(false);
        return Reply(result);
    }

    /// <summary>The resources of a group on this node (for <c>takeover --force</c>).</summary>
    public Func<string, IReadOnlyList<IResource>> GroupResources { get; init; } = _ => [];

    /// <summary>Where a forced takeover is logged.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>The clock for the forced takeover's log line.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public override async Task<CommandReply> Takeover(TakeoverRequest request, ServerCallContext context)
    {
        EnsureRunning();
        var group = Required(request.Group, "group");
        if (!request.Force)
        {
            return Reply(await node.TakeoverAsync(group, context.CancellationToken).ConfigureAwait(false));
        }

        // The operator's override: resources that refuse to start here because this node's data is behind start once anyway,
        // and the failures that refusal recorded (the ban) are cleared, so the group can start here.
        var at = Time.GetUtcNow();
        var caller = string.IsNullOrEmpty(context.Peer) ? "an admin client" : context.Peer;
        var forcible = GroupResources(group).OfType<IForcibleResource>().ToList();
        foreach (var resource in forcible)
        {
            resource.AllowForcedStart($"hakit takeover {group} --force by {caller} at {at:O}");
        }

        HostingLog.ForcedTakeover(Logger, node.NodeName, group, caller, at, forcible.Count);
        var cleared = await Run(new ClearFailuresCommand(group), context).ConfigureAwait(false);
        var takeover = await node.TakeoverAsync(group, context.CancellationToken).ConfigureAwait(false);
        var forced = $"forced: {forcible.Count} resource(s) of {group} may start here once although this node's data is behind (writes the old owner acknowledged beyond it are lost)";
        if (takeover.Accepted || !cleared.Accepted)
        {
            var reply = Reply(takeover);
            reply.Message = $"{forced}; {reply.Message}";
            return reply;
        }

        cleared.Message = $"{forced}; failures cleared, so the group starts here unless another node holds it ({cleared.Message}; takeover: {takeover.Message})";
        return cleared;
    }

    public override async Task Watch(WatchRequest request, IServerStreamWriter<WatchEvent> responseStream, ServerCallContext context)
    {
        EnsureRunning();
        AdminEventJournal.Subscription subscription;
        try
        {
            subscription = journal.Subscribe(request.Incarnation, request.AfterSequence, Status);
        }
        catch (InvalidOperationException ex)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, ex.Message));
        }

        using (subscription)
        {
            var last = 0UL;
            foreach (var e in subscription.First)
            {
                await responseStream.WriteAsync(e, context.CancellationToken).ConfigureAwait(false);
                last = e.Sequence;
            }

            try
            {
                await foreach (var e in subscription.Live.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
                {
                    await responseStream.WriteAsync(e, context.CancellationToken).ConfigureAwait(false);
                    last = e.Sequence;
                }
            }
            catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
            {
                return; // the client left
            }

            if (subscription.Overflowed)
            {
                throw new RpcException(new Grpc.Core.Status(StatusCode.ResourceExhausted,
                    $"watcher too slow: more than {AdminEventJournal.SubscriberQueue} events queued; reconnect with incarnation={node.Incarnation} after_sequence={last} to get what was missed (or a gap snapshot)"));
            }

            // Otherwise the admin API is stopping (the node shuts down): the stream ends normally.
        }
    }

    /// <summary>Packages' parts of the status (HaKit.Replication's logs).</summary>
    public IReadOnlyList<IAdminStatusSource> StatusSources { get; init; } = [];

    private StatusReply Status()
    {
        EnsureRunning();
        var reply = AdminStatusMapper.Map(node, options);
        foreach (var source in StatusSources)
        {
            source.AddTo(reply);
        }

        return reply;
    }

    private async Task<CommandReply> Run(AdminCommand command, ServerCallContext context)
    {
        EnsureRunning();
        var result = await node.ExecuteAsync(command, context.CancellationToken).ConfigureAwait(false);
        return Reply(result with { HandledBy = result.HandledBy ?? node.NodeName });
    }

    private static CommandReply Reply(AdminResult result) =>
        new() { Accepted = result.Accepted, Message = result.Message, HandledBy = result.HandledBy ?? "" };

    private void EnsureRunning()
    {
        try
        {
            _ = node.GetStatus();
        }
        catch (InvalidOperationException)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.Unavailable, $"node {node.NodeName} is starting; try again in a moment"));
        }
    }

    private static string Required(string value, string name) =>
        string.IsNullOrWhiteSpace(value) ? throw new RpcException(new Grpc.Core.Status(StatusCode.InvalidArgument, $"{name} is required")) : value;
}
