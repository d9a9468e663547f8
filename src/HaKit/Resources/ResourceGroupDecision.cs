namespace HaKit.Resources;

/// <summary>What a <see cref="ResourceGroupMachine"/> decided about a failed resource action.</summary>
internal enum ResourceGroupDecisionKind
{
    /// <summary>The failure is transient and the restart budget allowed one more restart: the group restarts the resource.</summary>
    Restarting = 0,

    /// <summary>The failure is transient but the restart budget is exhausted: the group must move.</summary>
    BudgetExhausted = 1,

    /// <summary>The failure is permanent on this node or fatal (or ownership was lost while starting): the group cannot run here.</summary>
    Failed = 2,

    /// <summary>A stop failed: the group is blocked until this node is fenced or the failure is cleared.</summary>
    Blocked = 3,
}

/// <summary>
/// One decision of a <see cref="ResourceGroupMachine"/>, returned as data with the step that follows it
/// (<see cref="ResourceGroupStep.Decisions"/>); the driver reports it (<see cref="ResourceGroupRunner"/> logs it).
/// </summary>
/// <param name="Kind">What was decided.</param>
/// <param name="Resource">The resource whose action failed.</param>
/// <param name="Action">The action that failed.</param>
/// <param name="FailureKind">The failure's class.</param>
/// <param name="Cause">The failure as a word: <c>TimedOut</c>, <c>NotRunning</c> (a monitor found the resource stopped), or <paramref name="FailureKind"/>'s name.</param>
/// <param name="Reason">The failure's explanation, if any.</param>
/// <param name="Restarts">Restarts counted in the failure window after the decision.</param>
/// <param name="MaxRestarts">The restart budget (<see cref="GroupOptions.MaxRestarts"/>).</param>
/// <param name="FailureWindow">The budget's window (<see cref="GroupOptions.FailureWindow"/>).</param>
internal sealed record ResourceGroupDecision(
    ResourceGroupDecisionKind Kind,
    string Resource,
    ResourceAction Action,
    ResourceFailureKind FailureKind,
    string Cause,
    string? Reason,
    int Restarts,
    int MaxRestarts,
    TimeSpan FailureWindow);
