namespace HaKit;

/// <summary>
/// A resource that may refuse to start on a node because that node's data is behind (a replicated log marked outdated, or lagging
/// more than allowed), a refusal an operator may override once: <c>hakit takeover GROUP --force</c> calls
/// <see cref="AllowForcedStart"/> on every such resource of the group on the node it asks, then clears the group's failures there.
/// </summary>
public interface IForcibleResource : IResource
{
    /// <summary>Lets the next start on this node pass the data refusal (logged by the resource as a critical message).</summary>
    /// <param name="reason">Who forces it, from where and when (logged).</param>
    void AllowForcedStart(string reason);
}
