namespace HaKit;

/// <summary>An operator command (what <c>crm resource move</c>, <c>crm node standby</c> or <c>hb_standby</c> do).</summary>
public abstract record AdminCommand;

/// <summary>Move a group to another node gracefully (stop here, then start there; never both). Refused while the group is in
/// maintenance on this node (maintenance is hands-off).</summary>
/// <param name="Group">The group; this node must own it.</param>
/// <param name="Target">The node to move to, or <see langword="null"/> for the best other eligible node.</param>
public sealed record SwitchoverCommand(string Group, string? Target = null) : AdminCommand;

/// <summary>Put this node in standby (release every group, take none) or bring it back.</summary>
/// <param name="Standby">On or off.</param>
public sealed record SetStandbyCommand(bool Standby) : AdminCommand;

/// <summary>Maintenance: leave the group's resources as they are and neither monitor, start, stop nor fail them over.</summary>
/// <param name="Group">The group.</param>
/// <param name="Maintenance">On or off.</param>
public sealed record SetMaintenanceCommand(string Group, bool Maintenance) : AdminCommand;

/// <summary>Clear a group's failures on this node (Pacemaker's <c>cleanup</c>): lift bans, clear a fatal stop, retry the stop of a blocked group.</summary>
/// <param name="Group">The group.</param>
public sealed record ClearFailuresCommand(string Group) : AdminCommand;

/// <summary>An operator confirms that a node is down (manual fencing, like <c>stonith_admin --confirm</c>): its groups may be started elsewhere.</summary>
/// <param name="Node">The node.</param>
public sealed record ConfirmNodeDownCommand(string Node) : AdminCommand;

/// <summary>Graceful shutdown: release every group to peers, then raise <see cref="ShutdownReady"/>.</summary>
public sealed record ShutdownCommand : AdminCommand;

/// <summary>The core's answer to an admin command.</summary>
/// <param name="Accepted">Whether the command was accepted.</param>
/// <param name="Message">What will happen, or why it was refused.</param>
public sealed record AdminResult(bool Accepted, string Message)
{
    /// <summary>The node that decided: the owner for a switchover or takeover forwarded to it (<see cref="ClusterNode.SwitchoverAsync"/>,
    /// <see cref="ClusterNode.TakeoverAsync"/>), the local node otherwise; <see langword="null"/> when not recorded (<see cref="ClusterNode.ExecuteAsync"/>).</summary>
    public string? HandledBy { get; init; }
}
