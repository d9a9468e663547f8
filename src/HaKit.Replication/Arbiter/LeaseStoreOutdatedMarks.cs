using System.Globalization;
using HaKit.Arbitration;

namespace HaKit.Replication.Arbiter;

/// <summary>
/// Outdated marks in a lease store (etcd): the key <c>{prefix}/{cluster}/outdated/{group}/{node}</c> = <c>"{epoch} {index} {owner}"</c>,
/// without a lease (it outlives the owner's lease: that is its point), written and deleted in a transaction that checks that the
/// writer still holds the group's lease key <c>{prefix}/{cluster}/groups/{group}</c> (its value is the holder's name), so a deposed
/// owner cannot mark or unmark.
/// </summary>
internal sealed class LeaseStoreOutdatedMarks(ILeaseStore store, string keyPrefix, string cluster, string self) : IOutdatedMarkStore
{
    private readonly string _root = $"{(keyPrefix ?? "/hakit").TrimEnd('/')}/{cluster}/";

    public string Name => store.Name;

    /// <summary>The mark's key.</summary>
    public string KeyOf(string group, string node) => $"{_root}outdated/{group}/{node}";

    private string GroupKey(string group) => $"{_root}groups/{group}";

    public ValueTask<bool> SetAsync(string group, string node, LogPosition at, CancellationToken cancellationToken) =>
        CallAsync(() => store.PutIfHolderAsync(GroupKey(group), self, KeyOf(group, node),
            string.Create(CultureInfo.InvariantCulture, $"{at.Epoch} {at.Index} {self}"), cancellationToken));

    public ValueTask<bool> ClearAsync(string group, string node, CancellationToken cancellationToken) =>
        CallAsync(() => store.DeleteIfHolderAsync(GroupKey(group), self, KeyOf(group, node), cancellationToken));

    public async ValueTask<ArbiterOutdatedMark?> GetAsync(string group, string node, CancellationToken cancellationToken)
    {
        var key = KeyOf(group, node);
        var holder = await CallAsync(() => store.GetAsync(key, cancellationToken)).ConfigureAwait(false);
        if (holder is null)
        {
            return null;
        }

        var parts = holder.Value.Split(' ', 3);
        if (parts.Length == 3 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var index))
        {
            return new ArbiterOutdatedMark(new LogPosition(epoch, index), parts[2]);
        }

        // Unreadable: treat as a mark (refusing is the safe side), naming the raw value.
        return new ArbiterOutdatedMark(new LogPosition(long.MaxValue, long.MaxValue), $"(unreadable value '{holder.Value}' at {key})");
    }

    private async ValueTask<T> CallAsync<T>(Func<ValueTask<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (LeaseStoreUnavailableException ex)
        {
            throw new OutdatedMarkStoreUnavailableException(ex.Message, ex);
        }
    }
}
