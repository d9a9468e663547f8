using HaKit.Arbitration;
using HaKit.Replication;

namespace HaKit.Testing;

/// <summary>
/// An outdated node is never promoted without an operator (the simulator has no forced promotions): a standby never becomes
/// owner while its own outdated mark is set; and in the quorum modes (Etcd, Witness), where the arbiter can carry the mark,
/// never while the peer's durable mark on it (set by the newest owner, which acknowledged entries without it) names a position
/// its log does not reach. In TwoNode mode only the owner knows that it marked its peer (the peer may be cut off when it is
/// marked), so only the node's own mark binds there.
/// </summary>
internal sealed class OutdatedNeverPromotedInvariant(bool quorum) : IInvariant
{
    private int _checked;

    public string Name => "outdated-never-promoted";

    public string? Check(Simulation simulation)
    {
        if (simulation.Replication is not { } world)
        {
            return null;
        }

        var promotions = world.Promotions;
        for (; _checked < promotions.Count; _checked++)
        {
            var p = promotions[_checked];
            if (p.OwnMark != LogPosition.Zero)
            {
                return $"node {p.Node} became owner in epoch {p.Epoch} at {Invariants.S(p.At)} while its own outdated mark ({p.OwnMark}) was set, without an operator";
            }

            if (quorum && p.PeerMark is { } mark)
            {
                return $"node {p.Node} became owner in epoch {p.Epoch} at {Invariants.S(p.At)} although the newest owner marked it outdated at {mark} (entries acknowledged without it) and its log does not reach index {mark.Index}, without an operator";
            }
        }

        return null;
    }

    /// <summary>Whether the arbiter carries the owner's outdated mark on its peer (the etcd key, the witness), so that the peer's
    /// mark binds in the quorum modes. Off until that path is built: with it on, seeds where an owner marked its partitioned peer
    /// and the peer then took over fail (Etcd/Witness, e.g. replication seeds 34, 35, 36).</summary>
    internal static bool PeerMarkThroughArbiter => false;

    internal static bool IsQuorum(ArbiterMode mode) => mode is ArbiterMode.Etcd or ArbiterMode.Witness;
}
