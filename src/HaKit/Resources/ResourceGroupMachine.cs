namespace HaKit.Resources;

/// <summary>What a <see cref="ResourceGroupMachine"/> asks its driver to do next.</summary>
internal enum ResourceGroupStepKind
{
    /// <summary>Run <see cref="ResourceGroupStep.Action"/> on resource <see cref="ResourceGroupStep.ResourceIndex"/>, bounded by <see cref="ResourceGroupStep.Timeout"/>, then call <see cref="ResourceGroupMachine.OnActionCompleted"/>.</summary>
    RunAction = 0,

    /// <summary>Wait <see cref="ResourceGroupStep.Delay"/> (the restart delay), then call <see cref="ResourceGroupMachine.OnDelayElapsed"/>.</summary>
    Delay = 1,

    /// <summary>The group action is finished: <see cref="ResourceGroupStep.Outcome"/> is its result.</summary>
    Completed = 2,
}

/// <summary>One instruction from a <see cref="ResourceGroupMachine"/> to its driver.</summary>
/// <param name="Kind">What to do.</param>
/// <param name="ResourceIndex">For <see cref="ResourceGroupStepKind.RunAction"/>: the resource's index in start order.</param>
/// <param name="Action">For <see cref="ResourceGroupStepKind.RunAction"/>: the action.</param>
/// <param name="Timeout">For <see cref="ResourceGroupStepKind.RunAction"/>: the action's time-out (zero, negative or infinite: none).</param>
/// <param name="Delay">For <see cref="ResourceGroupStepKind.Delay"/>: how long to wait.</param>
/// <param name="Outcome">For <see cref="ResourceGroupStepKind.Completed"/>: the group action's outcome.</param>
internal readonly record struct ResourceGroupStep(ResourceGroupStepKind Kind, int ResourceIndex, ResourceAction Action, TimeSpan Timeout, TimeSpan Delay, GroupActionOutcome? Outcome)
{
    /// <summary>What the machine decided since the previous step (a restart, an exhausted budget, a failure, a blocked stop), in
    /// order; empty when nothing. The driver reports them (<see cref="ResourceGroupRunner"/> logs each).</summary>
    public IReadOnlyList<ResourceGroupDecision> Decisions { get => field ?? []; init; }

    /// <summary>A request to run one resource action.</summary>
    /// <param name="index">Resource index.</param>
    /// <param name="action">The action.</param>
    /// <param name="timeout">Its time-out.</param>
    public static ResourceGroupStep Run(int index, ResourceAction action, TimeSpan timeout) => new(ResourceGroupStepKind.RunAction, index, action, timeout, TimeSpan.Zero, null);

    /// <summary>A request to wait.</summary>
    /// <param name="delay">How long.</param>
    public static ResourceGroupStep Wait(TimeSpan delay) => new(ResourceGroupStepKind.Delay, -1, default, TimeSpan.Zero, delay, null);

    /// <summary>The end of a group action.</summary>
    /// <param name="outcome">The outcome.</param>
    public static ResourceGroupStep Complete(GroupActionOutcome outcome) => new(ResourceGroupStepKind.Completed, -1, default, TimeSpan.Zero, TimeSpan.Zero, outcome);
}

/// <summary>The classified result of one resource action, as the <see cref="ResourceGroupMachine"/> consumes it.</summary>
/// <param name="Kind">The failure class (<see cref="ResourceFailureKind.None"/> on success).</param>
/// <param name="Status">For monitors: what the monitor found (<see cref="ResourceStatus.Failed"/> for a failed monitor without a status).</param>
/// <param name="Message">Explanation.</param>
/// <param name="TimedOut">Whether the action ran past its time-out.</param>
internal readonly record struct ResourceActionResult(ResourceFailureKind Kind, ResourceStatus? Status, string? Message, bool TimedOut)
{
    /// <summary>Whether the action succeeded (a degraded monitor succeeds).</summary>
    public bool Succeeded => Kind == ResourceFailureKind.None;

    /// <summary>Success of a start or stop.</summary>
    public static ResourceActionResult Success { get; } = new(ResourceFailureKind.None, null, null, false);

    /// <summary>Classifies the result of a start or stop.</summary>
    /// <param name="result">What the resource returned.</param>
    public static ResourceActionResult FromResult(ResourceResult result) => new(result.Kind, null, result.Message, false);

    /// <summary>Classifies the result of a monitor: Running and Degraded succeed, NotRunning is Transient, Failed carries its kind (Transient when none).</summary>
    /// <param name="result">What the monitor returned.</param>
    public static ResourceActionResult FromMonitor(MonitorResult result)
    {
        var kind = result.Status switch
        {
            ResourceStatus.Running or ResourceStatus.Degraded => ResourceFailureKind.None,
            ResourceStatus.NotRunning => ResourceFailureKind.Transient,
            _ => result.FailureKind == ResourceFailureKind.None ? ResourceFailureKind.Transient : result.FailureKind,
        };
        return new ResourceActionResult(kind, result.Status, result.Message, false);
    }

    /// <summary>Classifies an exception thrown by an action: a <see cref="ResourceException"/> carries its kind (None is read as Transient), anything else is Transient.</summary>
    /// <param name="action">The action that threw.</param>
    /// <param name="exception">The exception.</param>
    public static ResourceActionResult FromException(ResourceAction action, Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var status = action == ResourceAction.Monitor ? ResourceStatus.Failed : (ResourceStatus?)null;
        return exception is ResourceException re
            ? new ResourceActionResult(re.Kind == ResourceFailureKind.None ? ResourceFailureKind.Transient : re.Kind, status, re.Message, false)
            : new ResourceActionResult(ResourceFailureKind.Transient, status, $"{exception.GetType().Name}: {exception.Message}", false);
    }

    /// <summary>An action that ran past its time-out: a Transient failure (for a stop: a stop failure).</summary>
    /// <param name="action">The action.</param>
    /// <param name="timeout">The time-out it exceeded.</param>
    public static ResourceActionResult TimedOutAfter(ResourceAction action, TimeSpan timeout) =>
        new(ResourceFailureKind.Transient, action == ResourceAction.Monitor ? ResourceStatus.Failed : null, $"{ResourceGroupMachine.ActionName(action)} timed out after {timeout}", true);
}

/// <summary>
/// The decision logic of a resource group as a pure, synchronous state machine: ordered start, reverse stop, monitor with
/// restarts, the restart budget, failure classification, Blocked on a stop failure and rollback after a failed start.
/// </summary>
/// <remarks>
/// <para>The machine performs no I/O, never waits, reads no clock and logs nothing: <see cref="BeginStart"/>, <see cref="BeginStop"/>
/// and <see cref="BeginMonitor"/> return the first <see cref="ResourceGroupStep"/>; the driver executes it and feeds the result back
/// with <see cref="OnActionCompleted"/> or <see cref="OnDelayElapsed"/>, which return the next step, until a
/// <see cref="ResourceGroupStepKind.Completed"/> step carries the outcome. Every call takes the current time (<c>now</c>, monotonic,
/// on the scale of <see cref="RestartTracker.Now"/>), which the restart budget is counted in; every decision comes back as data in
/// <see cref="ResourceGroupStep.Decisions"/>. <see cref="ResourceGroupRunner"/> drives it with real resources, Polly time-outs, the
/// thread pool and a <see cref="TimeProvider"/>, and logs the decisions; the HaKit.Testing simulator drives the same machine in
/// virtual time.</para>
/// <para>One group action runs at a time; <see cref="Abandon"/> drops the one in flight (the driver was cancelled). Not thread-safe.</para>
/// </remarks>
internal sealed class ResourceGroupMachine
{
    private readonly GroupOptions _options;
    private readonly string[] _names;
    private IEnumerator<ResourceGroupStep>? _current;
    private List<ResourceGroupDecision>? _decisions;
    private TimeSpan _now;
    private ResourceActionResult _last;
    private bool _ownershipLost;
    private GroupActionOutcome? _rangeBlocked;

    /// <summary>Creates the machine for one group.</summary>
    /// <param name="options">The group's options (name, time-outs, restart delay and budget). Read once, here.</param>
    /// <param name="resourceNames">The resources' names in start order.</param>
    /// <param name="restarts">The group's restart budget on this node (kept across start/stop cycles); the machine passes it the
    /// time it is given and never lets it read its clock.</param>
    public ResourceGroupMachine(GroupOptions options, IReadOnlyList<string> resourceNames, RestartTracker restarts)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(resourceNames);
        ArgumentNullException.ThrowIfNull(restarts);
        _options = options;
        _names = [.. resourceNames];
        Restarts = restarts;
        GroupName = options.Name;
        StartTimeout = options.StartTimeout;
        StopTimeout = options.StopTimeout;
        MonitorTimeout = options.MonitorTimeout;
    }

    /// <summary>The group name.</summary>
    public string GroupName { get; }

    /// <summary>The resources' names in start order.</summary>
    public IReadOnlyList<string> ResourceNames => _names;

    /// <summary>The restart budget.</summary>
    public RestartTracker Restarts { get; }

    /// <summary>Time-out of one resource start.</summary>
    public TimeSpan StartTimeout { get; }

    /// <summary>Time-out of one resource stop.</summary>
    public TimeSpan StopTimeout { get; }

    /// <summary>Time-out of one resource monitor.</summary>
    public TimeSpan MonitorTimeout { get; }

    /// <summary>Whether a group action is in flight.</summary>
    public bool IsBusy => _current is not null;

    /// <summary>
    /// Begins an ordered start (see <see cref="ResourceGroupRunner.StartAsync"/> for the semantics: restart within budget,
    /// rollback on failure, Blocked when a stop fails).
    /// </summary>
    /// <param name="now">The current monotonic time.</param>
    /// <returns>The first step.</returns>
    /// <exception cref="InvalidOperationException">Another group action is in flight.</exception>
    public ResourceGroupStep BeginStart(TimeSpan now) => Begin(now, StartSteps());

    /// <summary>Begins a reverse-order, best-effort stop of every resource.</summary>
    /// <param name="now">The current monotonic time.</param>
    /// <returns>The first step.</returns>
    /// <exception cref="InvalidOperationException">Another group action is in flight.</exception>
    public ResourceGroupStep BeginStop(TimeSpan now) => Begin(now, StopSteps());

    /// <summary>Begins a monitor of every resource in order, restarting failed ones within the budget.</summary>
    /// <param name="now">The current monotonic time.</param>
    /// <returns>The first step.</returns>
    /// <exception cref="InvalidOperationException">Another group action is in flight.</exception>
    public ResourceGroupStep BeginMonitor(TimeSpan now) => Begin(now, MonitorSteps());

    /// <summary>Feeds back the result of the requested resource action.</summary>
    /// <param name="now">The current monotonic time (the action has finished).</param>
    /// <param name="result">The classified result.</param>
    /// <param name="ownershipLost">Whether the group's ownership token was cancelled by now (a start then rolls back instead of retrying).</param>
    /// <returns>The next step.</returns>
    /// <exception cref="InvalidOperationException">No action is in flight.</exception>
    public ResourceGroupStep OnActionCompleted(TimeSpan now, ResourceActionResult result, bool ownershipLost = false)
    {
        _last = result;
        _ownershipLost = ownershipLost;
        return Next(now);
    }

    /// <summary>Feeds back that the requested delay elapsed.</summary>
    /// <param name="now">The current monotonic time.</param>
    /// <returns>The next step.</returns>
    /// <exception cref="InvalidOperationException">No action is in flight.</exception>
    public ResourceGroupStep OnDelayElapsed(TimeSpan now) => Next(now);

    /// <summary>Drops the group action in flight (its driver was cancelled); the next Begin… may be called.</summary>
    public void Abandon()
    {
        _current?.Dispose();
        _current = null;
        _decisions = null;
    }

    /// <summary>The time-out of an action.</summary>
    /// <param name="action">The action.</param>
    public TimeSpan TimeoutOf(ResourceAction action) => action switch
    {
        ResourceAction.Start => StartTimeout,
        ResourceAction.Stop => StopTimeout,
        _ => MonitorTimeout,
    };

    internal static string ActionName(ResourceAction action) => action switch
    {
        ResourceAction.Start => "start",
        ResourceAction.Stop => "stop",
        _ => "monitor",
    };

    private ResourceGroupStep Begin(TimeSpan now, IEnumerator<ResourceGroupStep> steps)
    {
        if (_current is not null)
        {
            throw new InvalidOperationException($"group {GroupName}: another group action is in flight; wait for its Completed step or call Abandon first");
        }

        _current = steps;
        return Next(now);
    }

    private ResourceGroupStep Next(TimeSpan now)
    {
        _now = now;
        var current = _current ?? throw new InvalidOperationException($"group {GroupName}: no group action is in flight; call BeginStart, BeginStop or BeginMonitor first");
        if (!current.MoveNext())
        {
            throw new InvalidOperationException($"group {GroupName}: the group action already completed");
        }

        var step = current.Current;
        if (_decisions is not null)
        {
            step = step with { Decisions = _decisions };
            _decisions = null;
        }

        if (step.Kind == ResourceGroupStepKind.Completed)
        {
            current.Dispose();
            _current = null;
        }

        return step;
    }

    private ResourceGroupStep Run(int index, ResourceAction action) => ResourceGroupStep.Run(index, action, TimeoutOf(action));

    private IEnumerator<ResourceGroupStep> StartSteps()
    {
        for (int k = 0; k < _names.Length; k++)
        {
            while (true)
            {
                yield return Run(k, ResourceAction.Start);
                var result = _last;
                if (result.Succeeded)
                {
                    break;
                }

                string name = _names[k];
                GroupActionOutcome? failed = null;
                if (result.Kind != ResourceFailureKind.Transient)
                {
                    Decide(ResourceGroupDecisionKind.Failed, name, ResourceAction.Start, result, result.Message);
                    failed = new GroupActionOutcome(GroupOutcome.Failed, result.Kind, name, result.Message, Restarts.RestartsAt(_now));
                }
                else if (_ownershipLost)
                {
                    string message = $"ownership lost while starting ({result.Message})";
                    Decide(ResourceGroupDecisionKind.Failed, name, ResourceAction.Start, result, message);
                    failed = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, name, message, Restarts.RestartsAt(_now));
                }
                else if (!Restarts.TryRecordRestart(_now))
                {
                    Decide(ResourceGroupDecisionKind.BudgetExhausted, name, ResourceAction.Start, result, result.Message);
                    failed = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, name, BudgetMessage(result.Message), Restarts.RestartsAt(_now));
                }

                if (failed is not null)
                {
                    // Roll back: the failed resource itself (it may be half running), then every one started before it.
                    var rollback = StopRange(k, 0);
                    while (rollback.MoveNext())
                    {
                        yield return rollback.Current;
                    }

                    yield return ResourceGroupStep.Complete(_rangeBlocked ?? failed);
                    yield break;
                }

                Decide(ResourceGroupDecisionKind.Restarting, name, ResourceAction.Start, result, result.Message);
                yield return Run(k, ResourceAction.Stop);
                var stop = _last;
                if (!stop.Succeeded)
                {
                    Decide(ResourceGroupDecisionKind.Blocked, name, ResourceAction.Stop, stop, stop.Message);
                    var blocked = Blocked(name, stop);
                    var rest = StopRange(k - 1, 0); // best effort; already blocked
                    while (rest.MoveNext())
                    {
                        yield return rest.Current;
                    }

                    yield return ResourceGroupStep.Complete(blocked);
                    yield break;
                }

                if (_options.RestartDelay > TimeSpan.Zero)
                {
                    yield return ResourceGroupStep.Wait(_options.RestartDelay);
                }
            }
        }

        yield return ResourceGroupStep.Complete(Success(GroupOutcome.Succeeded));
    }

    private IEnumerator<ResourceGroupStep> StopSteps()
    {
        var range = StopRange(_names.Length - 1, 0);
        while (range.MoveNext())
        {
            yield return range.Current;
        }

        yield return ResourceGroupStep.Complete(_rangeBlocked ?? Success(GroupOutcome.Succeeded));
    }

    /// <summary>Stops resources from <paramref name="from"/> down to <paramref name="to"/>, best effort; leaves Blocked for the first failure (or null) in <see cref="_rangeBlocked"/>.</summary>
    private IEnumerator<ResourceGroupStep> StopRange(int from, int to)
    {
        GroupActionOutcome? blocked = null;
        for (int j = from; j >= to; j--)
        {
            yield return Run(j, ResourceAction.Stop);
            var stop = _last;
            if (!stop.Succeeded)
            {
                Decide(ResourceGroupDecisionKind.Blocked, _names[j], ResourceAction.Stop, stop, stop.Message);
                blocked ??= Blocked(_names[j], stop);
            }
        }

        _rangeBlocked = blocked;
    }

    private IEnumerator<ResourceGroupStep> MonitorSteps()
    {
        GroupActionOutcome? degraded = null;
        for (int i = 0; i < _names.Length; i++)
        {
            yield return Run(i, ResourceAction.Monitor);
            var result = _last;
            if (result.Succeeded)
            {
                if (result.Status == ResourceStatus.Degraded && degraded is null)
                {
                    degraded = new GroupActionOutcome(GroupOutcome.Degraded, ResourceFailureKind.None, _names[i], result.Message, Restarts.RestartsAt(_now));
                }

                continue;
            }

            if (result.Kind != ResourceFailureKind.Transient)
            {
                Decide(ResourceGroupDecisionKind.Failed, _names[i], ResourceAction.Monitor, result, result.Message);
                yield return ResourceGroupStep.Complete(new GroupActionOutcome(GroupOutcome.Failed, result.Kind, _names[i], result.Message, Restarts.RestartsAt(_now)));
                yield break;
            }

            var restart = RestartFrom(i, result);
            while (restart.MoveNext())
            {
                yield return restart.Current;
            }

            yield break;
        }

        yield return ResourceGroupStep.Complete(degraded ?? Success(GroupOutcome.Succeeded));
    }

    private IEnumerator<ResourceGroupStep> RestartFrom(int first, ResourceActionResult failure)
    {
        string failedName = _names[first];
        string? failedMessage = failure.Message;
        var action = ResourceAction.Monitor;
        int failedAt = first;
        int lastToStop = _names.Length - 1;
        while (true)
        {
            if (!Restarts.TryRecordRestart(_now))
            {
                Decide(ResourceGroupDecisionKind.BudgetExhausted, _names[failedAt], action, failure, failure.Message);
                yield return ResourceGroupStep.Complete(new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, _names[failedAt], BudgetMessage(failure.Message), Restarts.RestartsAt(_now)));
                yield break;
            }

            Decide(ResourceGroupDecisionKind.Restarting, _names[failedAt], action, failure, failure.Message);
            for (int j = lastToStop; j >= first; j--)
            {
                yield return Run(j, ResourceAction.Stop);
                var stop = _last;
                if (!stop.Succeeded)
                {
                    Decide(ResourceGroupDecisionKind.Blocked, _names[j], ResourceAction.Stop, stop, stop.Message);
                    yield return ResourceGroupStep.Complete(Blocked(_names[j], stop));
                    yield break;
                }
            }

            if (_options.RestartDelay > TimeSpan.Zero)
            {
                yield return ResourceGroupStep.Wait(_options.RestartDelay);
            }

            bool restarted = true;
            for (int j = first; j < _names.Length; j++)
            {
                yield return Run(j, ResourceAction.Start);
                var start = _last;
                if (start.Succeeded)
                {
                    continue;
                }

                if (start.Kind != ResourceFailureKind.Transient)
                {
                    Decide(ResourceGroupDecisionKind.Failed, _names[j], ResourceAction.Start, start, start.Message);
                    yield return ResourceGroupStep.Complete(new GroupActionOutcome(GroupOutcome.Failed, start.Kind, _names[j], start.Message, Restarts.RestartsAt(_now)));
                    yield break;
                }

                restarted = false;
                failure = start;
                failedAt = j;
                lastToStop = j;
                action = ResourceAction.Start;
                break;
            }

            if (restarted)
            {
                yield return ResourceGroupStep.Complete(new GroupActionOutcome(GroupOutcome.Recovered, ResourceFailureKind.None, failedName, failedMessage, Restarts.RestartsAt(_now)));
                yield break;
            }
        }
    }

    private void Decide(ResourceGroupDecisionKind kind, string resource, ResourceAction action, ResourceActionResult result, string? reason) =>
        (_decisions ??= []).Add(new ResourceGroupDecision(kind, resource, action, result.Kind, Describe(result), reason, Restarts.RestartsAt(_now), _options.MaxRestarts, _options.FailureWindow));

    private GroupActionOutcome Success(GroupOutcome outcome) => new(outcome, ResourceFailureKind.None, null, null, Restarts.RestartsAt(_now));

    private GroupActionOutcome Blocked(string resource, ResourceActionResult stop) =>
        new(GroupOutcome.Blocked, stop.Kind, resource, stop.Message, Restarts.RestartsAt(_now));

    private string BudgetMessage(string? reason) =>
        $"restart budget exhausted ({_options.MaxRestarts} in {_options.FailureWindow}): {reason}";

    private static string Describe(ResourceActionResult result) =>
        result.TimedOut ? "TimedOut" : result.Status == ResourceStatus.NotRunning ? "NotRunning" : result.Kind.ToString();
}
