namespace HaKit.Replication;

/// <summary>The groups registered with <see cref="IReplicationBuilder"/>, in registration order.</summary>
internal sealed class ReplicationRegistry
{
    public List<ReplicationRegistration> Groups { get; } = [];
}

/// <summary>One replicated group registered in code.</summary>
/// <param name="Group">The HaKit group.</param>
/// <param name="StateMachine">Creates its state machine.</param>
/// <param name="Configure">Changes its settings after configuration (code wins).</param>
/// <param name="Opened">Called with the open log (a <see cref="ReplicatedKvStore"/> attaches to it).</param>
internal sealed record ReplicationRegistration(
    string Group,
    Func<IServiceProvider, IReplicatedStateMachine> StateMachine,
    Action<ReplicationOptions>? Configure,
    Action<IServiceProvider, ReplicatedLog>? Opened);
