using HaKit.Arbitration;
using HaKit.Detection;
using HaKit.Diagnostics;
using HaKit.Fencing;
using HaKit.Notifications;
using HaKit.Ownership;
using HaKit.Resources;
using HaKit.Runtime;
using HaKit.State;
using HaKit.Transport;
using HaKit.Wire;
using Microsoft.Extensions.Logging;

namespace HaKit;

/// <summary>
/// A running HaKit node: drives the <see cref="OwnershipCore"/> with a <see cref="TimeProvider"/>, sends and receives
/// authenticated heartbeats on every link, runs resource actions, asks the arbiter, fences, persists epochs,
/// and raises events (<see cref="EventRaised"/>), logs and metrics.
/// </summary>
/// <remarks>
/// <para>All core calls happen on one loop task, in order; resource actions, arbiter calls and fencing run as tasks
/// whose results are posted back to the loop.</para>
/// <para>Stopping: <see cref="StopAsync"/> is the graceful shutdown that hands every owned group to a peer, bounded by its token.
/// <see cref="DisposeAsync"/> of a node that was started and not stopped does the same graceful stop, bounded by
/// <see cref="GracefulStopTimeout"/>, and logs a warning that it did (so <c>await using var node</c> never behaves like a crash).
/// <see cref="AbortAsync"/> stops without handing over: to peers that looks like a crash, and resources keep running.</para>
/// </remarks>
public sealed class ClusterNode : IAsyncDisposable
{
    private static readonly TimeSpan ReleaseWait = TimeSpan.FromSeconds(5);
    private readonly HaKitOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HaKitMetrics _metrics;
    private readonly Notifier? _notifier;
    private readonly EventLogWriter _eventLog;
    private readonly IArbiter _arbiter;
    private readonly WitnessArbiter? _witness;
    private readonly FenceCoordinator _fencing;
    private readonly IReadOnlyList<IFenceAgent> _configuredAgents;
    private readonly DurableNodeState _state;
    private readonly NodeLinks _links;
    private NodeReceiver? _receiver;
    private readonly NodeLoop _loop;
    private readonly NodeCommandExecutor _executor;
    private readonly AdminForwarding _admin;
    private readonly Dictionary<string, GroupDriver> _drivers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource _shutdownReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Reflection.Assembly[] _warmUpAssemblies;
    private readonly HashSet<string> _diesWithProcess;
    private WatchdogKeeper? _watchdog;
    private int _loopStopped;
    private int _lifecycle; // 0 new, 1 started, 2 stopping, 3 disposed

    /// <summary>Creates a node. Validates the options (throws <see cref="HaKitConfigurationException"/> naming every bad key).</summary>
    /// <param name="options">The node's options.</param>
    /// <param name="resources">Resources per group name, in start order; every configured group needs at least one.</param>
    /// <param name="services">Optional collaborators.</param>
    public ClusterNode(HaKitOptions options, IReadOnlyDictionary<string, IReadOnlyList<IResource>> resources, ClusterNodeServices? services = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(resources);
        services ??= new ClusterNodeServices();
        var errors = HaKitOptionsValidator.Validate(options).ToList();
        errors.AddRange(ResourceValidation.Check(options, resources));
        if (errors.Count > 0)
        {
            throw new HaKitConfigurationException(errors);
        }

        _options = options;
        _time = services.TimeProvider;
        _logger = services.LoggerFactory.CreateLogger("HaKit");
        _metrics = new HaKitMetrics(services.MeterFactory);
        // Notifications run real scripts and sockets: like the fence agents, their time-outs use the system clock.
        _notifier = options.Notify.Enabled ? new Notifier(options.Notify, options.ClusterName, options.NodeName, _logger, TimeProvider.System, _metrics) : null;
        // Configured agents (HaKit:Fencing:Agents) are the first fencing levels, then the ones registered in code. They run real
        // processes and sockets, so their bounded waits use the system clock even when the node runs on a test clock.
        _configuredAgents = FenceAgentSupport.Create(options, services.LoggerFactory, TimeProvider.System);
        _fencing = new FenceCoordinator([.. _configuredAgents, .. services.FenceAgents], options.Fencing.Timeout, _time);
        _arbiter = NodeArbiter.Create(options, services, out _witness);
        _state = new DurableNodeState(services.StateStore ?? new FileStateStore(Path.Combine(options.StateDirectory, options.NodeName + ".state")), _logger);
        _links = new NodeLinks(options, services.Transports ?? HeartbeatTransportFactory.Create(options, services.LoggerFactory, services.LinkFactories), _metrics, _logger);
        _loop = new NodeLoop(_time, _logger);
        foreach (var g in options.Groups)
        {
            var runner = new ResourceGroupRunner(g, resources[g.Name], options.NodeName, _time, services.LoggerFactory.CreateLogger<ResourceGroupRunner>())
            {
                Guard = new OwnershipGuard(_time),
            };
            runner.ActionCompleted += record => _loop.Post(() => Publish(new ResourceActionCompleted(_loop.Now, record)));
            _drivers.Add(g.Name, new GroupDriver(runner));
        }

        _admin = new AdminForwarding(options, _loop, _links, _logger, _time);
        _executor = new NodeCommandExecutor(options, _loop, _links, _state, _arbiter, _fencing, _drivers.ToDictionary(d => d.Key, IGroupDriver (d) => d.Value, StringComparer.Ordinal), _metrics, _logger, Publish);
        _diesWithProcess = resources.Where(r => r.Value.Count > 0 && r.Value.All(x => x.DiesWithProcess)).Select(r => r.Key).ToHashSet(StringComparer.Ordinal);
        // The node's own code, Polly, and the code it calls through its interfaces: the links' transports (HaKit.Grpc's link is
        // on the crash hint's path), the arbiter and the resources.
        _warmUpAssemblies =
        [
            .. new[] { typeof(ClusterNode).Assembly, typeof(Polly.ResiliencePipeline).Assembly, _arbiter.GetType().Assembly }
                .Concat(_links.Transports.Select(t => t.GetType().Assembly))
                .Concat(resources.Values.SelectMany(l => l).Select(r => r.GetType().Assembly))
                .Distinct(),
        ];
        _eventLog = new EventLogWriter(_logger, options.NodeName); // last: nothing above may leave its writer running
    }

    /// <summary>Raised on the node's loop for every event (role changes, peer and link status, split brain, resource actions, …). Handlers must not block.</summary>
    public event EventHandler<ClusterEvent>? EventRaised;

    /// <summary>The local node name.</summary>
    public string NodeName => _options.NodeName;

    /// <summary>This process's incarnation (grows at every start).</summary>
    public ulong Incarnation => _state.Incarnation;

    /// <summary>Packet counters: accepted and dropped per reason.</summary>
    public WireStats WireStats => _links.Stats;

    /// <summary>In Witness mode (with the built-in witness arbiter): the witness's outdated marks, through the node's own
    /// witness socket (HaKit.Replication publishes and reads them); otherwise <see langword="null"/>.</summary>
    public Arbitration.IOutdatedMarkArbiter? OutdatedMarks => _witness;

    /// <summary>What this configuration implies: worst-case detection and takeover times, heartbeats that may be lost.</summary>
    public TimingBudget Budget => TimingBudget.From(_options, _drivers.ToDictionary(d => d.Key, d => d.Value.ResourceCount, StringComparer.Ordinal), _fencing.Configured);

    /// <summary>
    /// How long <see cref="DisposeAsync"/> of a running node waits for the graceful stop: every group's stop timeout per resource,
    /// plus twice the dead time (the peer's takeover), plus 5 s (what the hosting layer gives a host's shutdown at least).
    /// </summary>
    public TimeSpan GracefulStopTimeout =>
        _options.Groups.Aggregate(TimeSpan.Zero, (sum, g) => sum + (g.StopTimeout * Math.Max(1, _drivers[g.Name].ResourceCount)))
        + (2 * _options.Timing.DeadTime) + TimeSpan.FromSeconds(5);

    /// <summary>The <c>HaKit</c> meter's instruments.</summary>
    internal HaKitMetrics Metrics => _metrics;

    /// <summary>Completes when every group has been released after <see cref="StopAsync"/> began a graceful shutdown.</summary>
    public Task GroupsReleased => _shutdownReady.Task;

    /// <summary>The latest snapshot of the node's view (updated after every step of the loop, and before every event is raised).</summary>
    public ClusterStatus GetStatus() => _loop.Status ?? throw new InvalidOperationException("the node has not been started");

    /// <summary>The ownership token of a group: cancelled the instant this node stops owning it. Already cancelled when it does not own it now.</summary>
    /// <param name="group">The group.</param>
    public CancellationToken GetOwnershipToken(string group) =>
        _drivers.TryGetValue(group, out var d) ? d.OwnershipToken : throw new ArgumentException($"unknown group '{group}'", nameof(group));

    /// <summary>Loads the durable state, starts a new incarnation, binds every link and starts the loop.</summary>
    /// <param name="cancellationToken">Cancels start-up.</param>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _lifecycle, 1, 0) != 0)
        {
            throw new InvalidOperationException("the node was already started");
        }

        TakeoverTrace.Mark("node.start"); // with the trace on: its buffer and timer exist before a takeover marks anything

        if (_options.RealtimePriority > 0)
        {
            if (RealtimeScheduling.TryApply(_options.RealtimePriority) is { } reason)
            {
                RuntimeLog.RealtimeNotApplied(_logger, reason);
            }
            else
            {
                RuntimeLog.RealtimeApplied(_logger, _options.RealtimePriority);
            }
        }

        if (_options.Watchdog.Mode != WatchdogMode.Off)
        {
            var keeper = new WatchdogKeeper(new LinuxWatchdogDevice(_options.Watchdog.Device), _options.Watchdog.Mode, _options.Watchdog.Device, WatchdogOptions.TimeoutFor(_options.Arbiter), _time, _logger);
            keeper.Probe(); // Required: throws naming the key when the device cannot be armed
            _watchdog = keeper;
        }

        _state.Load(_time);
        var incarnation = _state.Incarnation;
        string[] senders = [.. _options.Nodes.Select(n => n.Name), .. _witness is null ? [] : new[] { _witness.WitnessName }];
        var codec = _links.OpenCodec(incarnation, senders);
        _loop.StartClock();
        _witness?.Attach(codec, _loop.StartTimestamp, incarnation, _state.CopyEpochs(), _links.SendOnLinksAsync, (group, epoch) => _loop.Post(() => _state.PersistGranted(group, epoch)));
        _loop.Open(new OwnershipCore(CoreConfig.FromOptions(_options, _fencing.Configured, _diesWithProcess), FailureDetectorFactory.FromOptions(_options), _state.Epochs, TimeSpan.Zero));

        // The orphan probe (Pacemaker's initial probe), before any link is bound: whatever an earlier process left running is stopped.
        foreach (var driver in _drivers.Values)
        {
            await driver.ProbeAsync(cancellationToken).ConfigureAwait(false);
        }

        _loop.DrainBeforeTick = () => _links.DrainPending(64);
        // The loop wakes about once an interval when idle; a refresh as often would rebuild the snapshot at nearly every wake-up.
        _loop.StatusRefresh = _options.Timing.Interval > NodeLoop.MinStatusRefresh ? _options.Timing.Interval : NodeLoop.MinStatusRefresh;
        _loop.Freeze = CreateFreezeGuard();
        _loop.Freeze.Watchdog = _watchdog;
        var witness = _witness;
        _admin.Open(incarnation);
        var router = new InboundRouter(codec, _metrics, witness?.WitnessName, witness is null ? null : witness.OnMessage, _admin.OnMessage);
        _receiver = new NodeReceiver(router, _loop, _logger, _time) { PeerByAddress = NodeReceiver.PeerAddresses(_options), DeferWithin = _options.Timing.Interval, Steady = new SteadyHeartbeats() };
        await _links.StartAsync(_receiver, cancellationToken).ConfigureAwait(false);

        RuntimeLog.TimingBudget(_logger, _options.Preset.ToString(), _options.Timing.Interval.TotalMilliseconds, _options.Timing.DeadTime.TotalMilliseconds, Budget.ToString());
        RuntimeLog.Started(_logger, _options.NodeName, _options.ClusterName, incarnation, string.Join(", ", _links.Transports.Select(t => t.LinkName)), string.Join(", ", _options.Groups.Select(g => g.Name)), _arbiter.Name);
        _notifier?.Start();
        _loop.Run(_executor, _shutdown.Token);
        if (_arbiter is IArbiterWatch watch)
        {
            _loop.Track(WatchArbiterAsync(watch, _shutdown.Token));
        }

        // ipfail: probe rounds run off the loop; each round is one input to the core.
        if (ReachabilityMonitor.Create(_options, _time, _logger, round => _loop.Post(() => _loop.Core.OnReachability(_loop.Now, round))) is { } reach)
        {
            _loop.Track(reach.RunAsync(_options.Arbiter.Ipfail.Rounds, _shutdown.Token));
        }

        if (_options.WarmUp)
        {
            JitWarmUp.StartThread(_warmUpAssemblies, _options, _time, _logger, _shutdown.Token);
        }

        _loop.StartTicks();
        _links.StartSender(_time, _loop.StartTimestamp, () => _loop.LastStepTimestamp);
    }

    /// <summary>Runs an operator command on the loop.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    public Task<AdminResult> ExecuteAsync(AdminCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        var tcs = new TaskCompletionSource<AdminResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_loop.Post(() => tcs.TrySetResult(_loop.Core.Admin(_loop.Now, command))))
        {
            tcs.TrySetResult(new AdminResult(false, "the node is not running"));
        }

        return tcs.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Moves a group gracefully (what <see cref="SwitchoverCommand"/> does), sent to any node: runs here when this node owns the group;
    /// otherwise it is forwarded over the heartbeat links to the owner, which runs its own switchover (stop there, then start on the
    /// target: never two owners) and answers with its core's result. Refused with the reason when the owner cannot be reached or does
    /// not answer within twice the dead time (at least 2 s).
    /// </summary>
    /// <param name="group">The group.</param>
    /// <param name="target">The node to move to, or <see langword="null"/> for the best other eligible node.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    /// <returns>The deciding node's result (<see cref="AdminResult.HandledBy"/> names it).</returns>
    public Task<AdminResult> SwitchoverAsync(string group, string? target, CancellationToken cancellationToken) =>
        _admin.SwitchoverAsync(group, target, cancellationToken);

    /// <summary>
    /// Asked on a standby (Heartbeat's <c>hb_takeover</c>): the group's owner hands the group to this node, by a switchover it runs
    /// itself. Refused with the reason when the owner is unreachable; after <see cref="ConfirmNodeDownCommand"/> for it this node
    /// starts the group by itself.
    /// </summary>
    /// <param name="group">The group.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    /// <returns>The deciding node's result (<see cref="AdminResult.HandledBy"/> names it).</returns>
    public Task<AdminResult> TakeoverAsync(string group, CancellationToken cancellationToken) =>
        _admin.TakeoverAsync(group, cancellationToken);

    /// <summary>An event in words: the line this node logs for it (events without a log line of their own: their type and values).</summary>
    /// <param name="e">The event.</param>
    /// <returns>One line.</returns>
    public string DescribeEvent(ClusterEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return EventLog.Describe(_options.NodeName, e) ?? e.ToString();
    }

    /// <summary>
    /// Graceful shutdown: hands every owned group to a peer (stop here, announce, the peer starts it), waits until all are
    /// released, then stops the links. If <paramref name="cancellationToken"/> fires first, stops without waiting further.
    /// </summary>
    /// <param name="cancellationToken">Bounds the graceful part.</param>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _lifecycle, 2, 1) != 1)
        {
            return;
        }

        await StopGracefullyAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stops at once without handing any group over: peers see the node fall silent, as after a crash, and take over after the
    /// dead time (or fence it); resources are left as they are. For tests and emergencies; <see cref="StopAsync"/> is the normal stop.
    /// </summary>
    public async Task AbortAsync()
    {
        if (Interlocked.CompareExchange(ref _lifecycle, 2, 1) != 1)
        {
            return;
        }

        RuntimeLog.Aborted(_logger, _options.NodeName);
        await StopLoopAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Stops the node and frees it. A node that was started and neither stopped nor aborted is first stopped gracefully, as by
    /// <see cref="StopAsync"/> bounded by <see cref="GracefulStopTimeout"/> (a warning says so): <c>await using var node</c> hands
    /// owned groups over. Call <see cref="StopAsync"/> first to choose the bound, or <see cref="AbortAsync"/> to stop without handing over.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_loop.IsRunning && Interlocked.CompareExchange(ref _lifecycle, 2, 1) == 1)
        {
            var bound = GracefulStopTimeout;
            RuntimeLog.DisposedWhileRunning(_logger, _options.NodeName, bound.TotalSeconds);
            using var timeout = new CancellationTokenSource(bound, _time);
            await StopGracefullyAsync(timeout.Token).ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _lifecycle, 3) == 3)
        {
            return;
        }

        await StopLoopAsync().ConfigureAwait(false);
        if (_witness is not null)
        {
            await _witness.DisposeAsync().ConfigureAwait(false);
        }

        if (_notifier is not null)
        {
            await _notifier.DisposeAsync().ConfigureAwait(false); // delivers what the stop itself reported, within a bound
        }

        await _eventLog.DisposeAsync().ConfigureAwait(false); // writes the stop's own lines, within a bound

        _metrics.Dispose();
        _links.DisposeKeys();
        _shutdown.Dispose();
        foreach (var d in _drivers.Values)
        {
            d.Dispose();
        }

        foreach (var agent in _configuredAgents.OfType<IDisposable>())
        {
            agent.Dispose();
        }
    }

    private async Task StopGracefullyAsync(CancellationToken cancellationToken)
    {
        _loop.Post(() => _loop.Core.Admin(_loop.Now, new ShutdownCommand()));
        try
        {
            await _shutdownReady.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time: stop anyway; peers detect the silence.
        }

        // Let arbiter releases reach the arbiter (an etcd key deleted now spares the next owner the rest of the lease); bounded.
        try
        {
            await Task.WhenAll(_loop.Releases()).WaitAsync(ReleaseWait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // The lease expires at the arbiter on its own.
        }

        await StopLoopAsync().ConfigureAwait(false);
    }

    private async Task StopLoopAsync()
    {
        if (Interlocked.Exchange(ref _loopStopped, 1) == 1)
        {
            return;
        }

        _links.Close();
        await _loop.StopAsync().ConfigureAwait(false);
        _watchdog?.Dispose(); // the loop has stopped: disarm (magic close) if a group was still owned
        await _shutdown.CancelAsync().ConfigureAwait(false);
        await _links.DisposeTransportsAsync().ConfigureAwait(false);
        _receiver?.Dispose();
        try
        {
            await Task.WhenAll(_loop.InFlight()).WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // Actions that ignore cancellation are abandoned; their results are no longer needed.
        }

        if (_loop.IsOpen)
        {
            RuntimeLog.Stopped(_logger, _options.NodeName);
        }
    }

    /// <summary>The freeze guard over every group's ownership guard, in the core's group order.</summary>
    private FreezeGuard CreateFreezeGuard()
    {
        var core = _loop.Core;
        var guards = new OwnershipGuard[core.GroupCount];
        for (var i = 0; i < guards.Length; i++)
        {
            guards[i] = _drivers[core.GroupNameAt(i)].Guard;
        }

        var t = _options.Timing;
        return new FreezeGuard(_time, _loop.StartTimestamp, guards, t.DeadTime, t.Interval, t.EffectiveTickInterval, t.EffectiveLocalPauseThreshold, _options.Nodes.Count > 1);
    }

    /// <summary>Feeds the arbiter's "group free" reports (etcd key deletions) to the core for the node's lifetime.</summary>
    private async Task WatchArbiterAsync(IArbiterWatch watch, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Yield();
            await watch.WatchAsync(
                group =>
                {
                    RuntimeLog.ArbiterFreed(_logger, group);
                    _loop.Post(() => _loop.Core.OnArbiterFreed(_loop.Now, group));
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
        catch (Exception ex)
        {
            RuntimeLog.ArbiterWatchFailed(_logger, ex.Message);
        }
    }

    private void Publish(ClusterEvent e)
    {
        // The status matches the event: the admin API's watch snapshot (taken under its journal's lock) includes every event numbered.
        // A resource action's record changes nothing the status shows (a monitor round of the owner, every MonitorInterval): rebuilt
        // only if the step changed what it shows.
        if (e is ResourceActionCompleted)
        {
            _loop.RefreshStatusIfChanged();
        }
        else
        {
            _loop.RefreshStatus();
        }
        var traced = TakeoverTrace.On && e is RoleChanged { To: GroupRole.Acquiring };
        if (traced)
        {
            TakeoverTrace.Mark("publish.acquiring.status");
        }

        _metrics.Record(e);
        if (traced)
        {
            TakeoverTrace.Mark("publish.acquiring.metrics");
        }

        _eventLog.Post(e); // off the loop: a cold or slow log line must not delay a takeover
        _notifier?.Post(e);
        if (traced)
        {
            TakeoverTrace.Mark("publish.acquiring.posted");
        }

        if (e is ShutdownReady)
        {
            _shutdownReady.TrySetResult();
        }
        else if (e is SplitBrainDetected sb && string.Equals(sb.Winner, _options.NodeName, StringComparison.Ordinal) && _drivers.TryGetValue(sb.Group, out var won))
        {
            won.Announce(_loop, _shutdown.Token); // clients that followed the losing copy come back (gratuitous ARP, unsolicited NA)
        }

        var handlers = EventRaised;
        if (handlers is null)
        {
            return;
        }

        foreach (var handler in handlers.GetInvocationList().Cast<EventHandler<ClusterEvent>>())
        {
            try
            {
                handler(this, e);
                if (traced)
                {
                    // The subscriber's type, not handler.Method: reflection on the path would time itself.
                    TakeoverTrace.Mark("publish.acquiring.handler." + (handler.Target?.GetType().Name ?? "static"));
                }
            }
            catch (Exception ex)
            {
                RuntimeLog.SubscriberError(_logger, ex);
            }
        }
    }
}
