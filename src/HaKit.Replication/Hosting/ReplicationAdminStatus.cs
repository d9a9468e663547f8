using HaKit.Hosting.Admin;
using AdminV1 = HaKit.Admin.V1;

namespace HaKit.Replication;

/// <summary>Each open replicated log's status in the admin API's <c>GetStatus</c> (and so in <c>hakit status</c>).</summary>
internal sealed class ReplicationAdminStatus(ReplicatedGroups groups) : IAdminStatusSource
{
    public void AddTo(AdminV1.StatusReply reply)
    {
        foreach (var name in groups.Names)
        {
            if (groups.TryGetLog(name, out var log))
            {
                reply.Replication.Add(Map(log.Status, log.IsFaulted));
            }
        }
    }

    internal static AdminV1.ReplicationStatus Map(ReplicationStatus s, bool faulted) => new()
    {
        Group = s.Group,
        Role = s.Role.ToString(),
        Mode = s.Mode.ToString(),
        Epoch = (ulong)Math.Max(0, s.Epoch),
        LastAppended = (ulong)Math.Max(0, s.Last.Index),
        LastEpoch = (ulong)Math.Max(0, s.Last.Epoch),
        Durable = (ulong)Math.Max(0, s.Durable),
        Applied = (ulong)Math.Max(0, s.Applied),
        Acknowledged = (ulong)Math.Max(0, s.Acknowledged),
        PeerConnected = s.PeerConnected,
        PeerReceived = (ulong)Math.Max(0, s.PeerReceived),
        PeerDurable = (ulong)Math.Max(0, s.PeerDurable),
        LagEntries = (ulong)Math.Max(0, s.LagEntries),
        KnownLagEntries = (ulong)Math.Max(0, s.KnownLagEntries),
        Degraded = s.Degraded,
        PeerOutdated = s.PeerOutdated,
        Outdated = s.Outdated,
        Faulted = faulted,
        Resends = (ulong)Math.Max(0, s.Resends),
    };
}
