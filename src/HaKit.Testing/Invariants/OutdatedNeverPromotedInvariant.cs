using HaKit.Arbitration;
using HaKit.Replication;

namespace HaKit.Testing;

/// <summary>
/// An outdated node is never promoted without an operator (the simulator has no forced promotions): a standby never becomes
/// owner while its own outdated mark is set; and in the quorum modes (Etcd, Witness), where the arbiter carries the mark, never
/// while the newest owner's mark on it is set (on that owner's disk) and that owner acknowledged, without it, an entry of the
/// marking ownership that its log does not hold. (A mark the owner wrote on its own disk but never acted on, because it crashed
/// or lost the arbiter before the arbiter held it, outdates no one: the owner acknowledged nothing alone.) In TwoNode mode only
/// the owner knows that it marked its peer (the peer may be cut off when it is marked), so only the node's own mark binds there.
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

            if (quorum && p.PeerMark is { } peer)
            {
                return $"node {p.Node} became owner in epoch {p.Epoch} at {Invariants.S(p.At)} although the newest owner marked it outdated at {peer.Mark} and acknowledged without it the entry {peer.Missing}, which its log does not hold, without an operator";
            }
        }

        return null;
    }

    /// <summary>Whether the arbiter carries the owner's outdated mark on its peer (the etcd key, the witness), so that the peer's
    /// mark binds in the quorum modes: on since the simulator models the mark at the arbiter (<see cref="ReplicationWorld.MarksOf"/>).</summary>
    internal static bool PeerMarkThroughArbiter => true;

    internal static bool IsQuorum(ArbiterMode mode) => mode is ArbiterMode.Etcd or ArbiterMode.Witness;
}
