namespace HaKit.Detection;

/// <summary>
/// Creates the failure detector configured by <see cref="DetectorOptions.Kind"/>: a <see cref="FixedTimeoutDetector"/>
/// (<see cref="TimingOptions.WarnTime"/>, <see cref="TimingOptions.DeadTime"/>) or a <see cref="PhiAccrualDetector"/>
/// (bootstrapped with <see cref="TimingOptions.Interval"/>), both with <see cref="TimingOptions.InitialDeadTime"/>.
/// </summary>
/// <remarks>
/// The settings are copied and checked when the factory is built, so later changes to the option objects do not
/// affect it and <see cref="Create"/> never fails on a bad setting.
/// </remarks>
internal sealed class FailureDetectorFactory : IFailureDetectorFactory
{
    private readonly DetectorKind _kind;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _warnTime;
    private readonly TimeSpan _deadTime;
    private readonly TimeSpan _initialDeadTime;
    private readonly double _phiThreshold;
    private readonly double _phiSuspectThreshold;
    private readonly TimeSpan _minStdDeviation;
    private readonly TimeSpan _acceptablePause;
    private readonly int _maxSamples;

    /// <summary>Creates a factory from timing and detector settings.</summary>
    /// <param name="timing">Heartbeat timing.</param>
    /// <param name="detector">Detector kind and phi-accrual parameters.</param>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The settings cannot build a detector (the message names the setting).</exception>
    public FailureDetectorFactory(TimingOptions timing, DetectorOptions detector)
    {
        ArgumentNullException.ThrowIfNull(timing);
        ArgumentNullException.ThrowIfNull(detector);
        _kind = detector.Kind;
        _interval = timing.Interval;
        _warnTime = timing.WarnTime;
        _deadTime = timing.DeadTime;
        _initialDeadTime = timing.InitialDeadTime;
        _phiThreshold = detector.PhiThreshold;
        _phiSuspectThreshold = detector.PhiSuspectThreshold;
        _minStdDeviation = detector.MinStdDeviation;
        _acceptablePause = detector.AcceptablePause;
        _maxSamples = detector.MaxSamples;

        try
        {
            _ = Create(TimeSpan.Zero); // validates every parameter once, with the detector's own checks
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new ArgumentException($"Invalid {_kind} failure detector settings: {e.Message}", e);
        }
    }

    /// <summary>The detector kind this factory creates.</summary>
    public DetectorKind Kind => _kind;

    /// <summary>Creates a factory from the <see cref="HaKitOptions.Timing"/> and <see cref="HaKitOptions.Detector"/> sections.</summary>
    /// <param name="options">The node options.</param>
    /// <returns>The factory.</returns>
    /// <exception cref="ArgumentException">The settings cannot build a detector.</exception>
    public static IFailureDetectorFactory FromOptions(HaKitOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new FailureDetectorFactory(options.Timing, options.Detector);
    }

    /// <inheritdoc />
    public IFailureDetector Create(TimeSpan now) => _kind switch
    {
        DetectorKind.Fixed => new FixedTimeoutDetector(_warnTime, _deadTime, _initialDeadTime, now),
        DetectorKind.PhiAccrual => new PhiAccrualDetector(
            _phiThreshold, _phiSuspectThreshold, _minStdDeviation, _acceptablePause, _maxSamples, _interval, _initialDeadTime, now),
        _ => throw new ArgumentOutOfRangeException(nameof(DetectorOptions.Kind), _kind, "Unknown failure detector kind."),
    };
}
