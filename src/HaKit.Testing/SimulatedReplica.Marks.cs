using System.Text;
using HaKit.Replication;
using HaKit.Replication.Arbiter;
using HaKit.Replication.Protocol;
using HaKit.Resources;

namespace HaKit.Testing;

/// <summary>The outdated marks at the arbiter: what the replica's core refuses for, and publishing the newest mark it asked for.</summary>
internal sealed partial class SimulatedReplica
{
    /// <summary>Before a promotion (<c>ReplicatedLog.ArbiterRefusalAsync</c>): why this node's mark at the arbiter forbids it, and
    /// whether there is one (void or not); throws <see cref="OutdatedMarkStoreUnavailableException"/> when it cannot be read.</summary>
    private (string? Refusal, bool Marked) ArbiterRefusal(long epoch)
    {
        if (_world.MarksOf(_node) is not { } marks)
        {
            return (null, false);
        }

        if (Complete(marks.GetAsync(_world.Group, _node.Name, CancellationToken.None)) is not { } mark)
        {
            return (null, false);
        }

        if (Core.Last.Epoch > mark.At.Epoch)
        {
            return (null, true);
        }

        return ($"this node is marked outdated at {marks.Name}: {mark.MarkedBy}, owner in epoch {mark.At.Epoch}, acknowledged writes from index {mark.At.Index} on without it, and this node holds up to index {Core.Last.Index} (epoch {Core.Last.Epoch})", true);
    }

    /// <summary>The loop executes <see cref="PublishMarkCommand"/> (<c>ReplicatedLog.WantMark</c>): the publisher takes the newest wanted mark.</summary>
    private void WantMark(LogPosition position)
    {
        _markWanted = position;
        _markDone = null; // publish it even if the same position was published before (a new ownership)
        if (!_markBusy)
        {
            PublishNextMark();
        }
    }

    /// <summary><c>ReplicatedLog.PublishMarksAsync</c>: publishes the wanted mark until the arbiter holds it, retrying after
    /// <see cref="ReplicatedLog.MarkRetryDelay"/> while it refuses or cannot be reached; a node no longer owner drops it.</summary>
    private void PublishNextMark()
    {
        if (_markWanted is not { } want || _markWanted == _markDone)
        {
            _markBusy = false;
            return;
        }

        _markBusy = true;
        if (Core.Role != ReplicaRole.Owner)
        {
            // Only an owner marks; a deposed one gives up (its waiting appends fail as it becomes standby).
            _markDone = want;
            _markBusy = false;
            return;
        }

        var marks = _world.MarksOf(_node)!;
        _sim.CallMarkArbiter(
            _node,
            () => Complete(want == LogPosition.Zero
                ? marks.ClearAsync(_world.Group, _world.PeerOf(_node), CancellationToken.None)
                : marks.SetAsync(_world.Group, _world.PeerOf(_node), want, CancellationToken.None)),
            result => MarkAnswered(want, result));
    }

    private void MarkAnswered(LogPosition want, bool? result)
    {
        if (_world.ReplicaOf(_node) != this)
        {
            return;
        }

        if (result is true || _world.PlantMarkNotAtArbiter)
        {
            _markFailing = false;
            if (_markWanted == want)
            {
                _markDone = want;
            }

            _sim.Record(_node.Name, "repl", $"arbiter mark on {_world.PeerOf(_node)} {(want == LogPosition.Zero ? "cleared" : $"set at {want}")}{(result is true ? "" : " (planted: the arbiter did not take it)")}");
            Core.MarkPublished(want);
            Pump();
            PublishNextMark();
            return;
        }

        if (!_markFailing)
        {
            _sim.Record(_node.Name, "repl", $"arbiter mark on {_world.PeerOf(_node)} at {want}: {(result is false ? "refused (not the group's holder there)" : "arbiter unreachable")}; retrying every {ReplicatedLog.MarkRetryDelay.TotalMilliseconds:0} ms");
        }

        _markFailing = true;
        _sim.Later(_node, _node.Clock.ToGlobalDuration(ReplicatedLog.MarkRetryDelay), PublishNextMark);
    }
}
