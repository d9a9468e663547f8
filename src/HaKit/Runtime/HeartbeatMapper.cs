using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Wire.Proto;
using CoreRole = HaKit.GroupRole;
using WireRole = HaKit.Wire.Proto.WireRole;

namespace HaKit.Runtime;

/// <summary>Maps heartbeats between the core's records and the protobuf wire types.</summary>
internal static class HeartbeatMapper
{
    /// <summary>Whether each role number up to the highest is a <see cref="CoreRole"/> (an array lookup per announcement received
    /// instead of <see cref="Enum.IsDefined{TEnum}(TEnum)"/>).</summary>
    private static readonly bool[] KnownRoles = RoleTable();

    private static bool[] RoleTable()
    {
        var roles = Enum.GetValues<CoreRole>();
        var known = new bool[roles.Max(r => (int)r) + 1];
        foreach (var r in roles)
        {
            known[(int)r] = true;
        }

        return known;
    }

    public static ClusterMessage ToProto(HeartbeatMessage message)
    {
        var hb = new Heartbeat { Priority = (uint)Math.Max(0, message.Priority), Leaving = message.Leaving, Sequence = message.Sequence, Probe = message.Probe };
        if (message.Reachability is { } reach)
        {
            hb.Reachability = new Reachability { Score = (uint)Math.Max(0, reach.Score), Targets = (uint)Math.Max(0, reach.Targets) };
        }

        var groups = message.Groups;
        for (var i = 0; i < groups.Count; i++) // indexed: no enumerator per heartbeat sent
        {
            var g = groups[i];
            hb.Groups.Add(new GroupStatus
            {
                Name = g.Group,
                Role = (WireRole)(int)g.Role,
                Epoch = g.Epoch,
                HighestEpoch = g.HighestEpoch,
                Eligible = g.Eligible,
                HandoffTo = g.HandoffTo ?? "",
                FatalMark = g.FatalMark,
                FatalCleared = g.FatalCleared,
            });
        }

        return new ClusterMessage { Heartbeat = hb };
    }

    /// <summary>Maps a received heartbeat; returns null when it holds values this version does not understand.</summary>
    public static HeartbeatMessage? FromProto(Heartbeat hb)
    {
        var groups = new GroupAnnouncement[hb.Groups.Count];
        for (var i = 0; i < groups.Length; i++)
        {
            var g = hb.Groups[i];
            if ((uint)g.Role >= (uint)KnownRoles.Length || !KnownRoles[(int)g.Role])
            {
                return null;
            }

            groups[i] = new GroupAnnouncement(g.Name, (CoreRole)(int)g.Role, g.Epoch, g.HighestEpoch, g.Eligible, g.HandoffTo.Length == 0 ? null : g.HandoffTo, g.FatalMark, g.FatalCleared);
        }

        return new HeartbeatMessage((int)Math.Min(hb.Priority, int.MaxValue), hb.Leaving, groups, hb.Sequence)
        {
            Probe = hb.Probe,
            Reachability = hb.Reachability is { } r ? new ReachabilityScore((int)Math.Min(r.Score, int.MaxValue), (int)Math.Min(r.Targets, int.MaxValue)) : null,
        };
    }
}
