namespace HaKit.Resources;

/// <summary>The three actions a <see cref="ResourceGroupRunner"/> performs on a resource.</summary>
public enum ResourceAction
{
    /// <summary><see cref="IResource.StartAsync"/>.</summary>
    Start = 0,

    /// <summary><see cref="IResource.StopAsync"/>.</summary>
    Stop = 1,

    /// <summary><see cref="IResource.MonitorAsync"/>.</summary>
    Monitor = 2,
}

/// <summary>The result of one resource action, as raised by <see cref="ResourceGroupRunner.ActionCompleted"/>.</summary>
/// <param name="Group">The group name.</param>
/// <param name="Resource">The resource name.</param>
/// <param name="Action">The action that ran.</param>
/// <param name="FailureKind">
/// <see cref="ResourceFailureKind.None"/> when the action succeeded (for a monitor: <see cref="ResourceStatus.Running"/> or
/// <see cref="ResourceStatus.Degraded"/>); otherwise how the failure is classified. A time-out is <see cref="ResourceFailureKind.Transient"/>.
/// </param>
/// <param name="Status">For <see cref="ResourceAction.Monitor"/>: what the monitor found (<see cref="ResourceStatus.Failed"/> when it timed out or threw); <see langword="null"/> for start and stop.</param>
/// <param name="Message">The resource's message, the exception message, or a time-out description.</param>
/// <param name="Duration">How long the action took, measured on the runner's <see cref="TimeProvider"/>.</param>
/// <param name="TimedOut">Whether the action was cancelled by its time-out.</param>
public sealed record ResourceActionRecord(
    string Group,
    string Resource,
    ResourceAction Action,
    ResourceFailureKind FailureKind,
    ResourceStatus? Status,
    string? Message,
    TimeSpan Duration,
    bool TimedOut);

/// <summary>The overall result of a group action (<see cref="ResourceGroupRunner.StartAsync"/>, <see cref="ResourceGroupRunner.StopAsync"/>, <see cref="ResourceGroupRunner.MonitorAsync"/>).</summary>
public enum GroupOutcome
{
    /// <summary>Every resource did what was asked (started, stopped, or monitored as Running).</summary>
    Succeeded = 0,

    /// <summary>Monitor only: at least one resource reported <see cref="ResourceStatus.Degraded"/>; nothing was done.</summary>
    Degraded = 1,

    /// <summary>Monitor only: a resource had failed and was restarted (with every resource after it) successfully.</summary>
    Recovered = 2,

    /// <summary>
    /// The group could not be (kept) running on this node; <see cref="GroupActionOutcome.FailureKind"/> says why:
    /// <see cref="ResourceFailureKind.Transient"/> when the restart budget ran out (move the group),
    /// <see cref="ResourceFailureKind.PermanentOnNode"/> (move it and ban this node) or <see cref="ResourceFailureKind.Fatal"/> (stop it everywhere).
    /// </summary>
    Failed = 3,

    /// <summary>A stop failed or timed out: a resource may still be running here. The group must not start elsewhere until this node is fenced.</summary>
    Blocked = 4,
}

/// <summary>The overall result of a group action.</summary>
/// <param name="Outcome">What happened to the group.</param>
/// <param name="FailureKind">The failure class for <see cref="GroupOutcome.Failed"/> and <see cref="GroupOutcome.Blocked"/>; otherwise <see cref="ResourceFailureKind.None"/>.</param>
/// <param name="Resource">The resource the outcome is about (the failed, blocking, degraded or recovered one); <see langword="null"/> on plain success.</param>
/// <param name="Message">A human-readable explanation; <see langword="null"/> on plain success.</param>
/// <param name="Restarts">Restarts counted in the runner's current failure window (see <see cref="RestartTracker.RestartsInWindow"/>) when the action finished.</param>
public sealed record GroupActionOutcome(GroupOutcome Outcome, ResourceFailureKind FailureKind, string? Resource, string? Message, int Restarts);
