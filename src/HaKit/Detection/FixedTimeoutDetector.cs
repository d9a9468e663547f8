using System.Globalization;

namespace HaKit.Detection;

/// <summary>
/// Heartbeat's classic detector: a peer is <see cref="PeerHealth.Suspect"/> after <c>warntime</c> of silence and
/// <see cref="PeerHealth.Dead"/> after <c>deadtime</c>. Before the first heartbeat the peer is
/// <see cref="PeerHealth.Alive"/> (nothing is known yet) until <c>initdead</c> has passed, then
/// <see cref="PeerHealth.Dead"/>.
/// </summary>
/// <remarks>
/// Pure and single-threaded (see <see cref="IFailureDetector"/>): time is passed in, never read, and no method
/// allocates except <see cref="Describe"/>. Heartbeats stamped earlier than the latest one recorded are ignored.
/// </remarks>
internal sealed class FixedTimeoutDetector : IFailureDetector
{
    private readonly TimeSpan _warnTime;
    private readonly TimeSpan _deadTime;
    private readonly TimeSpan _initialDeadTime;

    // Silence is measured from here: the last arrival (or the creation time while none arrived),
    // pushed forward by every local pause reported since.
    private TimeSpan _reference;
    private TimeSpan _lastArrival;
    private bool _heard;

    /// <summary>Creates a detector.</summary>
    /// <param name="warnTime">Silence after which the peer is Suspect (<c>warntime</c>). Positive, at most <paramref name="deadTime"/>.</param>
    /// <param name="deadTime">Silence after which the peer is Dead (<c>deadtime</c>). Positive.</param>
    /// <param name="initialDeadTime">Time after <paramref name="createdAt"/> after which a never-heard peer is Dead (<c>initdead</c>). Not negative.</param>
    /// <param name="createdAt">Monotonic time at which the detector was created (start of the initial dead time).</param>
    /// <exception cref="ArgumentOutOfRangeException">A duration is out of range.</exception>
    public FixedTimeoutDetector(TimeSpan warnTime, TimeSpan deadTime, TimeSpan initialDeadTime, TimeSpan createdAt)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(deadTime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(warnTime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(warnTime, deadTime);
        ArgumentOutOfRangeException.ThrowIfLessThan(initialDeadTime, TimeSpan.Zero);
        _warnTime = warnTime;
        _deadTime = deadTime;
        _initialDeadTime = initialDeadTime;
        _reference = createdAt;
    }

    /// <summary>The warn time (<c>warntime</c>).</summary>
    public TimeSpan WarnTime => _warnTime;

    /// <summary>The dead time (<c>deadtime</c>).</summary>
    public TimeSpan DeadTime => _deadTime;

    /// <summary>The initial dead time (<c>initdead</c>).</summary>
    public TimeSpan InitialDeadTime => _initialDeadTime;

    /// <inheritdoc />
    public TimeSpan? LastHeartbeat => _heard ? _lastArrival : null;

    /// <inheritdoc />
    public void RecordHeartbeat(TimeSpan now)
    {
        if (_heard && now < _lastArrival)
        {
            return; // out of order: an older arrival carries no new information
        }

        _heard = true;
        _lastArrival = now;
        if (now > _reference)
        {
            _reference = now;
        }
    }

    /// <inheritdoc />
    public PeerHealth Evaluate(TimeSpan now)
    {
        var silence = now - _reference;
        if (!_heard)
        {
            return silence >= _initialDeadTime ? PeerHealth.Dead : PeerHealth.Alive;
        }

        if (silence >= _deadTime)
        {
            return PeerHealth.Dead;
        }

        return silence >= _warnTime ? PeerHealth.Suspect : PeerHealth.Alive;
    }

    /// <inheritdoc />
    public TimeSpan? NextChangeAt(TimeSpan now)
    {
        var silence = now - _reference;
        if (!_heard)
        {
            return silence >= _initialDeadTime ? null : _reference + _initialDeadTime;
        }

        if (silence >= _deadTime)
        {
            return null;
        }

        // Alive changes at the warn time (or the dead time, whichever comes first); Suspect at the dead time.
        return silence >= _warnTime || _deadTime <= _warnTime ? _reference + _deadTime : _reference + _warnTime;
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
            ? string.Create(CultureInfo.InvariantCulture, $"silent {silence.TotalSeconds:F2} s")
            : string.Create(CultureInfo.InvariantCulture, $"never heard ({silence.TotalSeconds:F2} s of initdead {_initialDeadTime.TotalSeconds:F2} s)");
    }
}
