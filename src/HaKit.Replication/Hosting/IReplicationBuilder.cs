using Microsoft.Extensions.DependencyInjection;

namespace HaKit.Replication;

/// <summary>Registers the replicated groups of a host (see <c>UseReplication()</c>).</summary>
public interface IReplicationBuilder
{
    /// <summary>The service collection.</summary>
    IServiceCollection Services { get; }

    /// <summary>
    /// Replicates <paramref name="group"/> (a HaKit group) with the state machine <paramref name="stateMachine"/> returns. The host
    /// opens the group's log at start-up (before the node starts), adds a <see cref="ReplicationResource"/> to the group (named
    /// <c>replication</c>: list it first in the group's <c>Resources</c>) and exposes the log through <see cref="ReplicatedGroups"/>.
    /// </summary>
    /// <param name="group">The HaKit group's name.</param>
    /// <param name="stateMachine">Returns the group's state machine (called once, at start-up).</param>
    /// <param name="configure">Optional: changes the group's settings after they were read from configuration (for example
    /// <see cref="ReplicationOptions.OnDiverged"/>).</param>
    /// <returns>This builder.</returns>
    IReplicationBuilder AddGroup(string group, Func<IServiceProvider, IReplicatedStateMachine> stateMachine, Action<ReplicationOptions>? configure = null);

    /// <summary>
    /// Replicates <paramref name="group"/> with a <see cref="ReplicatedKvStore"/>, registered in the container as a keyed singleton
    /// (key: the group's name; <c>GetRequiredKeyedService&lt;ReplicatedKvStore&gt;(group)</c>). Its <see cref="ReplicatedKvStore.Log"/>
    /// is usable once the host started; the host closes it.
    /// </summary>
    /// <param name="group">The HaKit group's name.</param>
    /// <param name="configure">Optional: changes the group's settings after they were read from configuration.</param>
    /// <returns>This builder.</returns>
    IReplicationBuilder AddKvStore(string group, Action<ReplicationOptions>? configure = null);
}
