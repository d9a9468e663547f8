using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit.Resources;

/// <summary>What a <see cref="ResourceGroupMachine"/> asks its driver to do next.</summary>
public enum ResourceGroupStepKind
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
public readonly record struct ResourceGroupStep(ResourceGroupStepKind Kind, int ResourceIndex, ResourceAction Action, TimeSpan Timeout, TimeSpan Delay, GroupActionOutcome? Outcome)
{
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
public readonly record struct ResourceActionResult(ResourceFailureKind Kind, ResourceStatus? Status, string? Message, bool TimedOut)
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
/// <para>The machine performs no I/O and never waits: <see cref="BeginStart"/>, <see cref="BeginStop"/> and <see cref="BeginMonitor"/>
/// return the first <see cref="ResourceGroupStep"/>; the driver executes it and feeds the result back with
/// <see cref="OnActionCompleted"/> or <see cref="OnDelayElapsed"/>, which return the next step, until a
/// <see cref="ResourceGroupStepKind.Completed"/> step carries the outcome. <see cref="ResourceGroupRunner"/> drives it with real
/// resources, Polly time-outs and the thread pool; the HaKit.Testing simulator drives the same machine in virtual time.</para>
/// <para>One group action runs at a time; <see cref="Abandon"/> drops the one in flight (the driver was cancelled). The only clock the
/// machine reads is the <see cref="RestartTracker"/>'s. Not thread-safe.</para>
/// </remarks>
public sealed class ResourceGroupMachine
{
    private readonly GroupOptions _options;
    private readonly string[] _names;
    private readonly ILogger _logger;
    private IEnumerator<ResourceGroupStep>? _current;
    private ResourceActionResult _last;
    private bool _ownershipLost;
    private GroupActionOutcome? _rangeBlocked;

    /// <summary>Creates the machine for one group.</summary>
    /// <param name="options">The group's options (name, time-outs, restart delay and budget). Read once, here.</param>
    /// <param name="resourceNames">The resources' names in start order.</param>
    /// <param name="restarts">The group's restart budget on this node (kept across start/stop cycles).</param>
    /// <param name="logger">Where group decisions are logged (restarts, budget, failures, blocked); none when <see langword="null"/>.</param>
    public ResourceGroupMachine(GroupOptions options, IReadOnlyList<string> resourceNames, RestartTracker restarts, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(resourceNames);
        ArgumentNullException.ThrowIfNull(restarts);
        _options = options;
        _names = [.. resourceNames];
        Restarts = restarts;
        _logger = logger ?? NullLogger.Instance;
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
    /// <returns>The first step.</returns>
    /// <exception cref="InvalidOperationException">Another group action is in flight.</exception>
    public ResourceGroupStep BeginStart() => Begin(StartSteps());

    /// <summary>Begins a reverse-order, best-effort stop of every resource.</summary>
    /// <returns>The first step.</returns>
    /// <exception cref="InvalidOperationException">Another group action is in flight.</exception>
    public ResourceGroupStep BeginStop() => Begin(StopSteps());

    /// <summary>Begins a monitor of every resource in order, restarting failed ones within the budget.</summary>
    /// <returns>The first step.</returns>
    /// <exception cref="InvalidOperationException">Another group action is in flight.</exception>
    public ResourceGroupStep BeginMonitor() => Begin(MonitorSteps());

    /// <summary>Feeds back the result of the requested resource action.</summary>
    /// <param name="result">The classified result.</param>
    /// <param name="ownershipLost">Whether the group's ownership token was cancelled by now (a start then rolls back instead of retrying).</param>
    /// <returns>The next step.</returns>
    /// <exception cref="InvalidOperationException">No action is in flight.</exception>
    public ResourceGroupStep OnActionCompleted(ResourceActionResult result, bool ownershipLost = false)
    {
        _last = result;
        _ownershipLost = ownershipLost;
        return Next();
    }

    /// <summary>Feeds back that the requested delay elapsed.</summary>
    /// <returns>The next step.</returns>
    /// <exception cref="InvalidOperationException">No action is in flight.</exception>
    public ResourceGroupStep OnDelayElapsed() => Next();

    /// <summary>Drops the group action in flight (its driver was cancelled); the next Begin… may be called.</summary>
    public void Abandon()
    {
        _current?.Dispose();
        _current = null;
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

    private ResourceGroupStep Begin(IEnumerator<ResourceGroupStep> steps)
    {
        if (_current is not null)
        {
            throw new InvalidOperationException($"group {GroupName}: another group action is in flight; wait for its Completed step or call Abandon first");
        }

        _current = steps;
        return Next();
    }

    private ResourceGroupStep Next()
    {
        var current = _current ?? throw new InvalidOperationException($"group {GroupName}: no group action is in flight; call BeginStart, BeginStop or BeginMonitor first");
        if (!current.MoveNext())
        {
            throw new InvalidOperationException($"group {GroupName}: the group action already completed");
        }

        var step = current.Current;
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
                    ResourcesLog.GroupFailed(_logger, GroupName, name, result.Kind, result.Message);
                    failed = new GroupActionOutcome(GroupOutcome.Failed, result.Kind, name, result.Message, Restarts.RestartsInWindow);
                }
                else if (_ownershipLost)
                {
                    string message = $"ownership lost while starting ({result.Message})";
                    ResourcesLog.GroupFailed(_logger, GroupName, name, result.Kind, message);
                    failed = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, name, message, Restarts.RestartsInWindow);
                }
                else if (!Restarts.TryRecordRestart())
                {
                    ResourcesLog.BudgetExhausted(_logger, GroupName, name, result.Kind, result.Message, _options.MaxRestarts, _options.FailureWindow);
                    failed = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, name, BudgetMessage(result.Message), Restarts.RestartsInWindow);
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

                ResourcesLog.Restarting(_logger, GroupName, "start", name, Describe(result), result.Message, Restarts.RestartsInWindow, _options.MaxRestarts, _options.FailureWindow);
                yield return Run(k, ResourceAction.Stop);
                var stop = _last;
                if (!stop.Succeeded)
                {
                    ResourcesLog.GroupBlocked(_logger, GroupName, name, stop.Message);
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
                ResourcesLog.GroupBlocked(_logger, GroupName, _names[j], stop.Message);
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
                    degraded = new GroupActionOutcome(GroupOutcome.Degraded, ResourceFailureKind.None, _names[i], result.Message, Restarts.RestartsInWindow);
                }

                continue;
            }

            if (result.Kind != ResourceFailureKind.Transient)
            {
                ResourcesLog.GroupFailed(_logger, GroupName, _names[i], result.Kind, result.Message);
                yield return ResourceGroupStep.Complete(new GroupActionOutcome(GroupOutcome.Failed, result.Kind, _names[i], result.Message, Restarts.RestartsInWindow));
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
        string action = "monitor";
        int failedAt = first;
        int lastToStop = _names.Length - 1;
        while (true)
        {
            if (!Restarts.TryRecordRestart())
            {
                ResourcesLog.BudgetExhausted(_logger, GroupName, _names[failedAt], failure.Kind, failure.Message, _options.MaxRestarts, _options.FailureWindow);
                yield return ResourceGroupStep.Complete(new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, _names[failedAt], BudgetMessage(failure.Message), Restarts.RestartsInWindow));
                yield break;
            }

            ResourcesLog.Restarting(_logger, GroupName, action, _names[failedAt], Describe(failure), failure.Message, Restarts.RestartsInWindow, _options.MaxRestarts, _options.FailureWindow);
            for (int j = lastToStop; j >= first; j--)
            {
                yield return Run(j, ResourceAction.Stop);
                var stop = _last;
                if (!stop.Succeeded)
                {
                    ResourcesLog.GroupBlocked(_logger, GroupName, _names[j], stop.Message);
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
                    ResourcesLog.GroupFailed(_logger, GroupName, _names[j], start.Kind, start.Message);
                    yield return ResourceGroupStep.Complete(new GroupActionOutcome(GroupOutcome.Failed, start.Kind, _names[j], start.Message, Restarts.RestartsInWindow));
                    yield break;
                }

                restarted = false;
                failure = start;
                failedAt = j;
                lastToStop = j;
                action = "start";
                break;
            }

            if (restarted)
            {
                yield return ResourceGroupStep.Complete(new GroupActionOutcome(GroupOutcome.Recovered, ResourceFailureKind.None, failedName, failedMessage, Restarts.RestartsInWindow));
                yield break;
            }
        }
    }

    private GroupActionOutcome Success(GroupOutcome outcome) => new(outcome, ResourceFailureKind.None, null, null, Restarts.RestartsInWindow);

    private GroupActionOutcome Blocked(string resource, ResourceActionResult stop) =>
        new(GroupOutcome.Blocked, stop.Kind, resource, stop.Message, Restarts.RestartsInWindow);

    private string BudgetMessage(string? reason) =>
        $"restart budget exhausted ({_options.MaxRestarts} in {_options.FailureWindow}): {reason}";

    private static string Describe(ResourceActionResult result) =>
        result.TimedOut ? "TimedOut" : result.Status == ResourceStatus.NotRunning ? "NotRunning" : result.Kind.ToString();
}
