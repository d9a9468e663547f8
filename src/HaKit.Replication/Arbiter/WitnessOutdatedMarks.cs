using HaKit.Arbitration;

namespace HaKit.Replication.Arbiter;

/// <summary>
/// Outdated marks at the witness (Witness mode): through the node's own witness arbiter (<see cref="ClusterNode.OutdatedMarks"/>),
/// whose socket and signed, replay-checked envelopes the marks share with the votes. The witness stores a mark durably before it
/// answers, and only for the node that holds the group's unexpired grant there (a deposed owner cannot mark or unmark). A witness
/// of an earlier release does not hold marks: <see cref="NotSupportedException"/>.
/// </summary>
/// <param name="arbiter">Resolves the node's arbiter at each call (the node is created after the replication host starts);
/// <see langword="null"/>: the node has no built-in witness arbiter (an application's own arbiter), which cannot hold marks.</param>
internal sealed class WitnessOutdatedMarks(Func<IOutdatedMarkArbiter?> arbiter) : IOutdatedMarkStore
{
    public string Name => arbiter()?.Name ?? "the witness";

    public ValueTask<bool> SetAsync(string group, string node, LogPosition at, CancellationToken cancellationToken) =>
        CallAsync(a => a.SetOutdatedAsync(group, node, at.Epoch, at.Index, cancellationToken));

    public ValueTask<bool> ClearAsync(string group, string node, CancellationToken cancellationToken) =>
        CallAsync(a => a.ClearOutdatedAsync(group, node, cancellationToken));

    public async ValueTask<ArbiterOutdatedMark?> GetAsync(string group, string node, CancellationToken cancellationToken)
    {
        var mark = await CallAsync(a => a.GetOutdatedAsync(group, node, cancellationToken)).ConfigureAwait(false);
        return mark is null ? null : new ArbiterOutdatedMark(new LogPosition(mark.Epoch, mark.Index), mark.MarkedBy);
    }

    private async ValueTask<T> CallAsync<T>(Func<IOutdatedMarkArbiter, ValueTask<T>> call)
    {
        var a = arbiter() ?? throw new NotSupportedException("this node's arbiter is not HaKit's witness arbiter (an arbiter given in code): it cannot hold outdated marks");
        try
        {
            return await call(a).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            throw new OutdatedMarkStoreUnavailableException(ex.Message, ex);
        }
    }
}
