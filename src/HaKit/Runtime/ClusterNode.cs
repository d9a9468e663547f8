using HaKit.Runtime;
using System.Threading.Channels;
using HaKit.Detection;
using HaKit.Arbitration;
using HaKit.Ownership;
using HaKit.Fencing;
using HaKit.Resources;
using HaKit.State;
using HaKit.Transport;
using HaKit.Wire;
using HaKit.Wire.Proto;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace HaKit;

/// <summary>Optional collaborators of a <see cref="ClusterNode"/>; every one has a production default.</summary>
public sealed class ClusterNodeServices
{
    /// <summary>Time source for timers, timeouts and detection. <value>Default <see cref="TimeProvider.System"/>.</value></summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Logger factory. <value>Default: no logging.</value></summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Meter factory for the <c>HaKit</c> meter. <value>Default: a standalone meter.</value></summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; init; }

    /// <summary>The arbiter. <value>Default: <see cref="TwoNodeArbiter"/> with the configured ping targets.</value></summary>
    public IArbiter? Arbiter { get; init; }

    /// <summary>For <see cref="ArbiterMode.Etcd"/> when <see cref="Arbiter"/> is not set: the lease store the default <see cref="LeaseStoreArbiter"/> uses. <value>Default: none.</value></summary>
    public ILeaseStore? LeaseStore { get; init; }

    /// <summary>Fence agents, tried in order (fencing levels), after the built-in agents configured in <see cref="FencingOptions.Agents"/>. <value>Default: none.</value></summary>
    public IReadOnlyList<IFenceAgent> FenceAgents { get; init; } = [];

    /// <summary>Durable state. <value>Default: <see cref="FileStateStore"/> at <c>StateDirectory/NodeName.state</c>.</value></summary>
    public IStateStore? StateStore { get; init; }

    /// <summary>Heartbeat links. <value>Default: built from <see cref="HaKitOptions.Links"/> by <see cref="HeartbeatTransportFactory"/>.</value></summary>
    public IReadOnlyList<IHeartbeatTransport>? Transports { get; init; }
}

/// <summary>
/// A running HaKit node: drives the <see cref="OwnershipCore"/> with a <see cref="TimeProvider"/>, sends and receives
/// authenticated heartbeats on every link, runs resource actions, asks the arbiter, fences, persists epochs,
/// and raises events (<see cref="EventRaised"/>), logs and metrics.
/// </summary>
/// <remarks>
/// All core calls happen on one loop task, in order; resource actions, arbiter calls and fencing run as tasks
/// whose results are posted back to the loop. Call <see cref="StopAsync"/> for a graceful shutdown that hands every
/// owned group to a peer; <see cref="DisposeAsync"/> alone stops without handing over (like a crash, resources keep running).
/// </remarks>
public sealed class ClusterNode : IAsyncDisposable, IPacketReceiver
{
    private readonly HaKitOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HaKitMetrics _metrics;
    private readonly IArbiter _arbiter;
    private readonly WitnessArbiter? _witness;
    private readonly FenceCoordinator _fencing;
    private readonly IReadOnlyList<IFenceAgent> _configuredAgents;
    private readonly IStateStore _store;
    private readonly IReadOnlyList<IHeartbeatTransport> _transports;
    private readonly Dictionary<string, GroupDriver> _drivers = new(StringComparer.Ordinal);
    private readonly Channel<Action> _inbox = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource _shutdownReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<string, ulong> _epochs = new(StringComparer.Ordinal);
    private readonly List<Task> _inFlight = [];
    private readonly List<Task> _releases = [];
    private static readonly TimeSpan ReleaseWait = TimeSpan.FromSeconds(5);
    private readonly Lock _inFlightLock = new();
    private readonly byte[][] _sendBuffers;
    private readonly byte[] _payloadBuffer;
    private readonly System.Reflection.Assembly[] _warmUpAssemblies;
    private OwnershipCore? _core;
    private EnvelopeCodec? _codec;
    private AuthKeyRing? _keys;
    private WireStats _wireStats = new();
    private long _startTimestamp;
    private ulong _incarnation;
    private ITimer? _timer;
    private Task? _loop;
    private int _tickQueued;
    private int _loopStopped;
    private int _state; // 0 new, 1 started, 2 stopping, 3 disposed
    private volatile ClusterStatus? _status;

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
        for (var i = 0; i < options.Groups.Count; i++)
        {
            var g = options.Groups[i];
            if (!resources.TryGetValue(g.Name, out var list) || list.Count == 0)
            {
                errors.Add($"{HaKitOptionsValidator.Section}:Groups:{i}:Resources = (none): group {g.Name} has no resources; register at least one resource for it");
            }
            else if (list.Select(r => r.Name).Distinct(StringComparer.Ordinal).Count() != list.Count)
            {
                errors.Add($"{HaKitOptionsValidator.Section}:Groups:{i}:Resources = '{string.Join(", ", list.Select(r => r.Name))}': resource names must be unique within group {g.Name}");
            }
        }

        foreach (var name in resources.Keys.Where(k => options.Groups.TrueForAll(g => g.Name != k)))
        {
            errors.Add($"{HaKitOptionsValidator.Section}:Groups = '{name}': resources were registered for group {name}, which is not configured; add it to HaKit:Groups");
        }

        if (errors.Count > 0)
        {
            throw new HaKitConfigurationException(errors);
        }

        _options = options;
        _time = services.TimeProvider;
        _logger = services.LoggerFactory.CreateLogger("HaKit");
        _metrics = new HaKitMetrics(services.MeterFactory);
        // Configured agents (HaKit:Fencing:Agents) are the first fencing levels, then the ones registered in code. They run real
        // processes and sockets, so their bounded waits use the system clock even when the node runs on a test clock.
        _configuredAgents = FenceAgentSupport.Create(options, services.LoggerFactory, TimeProvider.System);
        _fencing = new FenceCoordinator([.. _configuredAgents, .. services.FenceAgents], options.Fencing.Timeout, _time);
        if (services.Arbiter is null && options.Arbiter.Mode == ArbiterMode.Witness)
        {
            _witness = new WitnessArbiter(options, _time, services.LoggerFactory.CreateLogger<WitnessArbiter>());
        }

        _arbiter = services.Arbiter ?? (IArbiter?)_witness ?? (options.Arbiter.Mode switch
        {
            ArbiterMode.Etcd => new LeaseStoreArbiter(
                services.LeaseStore ?? throw new InvalidOperationException("HaKit:Arbiter:Mode = Etcd needs a lease store: set ClusterNodeServices.LeaseStore (e.g. new EtcdLeaseStore(options.Arbiter.Etcd) from the HaKit.Etcd package), or in a host call .UseEtcd() on AddHaKit()."),
                options.ClusterName,
                options.Arbiter.LeaseTtl,
                options.Arbiter.Etcd.KeyPrefix,
                services.LoggerFactory.CreateLogger<LeaseStoreArbiter>()),
            _ => new TwoNodeArbiter(
                options.Arbiter.PingTargets.Select(t => (IReachabilityProbe)TcpConnectProbe.Parse(t, options.Arbiter.PingTimeout, _time)).ToArray(),
                services.LoggerFactory.CreateLogger<TwoNodeArbiter>()),
        });
        _store = services.StateStore ?? new FileStateStore(Path.Combine(options.StateDirectory, options.NodeName + ".state"));
        _transports = services.Transports ?? HeartbeatTransportFactory.Create(options, services.LoggerFactory);
        _sendBuffers = _transports.Select(_ => new byte[options.MaxPacketSize]).ToArray();
        _payloadBuffer = new byte[options.MaxPacketSize];
        foreach (var g in options.Groups)
        {
            var runner = new ResourceGroupRunner(g, resources[g.Name], options.NodeName, _time, services.LoggerFactory.CreateLogger<ResourceGroupRunner>());
            runner.ActionCompleted += record => Post(() => Publish(new ResourceActionCompleted(Now, record)));
            _drivers.Add(g.Name, new GroupDriver(runner));
        }

        _warmUpAssemblies = [typeof(ClusterNode).Assembly, typeof(Polly.ResiliencePipeline).Assembly, .. resources.Values.SelectMany(l => l).Select(r => r.GetType().Assembly).Distinct()];
    }

    /// <summary>Raised on the node's loop for every event (role changes, peer and link status, split brain, resource actions, …). Handlers must not block.</summary>
    public event EventHandler<ClusterEvent>? EventRaised;

    /// <summary>The local node name.</summary>
    public string NodeName => _options.NodeName;

    /// <summary>This process's incarnation (grows at every start).</summary>
    public ulong Incarnation => _incarnation;

    /// <summary>Packet counters: accepted and dropped per reason.</summary>
    public WireStats WireStats => _wireStats;

    /// <summary>What this configuration implies: worst-case detection and takeover times, heartbeats that may be lost.</summary>
    public TimingBudget Budget => TimingBudget.From(_options, _drivers.ToDictionary(d => d.Key, d => d.Value.ResourceCount, StringComparer.Ordinal), _fencing.Configured);

    /// <summary>The <c>HaKit</c> meter's instruments.</summary>
    public HaKitMetrics Metrics => _metrics;

    /// <summary>Completes when every group has been released after <see cref="StopAsync"/> began a graceful shutdown.</summary>
    public Task GroupsReleased => _shutdownReady.Task;

    private TimeSpan Now => _time.GetElapsedTime(_startTimestamp);

    /// <summary>The latest snapshot of the node's view (updated after every step of the loop).</summary>
    public ClusterStatus GetStatus() => _status ?? throw new InvalidOperationException("the node has not been started");

    /// <summary>The ownership token of a group: cancelled the instant this node stops owning it. Already cancelled when it does not own it now.</summary>
    /// <param name="group">The group.</param>
    public CancellationToken GetOwnershipToken(string group) =>
        _drivers.TryGetValue(group, out var d) ? d.OwnershipToken : throw new ArgumentException($"unknown group '{group}'", nameof(group));

    /// <summary>Loads the durable state, starts a new incarnation, binds every link and starts the loop.</summary>
    /// <param name="cancellationToken">Cancels start-up.</param>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("the node was already started");
        }

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

        var state = _store.Load();
        foreach (var (group, epoch) in state.Epochs)
        {
            _epochs[group] = epoch;
        }

        // Grows across restarts even if the state file is lost (wall clock), and even if the clock steps back (state file).
        _incarnation = Math.Max(state.Incarnation + 1, (ulong)Math.Max(1, _time.GetUtcNow().ToUnixTimeMilliseconds()));
        _store.Save(new PersistedState(_incarnation, new Dictionary<string, ulong>(_epochs, StringComparer.Ordinal)));

        _keys = new AuthKeyRing(_options.Auth);
        _wireStats = new WireStats();
        string[] senders = [.. _options.Nodes.Select(n => n.Name), .. _witness is null ? [] : new[] { _witness.WitnessName }];
        _codec = new EnvelopeCodec(_options.ClusterName, _options.NodeName, senders, _incarnation, _keys, _options.MaxPacketSize, _wireStats);
        _startTimestamp = _time.GetTimestamp();
        _witness?.Attach(_codec, _startTimestamp, _incarnation, new Dictionary<string, ulong>(_epochs, StringComparer.Ordinal), SendOnLinksAsync, (group, epoch) => Post(() => PersistGranted(group, epoch)));
        _core = new OwnershipCore(CoreConfig.FromOptions(_options, _fencing.Configured), FailureDetectorFactory.FromOptions(_options), _epochs, TimeSpan.Zero);
        _status = _core.GetStatus();

        foreach (var t in _transports)
        {
            await t.StartAsync(this, cancellationToken).ConfigureAwait(false);
        }

        RuntimeLog.TimingBudget(_logger, _options.Preset.ToString(), _options.Timing.Interval.TotalMilliseconds, _options.Timing.DeadTime.TotalMilliseconds, Budget.ToString());
        RuntimeLog.Started(_logger, _options.NodeName, _options.ClusterName, _incarnation, string.Join(", ", _transports.Select(t => t.LinkName)), string.Join(", ", _options.Groups.Select(g => g.Name)), _arbiter.Name);
        _loop = Task.Run(() => RunLoopAsync(_shutdown.Token), CancellationToken.None);
        if (_arbiter is IArbiterWatch watch)
        {
            Track(WatchArbiterAsync(watch, _shutdown.Token));
        }
        if (_options.WarmUp)
        {
            StartWarmUp();
        }

        var tick = _options.Timing.EffectiveTickInterval;
        _timer = _time.CreateTimer(static s => ((ClusterNode)s!).QueueTick(), this, TimeSpan.Zero, tick);
    }

    private void StartWarmUp()
    {
        var token = _shutdown.Token;
        var realtime = _options.RealtimePriority > 0;
        var thread = new Thread(() =>
        {
            if (realtime)
            {
                // Compiling must not compete with heartbeats at real-time priority (measured: at the same priority it caused false
                // failovers at start-up with the Fast preset). Nothing here queues work to the thread pool (PrepareMethod is
                // synchronous and the rehearsal's stand-in actions complete synchronously), so no non-real-time pool thread is created.
                RealtimeScheduling.TryLeaveForCurrentThread();
            }

            var start = _time.GetTimestamp();
            try
            {
                var (prepared, failed) = JitWarmUp.Prepare(_warmUpAssemblies, token);
                foreach (var group in _options.Groups)
                {
                    JitWarmUp.Rehearse(group, _options.NodeName, _time, token);
                }

                RuntimeLog.WarmedUp(_logger, prepared, failed, _time.GetElapsedTime(start).TotalMilliseconds);
            }
            catch (OperationCanceledException)
            {
                // the node stopped first
            }
            catch (Exception ex)
            {
                // Best effort: a warm-up that fails costs only speed, never the node.
                RuntimeLog.WarmUpFailed(_logger, ex.GetType().Name, ex.Message);
            }
        })
        {
            IsBackground = true,
            Name = "HaKit warm-up",
            Priority = ThreadPriority.BelowNormal,
        };
        thread.Start();
    }

    /// <summary>Runs an operator command on the loop.</summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Cancels waiting for the answer.</param>
    public Task<AdminResult> ExecuteAsync(AdminCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        var tcs = new TaskCompletionSource<AdminResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!Post(() => tcs.TrySetResult(_core!.Admin(Now, command))))
        {
            tcs.TrySetResult(new AdminResult(false, "the node is not running"));
        }

        return tcs.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Graceful shutdown: hands every owned group to a peer (stop here, announce, the peer starts it), waits until all are
    /// released, then stops the links. If <paramref name="cancellationToken"/> fires first, stops without waiting further.
    /// </summary>
    /// <param name="cancellationToken">Bounds the graceful part.</param>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 2, 1) != 1)
        {
            return;
        }

        Post(() => _core!.Admin(Now, new ShutdownCommand()));
        try
        {
            await _shutdownReady.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time: stop anyway; peers detect the silence.
        }

        // Let arbiter releases reach the arbiter (an etcd key deleted now spares the next owner the rest of the lease); bounded.
        Task[] releases;
        lock (_inFlightLock)
        {
            releases = [.. _releases];
        }

        try
        {
            await Task.WhenAll(releases).WaitAsync(ReleaseWait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // The lease expires at the arbiter on its own.
        }

        await StopLoopAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the loop and the links without handing groups over (resources are left as they are).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 3) == 3)
        {
            return;
        }

        await StopLoopAsync().ConfigureAwait(false);
        if (_witness is not null)
        {
            await _witness.DisposeAsync().ConfigureAwait(false);
        }

        _metrics.Dispose();
        _keys?.Dispose();
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

    private async Task StopLoopAsync()
    {
        if (Interlocked.Exchange(ref _loopStopped, 1) == 1)
        {
            return;
        }

        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        _inbox.Writer.TryComplete();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        foreach (var t in _transports)
        {
            await t.DisposeAsync().ConfigureAwait(false);
        }

        Task[] pending;
        lock (_inFlightLock)
        {
            pending = [.. _inFlight];
        }

        try
        {
            await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(5), _time).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // Actions that ignore cancellation are abandoned; their results are no longer needed.
        }

        if (_core is not null)
        {
            RuntimeLog.Stopped(_logger, _options.NodeName);
        }
    }

    // ------------------------------------------------------------------ receive path (transport threads)

    void IPacketReceiver.OnPacketReceived(IHeartbeatTransport link, ReadOnlySpan<byte> packet)
    {
        var codec = _codec;
        if (codec is null)
        {
            return;
        }

        var now = Now;
        if (!codec.TryOpen(packet, out var envelope, out var reason))
        {
            _metrics.Dropped(reason);
            return;
        }

        var message = new ClusterMessage();
        HeartbeatMessage? heartbeat = null;
        if (PayloadCodec.TryRead(envelope.Payload, message))
        {
            if (message.BodyCase == ClusterMessage.BodyOneofCase.Heartbeat && (_witness is null || envelope.Sender != _witness.WitnessName))
            {
                heartbeat = HeartbeatMapper.FromProto(message.Heartbeat);
            }
            else if (message.BodyCase is ClusterMessage.BodyOneofCase.VoteRequest or ClusterMessage.BodyOneofCase.VoteReply or ClusterMessage.BodyOneofCase.VoteRelease
                && _witness is not null && _witness.OnMessage(envelope.Sender, message))
            {
                return;
            }
        }

        if (heartbeat is null)
        {
            _wireStats.RecordDropped(DropReason.Malformed);
            _metrics.Dropped(DropReason.Malformed);
            return;
        }

        var sender = envelope.Sender;
        var incarnation = envelope.Incarnation;
        var linkName = link.LinkName;
        _metrics.HeartbeatReceived(linkName);
        Post(() => _core!.Receive(now, sender, linkName, incarnation, heartbeat));
    }

    void IPacketReceiver.OnTransportFault(IHeartbeatTransport link, Exception error) =>
        RuntimeLog.TransportFault(_logger, link.LinkName, error.Message);

    // ------------------------------------------------------------------ loop

    private void QueueTick()
    {
        if (Interlocked.Exchange(ref _tickQueued, 1) == 0 && !Post(() =>
            {
                Volatile.Write(ref _tickQueued, 0);
                _core!.Tick(Now);
            }))
        {
            Volatile.Write(ref _tickQueued, 0);
        }
    }

    private bool Post(Action work) => _inbox.Writer.TryWrite(work);

    private async Task RunLoopAsync(CancellationToken cancellationToken)
    {
        await foreach (var work in _inbox.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                work();
            }
            catch (Exception ex)
            {
                RuntimeLog.LoopError(_logger, ex);
            }

            while (_core!.HasReady)
            {
                foreach (var command in _core.TakeReady())
                {
                    // One failing command (a send on a broken link, say) must not cost the rest of the batch.
                    try
                    {
                        await ExecuteAsync(command, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        RuntimeLog.LoopError(_logger, ex);
                    }
                }
            }

            _status = _core.GetStatus();
        }
    }

    private async ValueTask ExecuteAsync(CoreCommand command, CancellationToken cancellationToken)
    {
        switch (command)
        {
            case SendHeartbeat send:
                await SendAsync(send.Message, cancellationToken).ConfigureAwait(false);
                break;
            case PersistEpoch persist:
                Persist(persist);
                break;
            case AskArbiter ask:
                Track(AskArbiterAsync(ask, cancellationToken));
                break;
            case ReleaseArbiter release:
                var releasing = ReleaseArbiterAsync(release.Group, cancellationToken);
                Track(releasing);
                lock (_inFlightLock)
                {
                    _releases.RemoveAll(t => t.IsCompleted);
                    _releases.Add(releasing);
                }

                break;
            case FenceNode fence:
                Track(FenceAsync(fence, cancellationToken));
                break;
            case StartGroup start:
                _drivers[start.Group].Start(this, start.Epoch, cancellationToken);
                break;
            case StopGroup stop:
                _drivers[stop.Group].Stop(this, stop.Epoch);
                break;
            case MonitorGroup monitor:
                _drivers[monitor.Group].Monitor(this, monitor.Epoch, cancellationToken);
                break;
            case EmitEvent e:
                Publish(e.Event);
                break;
        }
    }

    private async ValueTask SendAsync(HeartbeatMessage message, CancellationToken cancellationToken)
    {
        var proto = HeartbeatMapper.ToProto(message);
        int payloadLength;
        try
        {
            payloadLength = PayloadCodec.Write(proto, _payloadBuffer);
        }
        catch (ArgumentException ex)
        {
            RuntimeLog.LoopError(_logger, new InvalidOperationException($"heartbeat does not fit HaKit:MaxPacketSize ({_options.MaxPacketSize} bytes); raise it or use fewer groups", ex));
            return;
        }

        for (var i = 0; i < _transports.Count; i++)
        {
            // One envelope per link: every link carries its own sequence number.
            var length = _codec!.Encode(_payloadBuffer.AsSpan(0, payloadLength), _sendBuffers[i]);
            await _transports[i].SendAsync(_sendBuffers[i].AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            _metrics.HeartbeatSent(_transports[i].LinkName);
        }
    }

    /// <summary>Witness mode: this node's voter granted its peer a higher epoch; keep it so that after a restart it never grants that epoch again.</summary>
    private void PersistGranted(string group, ulong epoch)
    {
        if (SaveEpoch(group, epoch) is { } error)
        {
            RuntimeLog.LoopError(_logger, new IOException($"could not persist epoch {epoch} of group {group} granted to the peer: {error}"));
        }
    }

    /// <summary>Witness mode: a vote message to the peer, one envelope per link (called from any thread).</summary>
    private async ValueTask SendOnLinksAsync(ClusterMessage message)
    {
        var codec = _codec;
        if (codec is null || Volatile.Read(ref _loopStopped) == 1)
        {
            return;
        }

        var payload = new byte[message.CalculateSize()];
        PayloadCodec.Write(message, payload);
        foreach (var link in _transports)
        {
            var packet = new byte[_options.MaxPacketSize];
            var length = codec.Encode(payload, packet);
            await link.SendAsync(packet.AsMemory(0, length), CancellationToken.None).ConfigureAwait(false);
        }
    }

    private void Persist(PersistEpoch persist) =>
        _core!.OnEpochPersisted(Now, persist.Group, persist.Epoch, SaveEpoch(persist.Group, persist.Epoch));

    /// <summary>Raises a group's durable epoch (fsynced by the state store); a lower or equal one changes nothing.</summary>
    /// <returns><see langword="null"/>, or why the state could not be written (the epoch in memory is then left as it was).</returns>
    private string? SaveEpoch(string group, ulong epoch)
    {
        var previous = _epochs.TryGetValue(group, out var p) ? p : 0;
        if (epoch <= previous)
        {
            return null;
        }

        _epochs[group] = epoch;
        try
        {
            _store.Save(new PersistedState(_incarnation, new Dictionary<string, ulong>(_epochs, StringComparer.Ordinal)));
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _epochs[group] = previous;
            return ex.Message;
        }
    }

    private async Task AskArbiterAsync(AskArbiter ask, CancellationToken cancellationToken)
    {
        ArbiterDecision decision;
        try
        {
            decision = await _arbiter.RequestAsync(ask.Request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // An arbiter that throws broke its contract; its answer is unknown, not a refusal: an owner serves on until its lease runs out.
            decision = ArbiterDecision.Unreachable($"arbiter {_arbiter.Name} failed: {ex.Message}");
        }

        _metrics.ArbiterAnswered(ask.Request, decision);
        Post(() => _core!.OnArbiterAnswer(Now, ask.RequestId, decision));
    }

    private async Task ReleaseArbiterAsync(string group, CancellationToken cancellationToken)
    {
        try
        {
            await _arbiter.ReleaseAsync(group, _options.NodeName, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            RuntimeLog.TakeoverDelayed(_logger, group, $"arbiter release failed: {ex.Message}");
        }
    }

    private async Task FenceAsync(FenceNode fence, CancellationToken cancellationToken)
    {
        var result = await _fencing.FenceAsync(fence.Node, cancellationToken).ConfigureAwait(false);
        Post(() => _core!.OnFenceCompleted(Now, fence.RequestId, result));
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
                    Post(() => _core!.OnArbiterFreed(Now, group));
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

    private void Track(Task task)
    {
        lock (_inFlightLock)
        {
            _inFlight.RemoveAll(t => t.IsCompleted);
            _inFlight.Add(task);
        }
    }

    private void Publish(ClusterEvent e)
    {
        _metrics.Record(e);
        LogEvent(e);
        if (e is ShutdownReady)
        {
            _shutdownReady.TrySetResult();
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
            }
            catch (Exception ex)
            {
                RuntimeLog.SubscriberError(_logger, ex);
            }
        }
    }

    private void LogEvent(ClusterEvent e)
    {
        switch (e)
        {
            case PeerHealthChanged { To: PeerHealth.Dead or PeerHealth.Suspect, Observation.Leaving: true } p:
                if (p.To == PeerHealth.Dead)
                {
                    RuntimeLog.PeerLeft(_logger, p.Peer, p.Observation.ToString());
                }

                break;
            case PeerHealthChanged { To: PeerHealth.Dead } p when p.Silence is { } silence:
                RuntimeLog.PeerDead(_logger, p.Peer, silence.TotalSeconds, p.Observation.Links.Count == 1 ? "1 link" : $"{p.Observation.Links.Count} links", p.Observation.ToString());
                break;
            case PeerHealthChanged { To: PeerHealth.Dead } p:
                RuntimeLog.PeerNeverHeard(_logger, p.Peer, p.Observation.ToString());
                break;
            case PeerHealthChanged { To: PeerHealth.Suspect } p:
                RuntimeLog.PeerSuspect(_logger, p.Peer, p.Silence?.TotalSeconds ?? 0, p.Observation.ToString());
                break;
            case PeerHealthChanged p:
                RuntimeLog.PeerAlive(_logger, p.Peer, p.Observation.ToString());
                break;
            case LinkHealthChanged { To: PeerHealth.Dead } l:
                RuntimeLog.LinkDown(_logger, l.Link, l.Peer, l.Detail);
                break;
            case LinkHealthChanged l:
                RuntimeLog.LinkChanged(_logger, l.Link, l.Peer, l.To == PeerHealth.Alive ? "up" : "late", l.Detail);
                break;
            case RoleChanged { To: GroupRole.Acquiring } r:
                RuntimeLog.Acquiring(_logger, r.Group, r.Epoch, r.Why.ToString());
                break;
            case RoleChanged { To: GroupRole.Active, TakeoverDuration: { } d } r:
                RuntimeLog.TakeoverComplete(_logger, r.Group, d.TotalMilliseconds, r.Epoch, r.Takeover?.ToString().ToLowerInvariant() ?? "takeover");
                break;
            case RoleChanged { To: GroupRole.Blocked } r:
                RuntimeLog.Blocked(_logger, r.Group, r.Why.Reason);
                break;
            case RoleChanged r:
                RuntimeLog.RoleChanged(_logger, r.Group, r.From.ToString(), r.To.ToString(), r.Epoch, r.Why.Reason);
                break;
            case SplitBrainDetected s:
                RuntimeLog.SplitBrain(_logger, s.Group, s.LocalNode, s.LocalEpoch, s.PeerNode, s.PeerEpoch, s.Winner);
                break;
            case TakeoverDelayed t:
                RuntimeLog.TakeoverDelayed(_logger, t.Group, t.Reason);
                break;
            case FenceCompleted f:
                RuntimeLog.Fence(_logger, f.Node, f.Result.Succeeded ? "fenced" : "FAILED", f.Result.Explanation);
                break;
            case GroupFailed g:
                RuntimeLog.GroupFailed(_logger, g.Group, g.Kind.ToString(), g.Resource, g.Message);
                break;
            case GroupHealthReported h:
                RuntimeLog.GroupHealth(_logger, h.Group, h.Outcome.ToString().ToLowerInvariant(), h.Resource, h.Message, h.Restarts);
                break;
            case LocalPauseDetected p:
                RuntimeLog.LocalPause(_logger, p.Duration.TotalMilliseconds);
                break;
            case PeerRestarted p:
                RuntimeLog.PeerRestarted(_logger, p.Peer, p.PreviousIncarnation, p.Incarnation);
                break;
            case PersistFailed p:
                RuntimeLog.PersistFailed(_logger, p.Group, p.Epoch, p.Error);
                break;
            case ResourceActionCompleted a:
                RuntimeLog.ResourceAction(_logger, a.Record.Group, a.Record.Action.ToString().ToLowerInvariant(), a.Record.Resource,
                    a.Record.TimedOut ? "timed out" : a.Record.FailureKind == ResourceFailureKind.None ? (a.Record.Status?.ToString() ?? "ok") : $"{a.Record.FailureKind}: {a.Record.Message}",
                    a.Record.Duration.TotalMilliseconds);
                break;
            case GroupHandedOver h:
                RuntimeLog.HandedOver(_logger, h.Group, h.To);
                break;
            case ShutdownReady:
                RuntimeLog.ShutdownReady(_logger, _options.NodeName);
                break;
        }
    }

    /// <summary>Runs one group's actions and owns its ownership token.</summary>
    private sealed class GroupDriver(ResourceGroupRunner runner) : IDisposable
    {
        private static readonly CancellationToken Cancelled = new(canceled: true);
        private CancellationTokenSource? _ownership;
        private CancellationTokenSource? _action;

        public int ResourceCount => runner.Resources.Count;

        public CancellationToken OwnershipToken => _ownership is { IsCancellationRequested: false } o ? o.Token : Cancelled;

        public void Start(ClusterNode node, ulong epoch, CancellationToken shutdown)
        {
            RevokeOwnership();
            _ownership?.Dispose();
            _action?.Dispose();
            _ownership = new CancellationTokenSource();
            _action = CancellationTokenSource.CreateLinkedTokenSource(shutdown);
            var ownership = _ownership.Token;
            var action = _action.Token;
            node.Track(Run());

            async Task Run()
            {
                GroupActionOutcome outcome;
                try
                {
                    outcome = await runner.StartAsync(epoch, ownership, action).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    outcome = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, null, $"start aborted: {ex.Message}", 0);
                }

                if (outcome.Outcome is GroupOutcome.Blocked or GroupOutcome.Failed)
                {
                    RevokeOwnership();
                }

                node.Post(() => node._core!.OnGroupStarted(node.Now, runner.GroupName, epoch, outcome));
            }
        }

        public void Stop(ClusterNode node, ulong epoch)
        {
            // The instant the node stops owning the group: leader-only work sees the token cancelled.
            RevokeOwnership();
            _action?.Cancel();
            node.Track(Run());

            async Task Run()
            {
                GroupActionOutcome outcome;
                try
                {
                    // A stop is never cancelled: it is bounded by the group's stop timeout.
                    outcome = await runner.StopAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    outcome = new GroupActionOutcome(GroupOutcome.Blocked, ResourceFailureKind.Transient, null, $"stop aborted: {ex.Message}", 0);
                }

                node.Post(() => node._core!.OnGroupStopped(node.Now, runner.GroupName, epoch, outcome));
            }
        }

        public void Monitor(ClusterNode node, ulong epoch, CancellationToken shutdown)
        {
            var action = _action?.Token ?? shutdown;
            node.Track(Run());

            async Task Run()
            {
                GroupActionOutcome outcome;
                try
                {
                    outcome = await runner.MonitorAsync(action).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (action.IsCancellationRequested)
                {
                    return; // the group is stopping or the node is shutting down: nothing to report
                }
                catch (Exception ex)
                {
                    outcome = new GroupActionOutcome(GroupOutcome.Failed, ResourceFailureKind.Transient, null, $"monitor aborted: {ex.Message}", 0);
                }

                if (outcome.Outcome is GroupOutcome.Blocked)
                {
                    RevokeOwnership();
                }

                node.Post(() => node._core!.OnGroupMonitored(node.Now, runner.GroupName, epoch, outcome));
            }
        }

        public void Dispose()
        {
            _ownership?.Dispose();
            _action?.Dispose();
        }

        private void RevokeOwnership()
        {
            try
            {
                _ownership?.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
