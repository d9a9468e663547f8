using System.Globalization;

namespace HaKit.Detection;

/// <summary>
/// The phi-accrual failure detector (Hayashibara et al.), as implemented by Akka: instead of a fixed timeout it
/// turns the silence since the last heartbeat into a suspicion level <c>phi = -log10(P(a heartbeat arrives later than now))</c>,
/// estimated from a sliding window of observed inter-arrival times, so that it adapts to the jitter of the link.
/// </summary>
/// <remarks>
/// <para>The inter-arrival history is a fixed-size ring buffer with a running sum and sum of squares: recording a
/// heartbeat and evaluating phi are O(1) and allocate nothing. The sums are recomputed exactly each time the ring
/// wraps, so floating-point drift stays bounded on long runs.</para>
/// <para>Like Akka, the history is bootstrapped at the first heartbeat with two samples around
/// <c>firstHeartbeatEstimate</c> (mean = estimate, standard deviation = estimate / 4), and an interval that ends a
/// period in which the peer was Dead is not recorded, so one outage does not teach the detector to tolerate the next.</para>
/// <para>Before the first heartbeat the initial dead time rule of <see cref="FixedTimeoutDetector"/> applies:
/// Alive until <c>initialDeadTime</c> has passed since creation, then Dead.</para>
/// <para>Pure and single-threaded (see <see cref="IFailureDetector"/>). Heartbeats stamped earlier than the latest one
/// recorded are ignored.</para>
/// </remarks>
internal sealed class PhiAccrualDetector : IFailureDetector
{
    private static readonly double Ln10 = Math.Log(10);

    private readonly double _threshold;
    private readonly double _suspectThreshold;
    private readonly double _minStdDeviationMs;
    private readonly double _acceptablePauseMs;
    private readonly double _firstHeartbeatEstimateMs;
    private readonly TimeSpan _initialDeadTime;

    private readonly double[] _intervals;
    private int _count;
    private int _next;
    private double _sum;
    private double _sumOfSquares;

    // Silence is measured from here: the last arrival (or the creation time while none arrived),
    // pushed forward by every local pause reported since.
    private TimeSpan _reference;
    private TimeSpan _lastArrival;
    private bool _heard;

    /// <summary>Creates a detector.</summary>
    /// <param name="threshold">Phi at or above which the peer is Dead. Positive.</param>
    /// <param name="suspectThreshold">Phi at or above which the peer is Suspect. Positive, at most <paramref name="threshold"/>.</param>
    /// <param name="minStdDeviation">Lower bound of the standard deviation of inter-arrival times. Positive.</param>
    /// <param name="acceptablePause">Extra silence tolerated on top of the mean inter-arrival time. Not negative.</param>
    /// <param name="maxSamples">Inter-arrival samples kept in the sliding window. At least 2.</param>
    /// <param name="firstHeartbeatEstimate">Expected inter-arrival time used to bootstrap the history (the heartbeat interval). Positive.</param>
    /// <param name="initialDeadTime">Time after <paramref name="createdAt"/> after which a never-heard peer is Dead (<c>initdead</c>). Not negative.</param>
    /// <param name="createdAt">Monotonic time at which the detector was created (start of the initial dead time).</param>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is out of range.</exception>
    public PhiAccrualDetector(
        double threshold,
        double suspectThreshold,
        TimeSpan minStdDeviation,
        TimeSpan acceptablePause,
        int maxSamples,
        TimeSpan firstHeartbeatEstimate,
        TimeSpan initialDeadTime,
        TimeSpan createdAt)
    {
        if (!(threshold > 0) || double.IsInfinity(threshold))
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The phi threshold must be a positive finite number.");
        }

        if (!(suspectThreshold > 0) || suspectThreshold > threshold)
        {
            throw new ArgumentOutOfRangeException(nameof(suspectThreshold), suspectThreshold, "The suspect threshold must be positive and at most the phi threshold.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(minStdDeviation, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(acceptablePause, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSamples, 2);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(firstHeartbeatEstimate, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(initialDeadTime, TimeSpan.Zero);

        _threshold = threshold;
        _suspectThreshold = suspectThreshold;
        _minStdDeviationMs = minStdDeviation.TotalMilliseconds;
        _acceptablePauseMs = acceptablePause.TotalMilliseconds;
        _firstHeartbeatEstimateMs = firstHeartbeatEstimate.TotalMilliseconds;
        _initialDeadTime = initialDeadTime;
        _intervals = new double[maxSamples];
        _reference = createdAt;
    }

    /// <summary>Phi at or above which the peer is Dead.</summary>
    public double Threshold => _threshold;

    /// <summary>Phi at or above which the peer is Suspect.</summary>
    public double SuspectThreshold => _suspectThreshold;

    /// <summary>Number of inter-arrival samples in the window (bootstrap samples included; 0 before the first heartbeat).</summary>
    public int SampleCount => _count;

    /// <summary>Mean of the inter-arrival samples (without the acceptable pause), or <see cref="TimeSpan.Zero"/> before the first heartbeat.</summary>
    public TimeSpan MeanInterval => _count == 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(_sum / _count);

    /// <summary>Standard deviation of the inter-arrival samples (before the minimum is applied), or <see cref="TimeSpan.Zero"/> before the first heartbeat.</summary>
    public TimeSpan StdDeviation => _count == 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(RawStdDeviationMs());

    /// <inheritdoc />
    public TimeSpan? LastHeartbeat => _heard ? _lastArrival : null;

    /// <inheritdoc />
    public void RecordHeartbeat(TimeSpan now)
    {
        if (!_heard)
        {
            var estimate = _firstHeartbeatEstimateMs;
            var std = estimate / 4;
            AddSample(estimate - std);
            AddSample(estimate + std);
            _heard = true;
            _lastArrival = now;
            if (now > _reference)
            {
                _reference = now;
            }

            return;
        }

        if (now < _lastArrival)
        {
            return; // out of order: an older arrival carries no new information
        }

        var intervalMs = (now - _reference).TotalMilliseconds;
        if (intervalMs > 0 && PhiAt(intervalMs) < _threshold)
        {
            AddSample(intervalMs);
        }

        _lastArrival = now;
        if (now > _reference)
        {
            _reference = now;
        }
    }

    /// <inheritdoc />
    public PeerHealth Evaluate(TimeSpan now)
    {
        if (!_heard)
        {
            return now - _reference >= _initialDeadTime ? PeerHealth.Dead : PeerHealth.Alive;
        }

        var phi = Phi(now);
        if (phi >= _threshold)
        {
            return PeerHealth.Dead;
        }

        return phi >= _suspectThreshold ? PeerHealth.Suspect : PeerHealth.Alive;
    }

    /// <summary>The suspicion level at <paramref name="now"/>: 0 before the first heartbeat, then growing with the silence (finite, strictly increasing past the mean).</summary>
    /// <param name="now">Monotonic time since the node started.</param>
    public double Phi(TimeSpan now)
    {
        if (!_heard)
        {
            return 0;
        }

        var silenceMs = (now - _reference).TotalMilliseconds;
        return PhiAt(silenceMs < 0 ? 0 : silenceMs);
    }

    /// <inheritdoc />
    /// <remarks>Phi does not decrease with the silence, so the crossing of the next threshold is found by doubling, then bisecting
    /// to a tenth of a millisecond, rounded up (at the returned time the new health is already due).</remarks>
    public TimeSpan? NextChangeAt(TimeSpan now)
    {
        if (!_heard)
        {
            return now - _reference >= _initialDeadTime ? null : _reference + _initialDeadTime;
        }

        var silenceMs = Math.Max((now - _reference).TotalMilliseconds, 0);
        var phi = PhiAt(silenceMs);
        if (phi >= _threshold)
        {
            return null;
        }

        var target = phi >= _suspectThreshold ? _threshold : Math.Min(_suspectThreshold, _threshold);
        var lo = silenceMs;
        var hi = Math.Max(silenceMs * 2, 1);
        for (var i = 0; PhiAt(hi) < target; i++)
        {
            if (i == 64)
            {
                return null; // never crosses (a degenerate configuration)
            }

            lo = hi;
            hi *= 2;
        }

        while (hi - lo > 0.1)
        {
            var mid = (lo + hi) / 2;
            if (PhiAt(mid) >= target)
            {
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }

        return _reference + TimeSpan.FromTicks((long)Math.Ceiling(hi * TimeSpan.TicksPerMillisecond));
    }

    /// <inheritdoc />
    public void CompensateLocalPause(TimeSpan duration)
    {
        if (duration > TimeSpan.Zero)
        {
            _reference += duration;
        }
    }

    /// <inheritdoc />
    public string Describe(TimeSpan now)
    {
        var silence = now - _reference;
        if (silence < TimeSpan.Zero)
        {
            silence = TimeSpan.Zero;
        }

        return _heard
            ? string.Create(CultureInfo.InvariantCulture, $"phi {Phi(now):F2} (silent {silence.TotalSeconds:F2} s)")
            : string.Create(CultureInfo.InvariantCulture, $"never heard ({silence.TotalSeconds:F2} s of initdead {_initialDeadTime.TotalSeconds:F2} s)");
    }

    private double PhiAt(double silenceMs)
    {
        var mean = _sum / _count + _acceptablePauseMs;
        var std = Math.Max(RawStdDeviationMs(), _minStdDeviationMs);

        // Akka's logistic approximation of the normal CDF: with a = y(1.5976 + 0.070566 y²) and e = exp(-a),
        // P(later) = e / (1 + e) above the mean and 1 - 1 / (1 + e) below it; both equal 1 / (1 + exp(a)), so
        // phi = -log10(P) = log10(1 + exp(a)). Computed as a softplus, it stays finite and strictly increasing
        // for long silences where Akka's form underflows to +infinity.
        var y = (silenceMs - mean) / std;
        var a = y * (1.5976 + 0.070566 * y * y);
        var softplus = a > 0 ? a + double.LogP1(Math.Exp(-a)) : double.LogP1(Math.Exp(a));
        return softplus / Ln10;
    }

    private double RawStdDeviationMs()
    {
        var mean = _sum / _count;
        var variance = _sumOfSquares / _count - mean * mean;
        return variance > 0 ? Math.Sqrt(variance) : 0;
    }

    private void AddSample(double intervalMs)
    {
        if (_count == _intervals.Length)
        {
            var old = _intervals[_next];
            _sum -= old;
            _sumOfSquares -= old * old;
        }
        else
        {
            _count++;
        }

        _intervals[_next] = intervalMs;
        _sum += intervalMs;
        _sumOfSquares += intervalMs * intervalMs;
        _next++;
        if (_next == _intervals.Length)
        {
            _next = 0;
            RecomputeSums();
        }
    }

    private void RecomputeSums()
    {
        double sum = 0, sumOfSquares = 0;
        for (var i = 0; i < _count; i++)
        {
            var x = _intervals[i];
            sum += x;
            sumOfSquares += x * x;
        }

        _sum = sum;
        _sumOfSquares = sumOfSquares;
    }
}
