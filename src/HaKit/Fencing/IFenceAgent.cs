namespace HaKit.Fencing;

/// <summary>The result of a fencing attempt.</summary>
/// <param name="Succeeded">Whether the node is now known to be harmless.</param>
/// <param name="Explanation">What the agent did or why it failed.</param>
public sealed record FenceResult(bool Succeeded, string Explanation);

/// <summary>
/// A fence agent (STONITH device): makes a node harmless (power it off, cut its storage, kill its process)
/// so that its groups can be started elsewhere even though its last stop was not confirmed.
/// </summary>
public interface IFenceAgent
{
    /// <summary>Agent name for logs (<c>ipmi-b</c>, <c>script:/usr/local/bin/fence-b</c>).</summary>
    string Name { get; }

    /// <summary>Fences <paramref name="node"/>. Must not throw: failures are returned.</summary>
    /// <param name="node">The node to fence.</param>
    /// <param name="cancellationToken">Cancels the attempt (the runtime applies a timeout).</param>
    ValueTask<FenceResult> FenceAsync(string node, CancellationToken cancellationToken);
}
