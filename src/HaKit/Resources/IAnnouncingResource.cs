namespace HaKit;

/// <summary>
/// A resource that tells the network where it lives (a virtual IP sending gratuitous ARP or unsolicited neighbour advertisements).
/// The node calls <see cref="AnnounceAsync"/> again when a split brain resolves in its favour, so that clients and switches that
/// followed the losing copy come back.
/// </summary>
public interface IAnnouncingResource : IResource
{
    /// <summary>Announces the running resource again (a no-op when it is not running here).</summary>
    /// <param name="context">Group, epoch, ownership token.</param>
    /// <param name="cancellationToken">Cancelled when the announcement takes too long (the group's monitor time-out) or the node stops.</param>
    /// <returns>A task that completes when the announcements were sent.</returns>
    ValueTask AnnounceAsync(ResourceContext context, CancellationToken cancellationToken);
}
