using HaKit.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Timeout;

namespace HaKit.Resources;

/// <summary>
/// Runs the resources of one group on the local node: ordered start, reverse stop, monitor with restarts
/// (Pacemaker's group semantics with <c>migration-threshold</c> / <c>failure-timeout</c>).
/// </summary>
/// <remarks>
/// <para><b>Time-outs.</b> Every single resource action runs through a Polly <see cref="ResiliencePipeline"/> with a timeout
/// strategy (<see cref="GroupOptions.StartTimeout"/>, <see cref="GroupOptions.StopTimeout"/>, <see cref="GroupOptions.MonitorTimeout"/>;
/// zero, negative or <see cref="Timeout.InfiniteTimeSpan"/> disables it) built on the runner's <see cref="TimeProvider"/>.
/// The timeout is cooperative: it cancels the token handed to the resource, which must honour it. A timed-out action is a failure
/// (<see cref="ResourceActionRecord.TimedOut"/>): a start or monitor time-out is <see cref="ResourceFailureKind.Transient"/>,
/// a stop time-out is a stop failure (the group becomes <see cref="GroupOutcome.Blocked"/>).</para>
/// <para><b>Exceptions.</b> An exception thrown by a resource is a <see cref="ResourceFailureKind.Transient"/> failure, except a
/// <see cref="ResourceException"/>, which carries its kind (<see cref="ResourceFailureKind.None"/> is read as Transient).
/// An <see cref="OperationCanceledException"/> caused by the caller's <c>cancellationToken</c> means the node is shutting down:
/// it propagates out of <see cref="StartAsync"/>/<see cref="StopAsync"/>/<see cref="MonitorAsync"/> immediately, no further action
/// is taken and no <see cref="ActionCompleted"/> is raised for the interrupted action; resources may be left half started, so the
/// caller should call <see cref="StopAsync"/> (with a fresh token) if it still can. A cancellation caused by anything else
/// (for example the ownership token) is an ordinary Transient failure.</para>
/// <para><b>Restarts.</b> Restarts are counted by one <see cref="RestartTracker"/> per runner (at most <see cref="GroupOptions.MaxRestarts"/>
/// within the sliding <see cref="GroupOptions.FailureWindow"/>), shared by start retries and monitor restarts and kept across
/// start/stop cycles; each restart attempt waits <see cref="GroupOptions.RestartDelay"/> on the runner's clock.</para>
/// <para><b>Decisions and time.</b> The decisions themselves (restart, budget exhausted, failed, blocked) are made by a
/// <see cref="ResourceGroupMachine"/>, which reads no clock and logs nothing: the runner hands it the current time of its
/// <see cref="TimeProvider"/> and logs every <see cref="ResourceGroupDecision"/> it returns.</para>
/// <para><b>Concurrency.</b> Group actions never run concurrently on one runner: they are serialized with a <see cref="SemaphoreSlim"/>
/// (a call waits, cancellably, for the running one to finish). <see cref="ActionCompleted"/> is raised on the thread running the
/// action; an exception thrown by a handler is logged and ignored.</para>
/// </remarks>
internal sealed class ResourceGroupRunner
{
    private readonly GroupOptions _options;
    private readonly IResource[] _resources;
    private readonly string _nodeName;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _startPipeline;
    private readonly ResiliencePipeline _stopPipeline;
    private readonly ResiliencePipeline _monitorPipeline;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ResourceGroupMachine _machine;
    private ResourceContext _context;

    /// <summary>Creates a runner for one group.</summary>
    /// <param name="options">The group's options (name, time-outs, restart policy). Read once, here.</param>
    /// <param name="resources">The group's resources in start order; names must be unique.</param>
    /// <param name="nodeName">The local node name, handed to resources in <see cref="ResourceContext.Node"/>.</param>
    /// <param name="timeProvider">The clock for time-outs, restart delays, the restart window and durations.</param>
    /// <param name="logger">Where action results are logged; none when <see langword="null"/>.</param>
    /// <exception cref="ArgumentException">A resource is <see langword="null"/> or two resources share a name.</exception>
    public ResourceGroupRunner(GroupOptions options, IReadOnlyList<IResource> resources, string nodeName, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(resources);
        ArgumentNullException.ThrowIfNull(nodeName);
        ArgumentNullException.ThrowIfNull(timeProvider);

        var copy = new IResource[resources.Count];
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < copy.Length; i++)
        {
            var resource = resources[i] ?? throw new ArgumentException($"Resource #{i} of group '{options.Name}' is null.", nameof(resources));
            if (!names.Add(resource.Name))
            {
                throw new ArgumentException($"Group '{options.Name}' has two resources named '{resource.Name}'.", nameof(resources));
            }

            copy[i] = resource;
        }

        _options = options;
        _resources = copy;
        _nodeName = nodeName;
        _timeProvider = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        GroupName = options.Name;
        Resources = Array.AsReadOnly(copy);
        Restarts = new RestartTracker(options.MaxRestarts, options.FailureWindow, timeProvider);
        _machine = new ResourceGroupMachine(options, Array.ConvertAll(copy, r => r.Name), Restarts);
        _startPipeline = BuildPipeline(options.StartTimeout, timeProvider);
        _stopPipeline = BuildPipeline(options.StopTimeout, timeProvider);
        _monitorPipeline = BuildPipeline(options.MonitorTimeout, timeProvider);
        _context = new ResourceContext(GroupName, nodeName, 0, new CancellationToken(canceled: true));
    }

    /// <summary>The clock-true ownership view handed to resources in their context (<see cref="ResourceContext.IsOwned"/>); set by the node.</summary>
    internal OwnershipGuard? Guard { get; set; }

    /// <summary>The group name (<see cref="GroupOptions.Name"/>).</summary>
    public string GroupName { get; }

    /// <summary>The group's resources in start order.</summary>
    public IReadOnlyList<IResource> Resources { get; }

    /// <summary>The restart budget of this group on this node. Call <see cref="RestartTracker.Reset"/> to clear failures.</summary>
    public RestartTracker Restarts { get; }

    /// <summary>Raised after every single resource action (start, stop or monitor of one resource), on the thread that ran it.</summary>
    public event Action<ResourceActionRecord>? ActionCompleted;

    /// <summary>
    /// Starts the resources in list order for <paramref name="epoch"/>.
    /// </summary>
    /// <remarks>
    /// <para>Each resource gets <c>ResourceContext(group, node, epoch, ownershipToken)</c>; the epoch and token are remembered and
    /// handed to later stops and monitors. (Before the first start, stops and monitors get epoch 0 and an already-cancelled token.)</para>
    /// <para>When resource k fails transiently (including a time-out) and the restart budget allows it, k is stopped, and after
    /// <see cref="GroupOptions.RestartDelay"/> started again. When the budget is exhausted (<see cref="GroupOutcome.Failed"/> with
    /// <see cref="ResourceFailureKind.Transient"/>), on <see cref="ResourceFailureKind.PermanentOnNode"/>/<see cref="ResourceFailureKind.Fatal"/>
    /// (<see cref="GroupOutcome.Failed"/> with that kind), or once <paramref name="ownershipToken"/> is cancelled (Failed, Transient),
    /// the group is rolled back: the failed resource itself (a failed start may leave it half running) and then every resource
    /// started before it are stopped in reverse order. If one of those stops fails, the rollback continues best effort and the
    /// outcome is <see cref="GroupOutcome.Blocked"/> naming the first resource that could not be stopped. Likewise, when the stop of k
    /// before a retry fails, the outcome is <see cref="GroupOutcome.Blocked"/> (naming k) after the earlier resources were stopped best effort.</para>
    /// </remarks>
    /// <param name="epoch">The group's epoch (fencing token) for this ownership.</param>
    /// <param name="ownershipToken">Cancelled the instant this node stops owning the group.</param>
    /// <param name="cancellationToken">Shutdown: cancels the running action and propagates as <see cref="OperationCanceledException"/>.</param>
    /// <returns><see cref="GroupOutcome.Succeeded"/>, <see cref="GroupOutcome.Failed"/> or <see cref="GroupOutcome.Blocked"/>.</returns>
    public async Task<GroupActionOutcome> StartAsync(ulong epoch, CancellationToken ownershipToken, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _context = new ResourceContext(GroupName, _nodeName, epoch, ownershipToken) { Guard = Guard };
            return await DriveAsync(_machine.BeginStart(Now), ownershipToken, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Stops every resource in reverse order, best effort.</summary>
    /// <remarks>
    /// All resources are stopped, including ones that never started or failed to start (stop is idempotent). A failed or
    /// timed-out stop does not end the sequence: the others are still stopped, and the outcome is <see cref="GroupOutcome.Blocked"/>
    /// naming the first resource that could not be stopped (a stop failure calls for fencing before the group may start elsewhere).
    /// </remarks>
    /// <param name="cancellationToken">Shutdown: cancels the running stop and propagates as <see cref="OperationCanceledException"/>.</param>
    /// <returns><see cref="GroupOutcome.Succeeded"/> or <see cref="GroupOutcome.Blocked"/>.</returns>
    /// <param name="reason">Why the core stops the group here, for the resources (<see cref="ResourceContext.StopReason"/>: a graceful
    /// handover lets a resource drain first); <see langword="null"/> when not told.</param>
    public async Task<GroupActionOutcome> StopAsync(CancellationToken cancellationToken, StopReason? reason = null)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _context = _context with { StopReason = reason };
            return await DriveAsync(_machine.BeginStop(Now), CancellationToken.None, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Monitors each resource in order and restarts failed ones within the restart budget.</summary>
    /// <remarks>
    /// <list type="bullet">
    /// <item><see cref="ResourceStatus.Running"/>: fine. <see cref="ResourceStatus.Degraded"/>: reported as <see cref="GroupOutcome.Degraded"/>
    /// (naming the first degraded resource), no action.</item>
    /// <item><see cref="ResourceStatus.NotRunning"/>, <see cref="ResourceStatus.Failed"/> with <see cref="ResourceFailureKind.Transient"/>
    /// (or no kind), a monitor time-out or exception: one restart is recorded in <see cref="Restarts"/>; the failed resource and every
    /// resource after it are stopped (from the last back to the failed one), then, after <see cref="GroupOptions.RestartDelay"/>,
    /// started again from the failed one to the last. Success gives <see cref="GroupOutcome.Recovered"/>. A transient start failure
    /// during the restart stops what was started in it and tries again, recording another restart. When the budget is exhausted
    /// (before or during the restart) the outcome is <see cref="GroupOutcome.Failed"/> with <see cref="ResourceFailureKind.Transient"/>:
    /// the caller moves the group. A failed or timed-out stop during the restart ends it immediately with <see cref="GroupOutcome.Blocked"/>.</item>
    /// <item><see cref="ResourceStatus.Failed"/> with <see cref="ResourceFailureKind.PermanentOnNode"/> or <see cref="ResourceFailureKind.Fatal"/>
    /// (also from a start during a restart): <see cref="GroupOutcome.Failed"/> with that kind, immediately, no restart.</item>
    /// </list>
    /// After <see cref="GroupOutcome.Failed"/> the resources are left as they are: the caller stops the group (<see cref="StopAsync"/>) before moving it.
    /// </remarks>
    /// <param name="cancellationToken">Shutdown: cancels the running action and propagates as <see cref="OperationCanceledException"/>.</param>
    /// <returns><see cref="GroupOutcome.Succeeded"/>, <see cref="GroupOutcome.Degraded"/>, <see cref="GroupOutcome.Recovered"/>, <see cref="GroupOutcome.Failed"/> or <see cref="GroupOutcome.Blocked"/>.</returns>
    public async Task<GroupActionOutcome> MonitorAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await DriveAsync(_machine.BeginMonitor(Now), CancellationToken.None, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The orphan probe (Pacemaker's initial probe), run once at node start before this node owns the group: every resource is
    /// monitored, from the last to the first, and one found running (or degraded, or failed) is stopped: it was left by an earlier
    /// process (a virtual IP after a crash, a service still up) on a node that does not own the group now.
    /// </summary>
    /// <param name="cancellationToken">Shutdown.</param>
    /// <returns>One finding per resource found running, with the result of its stop.</returns>
    public async Task<IReadOnlyList<OrphanFinding>> ProbeAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var findings = new List<OrphanFinding>();
            for (var i = _resources.Length - 1; i >= 0; i--)
            {
                var probe = await RunAsync(i, ResourceAction.Monitor, cancellationToken).ConfigureAwait(false);
                if (probe.Status == ResourceStatus.NotRunning)
                {
                    continue;
                }

                var stop = await RunAsync(i, ResourceAction.Stop, cancellationToken).ConfigureAwait(false);
                var finding = new OrphanFinding(GroupName, _resources[i].Name, probe.Status ?? ResourceStatus.Failed, probe.Message, stop.Kind == ResourceFailureKind.None, stop.Message);
                if (finding.Stopped)
                {
                    ResourcesLog.OrphanStopped(_logger, GroupName, finding.Resource, finding.Status, finding.ProbeMessage ?? "no detail");
                }
                else
                {
                    ResourcesLog.OrphanNotStopped(_logger, GroupName, finding.Resource, finding.Status, finding.StopMessage ?? "no detail");
                }

                findings.Add(finding);
            }

            return findings;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Calls <see cref="IAnnouncingResource.AnnounceAsync"/> on each announcing resource (after a split brain this node won); failures are logged.</summary>
    /// <param name="cancellationToken">Shutdown.</param>
    /// <returns>How many resources announced.</returns>
    public async Task<int> AnnounceAsync(CancellationToken cancellationToken)
    {
        var announced = 0;
        foreach (var resource in _resources.OfType<IAnnouncingResource>())
        {
            try
            {
                await _monitorPipeline.ExecuteAsync(
                    static (state, ct) => state.resource.AnnounceAsync(state.context, ct), (resource, context: _context), cancellationToken).ConfigureAwait(false);
                ResourcesLog.Reannounced(_logger, GroupName, resource.Name);
                announced++;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                ResourcesLog.ReannounceFailed(_logger, GroupName, resource.Name, ex.Message);
            }
        }

        return announced;
    }

    /// <summary>The machine's time: this runner's clock, on the scale the restart budget counts in.</summary>
    private TimeSpan Now => RestartTracker.Now(_timeProvider);

    /// <summary>Executes the machine's steps until it completes, logging its decisions; abandons it when the caller's token (shutdown) interrupts.</summary>
    private async Task<GroupActionOutcome> DriveAsync(ResourceGroupStep step, CancellationToken ownershipToken, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                foreach (var decision in step.Decisions)
                {
                    LogDecision(decision);
                }

                switch (step.Kind)
                {
                    case ResourceGroupStepKind.Completed:
                        return step.Outcome!;
                    case ResourceGroupStepKind.Delay:
                        await Task.Delay(step.Delay, _timeProvider, cancellationToken).ConfigureAwait(false);
                        step = _machine.OnDelayElapsed(Now);
                        break;
                    default:
                        var result = await RunAsync(step.ResourceIndex, step.Action, cancellationToken).ConfigureAwait(false);
                        step = _machine.OnActionCompleted(Now, result, ownershipToken.IsCancellationRequested);
                        break;
                }
            }
        }
        finally
        {
            // Completed steps end the machine's action; anything else (shutdown) drops it.
            _machine.Abandon();
        }
    }

    private void LogDecision(ResourceGroupDecision d)
    {
        switch (d.Kind)
        {
            case ResourceGroupDecisionKind.Restarting:
                ResourcesLog.Restarting(_logger, GroupName, ResourceGroupMachine.ActionName(d.Action), d.Resource, d.Cause, d.Reason, d.Restarts, d.MaxRestarts, d.FailureWindow);
                break;
            case ResourceGroupDecisionKind.BudgetExhausted:
                ResourcesLog.BudgetExhausted(_logger, GroupName, d.Resource, d.FailureKind, d.Reason, d.MaxRestarts, d.FailureWindow);
                break;
            case ResourceGroupDecisionKind.Failed:
                ResourcesLog.GroupFailed(_logger, GroupName, d.Resource, d.FailureKind, d.Reason);
                break;
            default:
                ResourcesLog.GroupBlocked(_logger, GroupName, d.Resource, d.Reason);
                break;
        }
    }

    private async ValueTask<ResourceActionResult> RunAsync(int index, ResourceAction action, CancellationToken cancellationToken)
    {
        IResource resource = _resources[index];
        ResourceContext context = _context;
        long started = _timeProvider.GetTimestamp();
        ResourceActionResult result;
        Exception? exception = null;
        try
        {
            switch (action)
            {
                case ResourceAction.Start:
                {
                    var r = await _startPipeline.ExecuteAsync(
                        static (state, ct) => state.resource.StartAsync(state.context, ct), (resource, context), cancellationToken).ConfigureAwait(false);
                    TakeoverTrace.Mark("start.resource.returned");
                    result = ResourceActionResult.FromResult(r);
                    exception = r.Exception;
                    break;
                }

                case ResourceAction.Stop:
                {
                    var r = await _stopPipeline.ExecuteAsync(
                        static (state, ct) => state.resource.StopAsync(state.context, ct), (resource, context), cancellationToken).ConfigureAwait(false);
                    result = ResourceActionResult.FromResult(r);
                    exception = r.Exception;
                    break;
                }

                default:
                {
                    var m = await _monitorPipeline.ExecuteAsync(
                        static (state, ct) => state.resource.MonitorAsync(state.context, ct), (resource, context), cancellationToken).ConfigureAwait(false);
                    result = ResourceActionResult.FromMonitor(m);
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (TimeoutRejectedException ex)
        {
            result = ResourceActionResult.TimedOutAfter(action, _machine.TimeoutOf(action));
            exception = ex;
        }
        catch (Exception ex)
        {
            result = ResourceActionResult.FromException(action, ex);
            exception = ex;
        }

        var (kind, status, message, timedOut) = result;
        TimeSpan duration = _timeProvider.GetElapsedTime(started);
        long elapsedMs = (long)duration.TotalMilliseconds;
        string actionName = ResourceGroupMachine.ActionName(action);
        if (timedOut)
        {
            ResourcesLog.ActionTimedOut(_logger, GroupName, actionName, resource.Name, _machine.TimeoutOf(action));
        }
        else if (kind != ResourceFailureKind.None)
        {
            ResourcesLog.ActionFailed(_logger, GroupName, actionName, resource.Name, kind, message, elapsedMs, exception);
        }
        else if (action != ResourceAction.Monitor)
        {
            ResourcesLog.ActionSucceeded(_logger, GroupName, actionName, resource.Name, elapsedMs);
        }
        else if (status == ResourceStatus.Degraded)
        {
            ResourcesLog.MonitorDegraded(_logger, GroupName, resource.Name, message);
        }
        else
        {
            ResourcesLog.MonitorRunning(_logger, GroupName, resource.Name, elapsedMs);
        }

        TakeoverTrace.Mark(action == ResourceAction.Start ? "start.resource.logged" : "resource.logged");
        var handler = ActionCompleted;
        if (handler is not null)
        {
            try
            {
                handler(new ResourceActionRecord(GroupName, resource.Name, action, kind, status, message, duration, timedOut));
            }
            catch (Exception ex)
            {
                ResourcesLog.HandlerFailed(_logger, GroupName, ex);
            }
        }

        return result;
    }

    private static ResiliencePipeline BuildPipeline(TimeSpan timeout, TimeProvider timeProvider)
    {
        if (timeout <= TimeSpan.Zero || timeout == System.Threading.Timeout.InfiniteTimeSpan)
        {
            return ResiliencePipeline.Empty;
        }

        // The generator (unlike TimeoutStrategyOptions.Timeout) is not range-validated, so any positive timeout is honoured.
        var result = new ValueTask<TimeSpan>(timeout);
        return new ResiliencePipelineBuilder { TimeProvider = timeProvider }
            .AddTimeout(new TimeoutStrategyOptions { TimeoutGenerator = _ => result })
            .Build();
    }
}

/// <summary>What the orphan probe found for one resource.</summary>
/// <param name="Group">The group.</param>
/// <param name="Resource">The resource.</param>
/// <param name="Status">What its monitor said (not <see cref="ResourceStatus.NotRunning"/>).</param>
/// <param name="ProbeMessage">The monitor's explanation.</param>
/// <param name="Stopped">Whether the stop succeeded.</param>
/// <param name="StopMessage">The stop's failure, if any.</param>
internal sealed record OrphanFinding(string Group, string Resource, ResourceStatus Status, string? ProbeMessage, bool Stopped, string? StopMessage);
