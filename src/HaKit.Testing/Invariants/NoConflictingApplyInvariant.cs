using HaKit.Replication;

namespace HaKit.Testing;

/// <summary>
/// No node applies two different entries at one position unless the divergence callback was handed the one applied first (the
/// losing one), or, for an entry already compacted into the node's snapshot, its range (<see cref="DivergedEntries.UnavailableThrough"/>):
/// a node's state never silently changes history. An entry that a crash took from the disk before an fdatasync
/// covered it is forgotten with the process's memory (that loss is the mode's documented one, not a divergence).
/// Incremental: reads what each node's state machine did since the last step.
/// </summary>
internal sealed class NoConflictingApplyInvariant : IInvariant
{
    private readonly List<LogEntry>[] _applied = [[], []]; // per node: the entry applied at index k + 1 (Data empty: released)

    public string Name => "no-conflicting-apply-without-divergence";

    public string? Check(Simulation simulation)
    {
        if (simulation.Replication is not { } world)
        {
            return null;
        }

        for (var node = 0; node < 2; node++)
        {
            var events = world.StateMachineEvents[node];
            var applied = _applied[node];
            try
            {
                foreach (var e in events)
                {
                    var k = (int)(e.Entry.Index - 1);
                    switch (e.Kind)
                    {
                        case StateMachineEventKind.Recovered:
                            if (applied.Count > e.Entry.Index)
                            {
                                applied.RemoveRange((int)e.Entry.Index, applied.Count - (int)e.Entry.Index);
                            }

                            break;
                        case StateMachineEventKind.DivergedUnavailable:
                            // The callback got the range of entries compacted into the node's snapshot, not their data.
                            for (var i = Math.Max(0, e.Entry.Epoch - 1); i < Math.Min(applied.Count, e.Entry.Index); i++)
                            {
                                applied[(int)i] = default;
                            }

                            break;
                        case StateMachineEventKind.Diverged:
                            if (k < applied.Count && Same(applied[k], e.Entry))
                            {
                                applied[k] = default;
                            }

                            break;
                        default:
                            while (applied.Count <= k)
                            {
                                applied.Add(default);
                            }

                            var before = applied[k];
                            if (before.Index != 0 && !Same(before, e.Entry))
                            {
                                return $"node {simulation.NodeList[node].Name} applies {e.Entry.Position} at position {e.Entry.Index} after applying {before.Position} there, and the divergence callback was never handed {before.Position}";
                            }

                            applied[k] = e.Entry;
                            break;
                    }
                }
            }
            finally
            {
                events.Clear();
            }
        }

        return null;
    }

    private static bool Same(in LogEntry a, in LogEntry b) => a.Position == b.Position && a.Data.Span.SequenceEqual(b.Data.Span);
}
