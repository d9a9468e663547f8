using HaKit.Resources;

namespace HaKit.Replication;

/// <summary>
/// The <see cref="ReplicationResource"/> of a group registered with <c>UseReplication()</c>: created with the node (before the
/// logs are open), it reaches the group's log when first used (the host opens every log before the node starts).
/// </summary>
internal sealed class HostedReplicationResource(ReplicatedGroups groups, string group, string name) : IForcibleResource
{
    private ReplicationResource? _inner;

    public string Name { get; } = name;

    public bool DiesWithProcess => true;

    private ReplicationResource Inner => _inner ??= new ReplicationResource(groups.GetLog(group), Name);

    public ValueTask<ResourceResult> StartAsync(ResourceContext context, CancellationToken cancellationToken) => Inner.StartAsync(context, cancellationToken);

    public ValueTask<ResourceResult> StopAsync(ResourceContext context, CancellationToken cancellationToken) => Inner.StopAsync(context, cancellationToken);

    public ValueTask<MonitorResult> MonitorAsync(ResourceContext context, CancellationToken cancellationToken) => Inner.MonitorAsync(context, cancellationToken);

    public void AllowForcedStart(string reason) => Inner.AllowForcedStart(reason);
}
