namespace HaKit.Replication.Protocol;

/// <summary>The epochs a node owned and the index its own entries of each follow (persisted, file <c>owned</c>).</summary>
/// <param name="Epoch">The epoch it owned last (0: none, or it followed another owner in that epoch).</param>
/// <param name="From">The index its own entries of <paramref name="Epoch"/> follow.</param>
/// <param name="Earlier">Earlier epochs it owned whose own entries may still be in its log, oldest first (none: empty or null).</param>
internal readonly record struct OwnedEpochs(long Epoch, long From, IReadOnlyList<(long Epoch, long From)>? Earlier = null)
{
    /// <summary>Only the last owned epoch (the file's format before earlier epochs were kept).</summary>
    public static implicit operator OwnedEpochs((long Epoch, long From) owned) => new(owned.Epoch, owned.From);
}

// Two owners of one epoch, compared under a later epoch (docs/replication.md, "Two owners of one epoch"): HaKit's epoch is
// not unique to one owner in TwoNode mode (both nodes may own the same epoch after a split brain), so a replication term is the
// epoch and its writer. Within one log the entries of an epoch have one writer (a node that follows another owner of an epoch it
// owned cuts its own entries of it first), so each node keeps the epochs it wrote itself (their first own index), and an owner
// tells its standby which earlier epochs it wrote: an epoch both wrote is a divergence point for the standby, which cuts its own
// entries of it (handing them to the divergence callback) before log matching compares positions.
internal sealed partial class ReplicationCore
{
    /// <summary>Most earlier owned epochs kept (older ones are forgotten; their entries were compared long ago).</summary>
    internal const int MaxEarlierOwned = 16;

    private readonly List<(long Epoch, long From)> _earlierOwned = [];
    private long[] _ownerEarlierEpochs = [];

    /// <summary>Standby: how many times it cut its own entries of an epoch the owner also wrote in (for tests and the simulator's trace).</summary>
    internal long SharedEpochCuts { get; private set; }

    /// <summary>The epochs this node owned (for the file <c>owned</c> and tests).</summary>
    public OwnedEpochs Owned => new(_ownedEpoch, _ownedFrom, [.. _earlierOwned]);

    /// <summary>Owner: the earlier epochs it wrote entries in that are still in its log (sent with every append).</summary>
    internal IReadOnlyList<long> OwnerEarlierEpochs => _ownerEarlierEpochs;

    private void RestoreOwned(OwnedEpochs owned)
    {
        _ownedEpoch = owned.Epoch;
        _ownedFrom = owned.From;
        if (owned.Earlier is { } earlier)
        {
            _earlierOwned.AddRange(earlier.Where(e => e.Epoch != 0));
        }
    }

    /// <summary>Whether this node's own entries of <paramref name="epoch"/> (after <paramref name="from"/>) may still be in its log.</summary>
    private bool HoldsOwnEntriesOf(long epoch, long from) =>
        from + 1 <= _log.Base.Index || (from + 1 <= _log.Last.Index && _log.EpochAt(from + 1) == epoch);

    /// <summary>Becoming owner in a new epoch: the epoch it owned before is kept as an earlier one if its entries are still here.</summary>
    private void KeepEarlierOwned()
    {
        if (_ownedEpoch != 0 && HoldsOwnEntriesOf(_ownedEpoch, _ownedFrom))
        {
            _earlierOwned.Add((_ownedEpoch, _ownedFrom));
        }

        _earlierOwned.RemoveAll(e => !HoldsOwnEntriesOf(e.Epoch, e.From));
        if (_earlierOwned.Count > MaxEarlierOwned)
        {
            _earlierOwned.RemoveRange(0, _earlierOwned.Count - MaxEarlierOwned);
        }
    }

    /// <summary>Owner: the epochs sent with each append (computed once per ownership: the owner's log is never cut while it owns).</summary>
    private void ComputeOwnerEarlierEpochs() =>
        _ownerEarlierEpochs = _earlierOwned.Count == 0 ? [] : [.. _earlierOwned.Where(e => e.Epoch != _epoch).Select(e => e.Epoch)];

    private void PersistOwned() => _outputs.Add(new PersistOwnedEpochCommand(_ownedEpoch, _ownedFrom, [.. _earlierOwned]));

    /// <summary>
    /// Standby, on an append: an earlier epoch the owner wrote entries in that this node also wrote entries in (two owners of one
    /// epoch): this node's own entries of it are not the owner's, although they carry the same positions, so they are cut (from
    /// the lowest such epoch's first own index) and handed to the divergence callback. False if the node must now wait for a snapshot.
    /// </summary>
    private bool CutOwnEntriesOfSharedEpochs(IReadOnlyList<long> ownerEpochs)
    {
        if (ownerEpochs.Count == 0 || (_earlierOwned.Count == 0 && _ownedEpoch == 0))
        {
            return true;
        }

        var cutFrom = long.MaxValue;
        long cutEpoch = 0;
        foreach (var epoch in ownerEpochs)
        {
            foreach (var (mine, from) in _earlierOwned)
            {
                if (mine == epoch && HoldsOwnEntriesOf(mine, from) && from + 1 < cutFrom)
                {
                    (cutFrom, cutEpoch) = (from + 1, mine);
                }
            }

            if (epoch == _ownedEpoch && HoldsOwnEntriesOf(_ownedEpoch, _ownedFrom) && _ownedFrom + 1 < cutFrom)
            {
                (cutFrom, cutEpoch) = (_ownedFrom + 1, _ownedEpoch);
            }
        }

        if (cutEpoch == 0)
        {
            return true;
        }

        SharedEpochCuts++;

        if (cutFrom <= _log.Base.Index)
        {
            // Some of its own entries of that epoch are already in the local snapshot: only the owner's snapshot can replace them.
            ForgetOwnEntriesFrom(cutFrom);
            NeedSnapshot(cutFrom);
            return false;
        }

        return Diverge(cutFrom, _ownerEpoch);
    }

    /// <summary>The log was cut from <paramref name="index"/> on: the owned epochs whose own entries began there or later are gone.</summary>
    private void ForgetOwnEntriesFrom(long index)
    {
        var changed = _earlierOwned.RemoveAll(e => e.From + 1 >= index) > 0;
        if (_ownedEpoch != 0 && Role != ReplicaRole.Owner && _ownedFrom + 1 >= index && _ownedEpoch < SeenEpoch)
        {
            // Its own entries of its last owned epoch were cut by a later owner's history: that epoch can never be owned again
            // (it is below the epoch seen), so the claim only mattered for the comparison, which is now done.
            _ownedEpoch = 0;
            _ownedFrom = 0;
            changed = true;
        }

        if (changed)
        {
            PersistOwned();
        }
    }
}
