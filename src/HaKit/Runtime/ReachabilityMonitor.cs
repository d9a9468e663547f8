using HaKit.Arbitration;
using HaKit.Ownership;
using Microsoft.Extensions.Logging;

namespace HaKit.Runtime;

/// <summary>
/// ipfail's probing, off the decision loop: every <see cref="IpfailOptions.Interval"/> on the node's clock, probes every ping target
/// at once (each bounded by <see cref="ArbiterOptions.PingTimeout"/>) and hands the round to the core. Logs once per change of
/// the reachable set, never per probe.
/// </summary>
internal sealed class ReachabilityMonitor
{
    private readonly IReachabilityProbe[] _probes;
    private readonly string[] _targets;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<ReachabilityRound> _onRound;
    private bool[]? _last;

    /// <summary>Creates the monitor.</summary>
    /// <param name="probes">The targets' probes, in configuration order.</param>
    /// <param name="interval">Time between rounds.</param>
    /// <param name="time">The node's clock.</param>
    /// <param name="logger">The node's logger.</param>
    /// <param name="onRound">Receives each round (posts it to the loop); must return quickly.</param>
    public ReachabilityMonitor(IReadOnlyList<IReachabilityProbe> probes, TimeSpan interval, TimeProvider time, ILogger logger, Action<ReachabilityRound> onRound)
    {
        _probes = [.. probes];
        _targets = _probes.Select(p => p.Target).ToArray();
        _interval = interval;
        _time = time;
        _logger = logger;
        _onRound = onRound;
    }

    /// <summary>Creates the monitor for the node's options, or null when ipfail is off.</summary>
    /// <param name="options">The node's options.</param>
    /// <param name="time">The node's clock.</param>
    /// <param name="logger">The node's logger.</param>
    /// <param name="onRound">Receives each round.</param>
    public static ReachabilityMonitor? Create(HaKitOptions options, TimeProvider time, ILogger logger, Action<ReachabilityRound> onRound)
    {
        var a = options.Arbiter;
        if (!a.Ipfail.Enabled || a.PingTargets.Count == 0)
        {
            return null;
        }

        return new ReachabilityMonitor(a.PingTargets.Select(t => ReachabilityTarget.Create(t, a.PingTimeout, time)).ToArray(), a.Ipfail.Interval, time, logger, onRound);
    }

    /// <summary>Runs probe rounds until cancelled (the first at once).</summary>
    /// <param name="rounds">The hysteresis window (for the start-up line).</param>
    /// <param name="cancellationToken">Ends the monitor.</param>
    /// <returns>Completes when cancelled.</returns>
    public async Task RunAsync(int rounds, CancellationToken cancellationToken)
    {
        await Task.Yield();
        RuntimeLog.IpfailStarted(_logger, _probes.Length, _interval.TotalMilliseconds, rounds, string.Join(", ", _targets));
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            do
            {
                await RoundAsync(cancellationToken).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Probes every target once and reports the round (for tests: one round without the timer).</summary>
    /// <param name="cancellationToken">Cancels the probes.</param>
    /// <returns>The round.</returns>
    public async Task<ReachabilityRound> RoundAsync(CancellationToken cancellationToken)
    {
        var probes = new Task<bool>[_probes.Length];
        for (var i = 0; i < probes.Length; i++)
        {
            probes[i] = ProbeAsync(_probes[i], cancellationToken);
        }

        var reached = await Task.WhenAll(probes).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var round = new ReachabilityRound(_targets, reached);
        if (_last is null ? round.Score < reached.Length : !_last.AsSpan().SequenceEqual(reached))
        {
            var previous = _last?.Count(r => r) ?? reached.Length;
            var lost = string.Join(", ", round.Lost);
            RuntimeLog.ReachabilityChanged(_logger, round.Score, reached.Length, previous, lost.Length == 0 ? "none" : lost);
        }

        _last = reached;
        _onRound(round);
        return round;
    }

    private static async Task<bool> ProbeAsync(IReachabilityProbe probe, CancellationToken cancellationToken)
    {
        try
        {
            return await probe.ProbeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception)
        {
            return false; // a probe must not throw; one that does counts as "does not answer"
        }
    }
}
