using HaKit.Admin.V1;
using HaKit.Detection;

namespace HaKit.Hosting.Admin;

/// <summary>Maps the node's <see cref="ClusterStatus"/> and options to the admin API's <see cref="StatusReply"/>.</summary>
internal static class AdminStatusMapper
{
    private static readonly string Version = typeof(ClusterNode).Assembly.GetName().Version?.ToString(3) ?? "";

    public static StatusReply Map(ClusterNode node, HaKitOptions options)
    {
        var status = node.GetStatus();
        var budget = node.Budget;
        var reply = new StatusReply
        {
            Node = status.Node,
            Cluster = options.ClusterName,
            Incarnation = node.Incarnation,
            Standby = status.Standby,
            ShuttingDown = status.ShuttingDown,
            Arbiter = new ArbiterStatus { Mode = options.Arbiter.Mode.ToString(), Unavailable = status.ArbiterUnavailable ?? "" },
            Budget = new HaKit.Admin.V1.TimingBudget
            {
                WorstCaseDetectionMs = (uint)Math.Round(budget.WorstCaseDetection.TotalMilliseconds),
                WorstCaseTakeoverMs = (uint)Math.Round(budget.WorstCaseTakeover.TotalMilliseconds),
                TolerableLostHeartbeats = (uint)Math.Max(0, budget.TolerableLostHeartbeats),
                Summary = budget.ToString(),
            },
            Version = Version,
        };
        foreach (var g in status.Groups)
        {
            reply.Groups.Add(new GroupStatus
            {
                Name = g.Group,
                Role = Map(g.Role),
                Epoch = g.Epoch,
                HighestEpoch = g.HighestEpoch,
                Owner = g.Owner ?? "",
                Eligible = g.Eligible,
                Banned = g.Banned ?? "",
                FatalStopped = g.FatalStopped,
                Maintenance = g.Maintenance,
                PreferredNode = options.Groups.FirstOrDefault(o => o.Name == g.Group)?.PreferredNode ?? "",
            });
        }

        foreach (var p in status.Peers)
        {
            var peer = new PeerStatus { Name = p.Peer, Health = Map(p.Health), Incarnation = p.Incarnation, Fenced = p.Fenced, Leaving = p.Leaving };
            peer.Links.Add(p.Links.Select(l => new LinkStatus { Name = l.Link, Health = Map(l.Health), Detail = l.Detail }));
            reply.Peers.Add(peer);
        }

        return reply;
    }

    public static Role Map(GroupRole role) => role switch
    {
        GroupRole.Standby => Role.Standby,
        GroupRole.Acquiring => Role.Acquiring,
        GroupRole.Starting => Role.Starting,
        GroupRole.Active => Role.Active,
        GroupRole.Stopping => Role.Stopping,
        GroupRole.Blocked => Role.Blocked,
        _ => Role.Standby,
    };

    public static Health Map(PeerHealth health) => health switch
    {
        PeerHealth.Alive => Health.Alive,
        PeerHealth.Suspect => Health.Suspect,
        PeerHealth.Dead => Health.Dead,
        _ => Health.Unknown,
    };
}
