namespace HaKit;

/// <summary>Which failure detector decides that a peer is dead.</summary>
public enum DetectorKind
{
    /// <summary>Fixed timeouts: Suspect after <see cref="TimingOptions.WarnTime"/>, Dead after <see cref="TimingOptions.DeadTime"/>.</summary>
    Fixed = 0,

    /// <summary>Adaptive phi-accrual detector (Hayashibara et al.), as used by Akka and Cassandra.</summary>
    PhiAccrual = 1,
}

/// <summary>Failure detector settings.</summary>
public sealed class DetectorOptions
{
    /// <summary>Highest allowed <see cref="PhiThreshold"/> (phi 100 is a probability of about 1e-100 of being wrong).</summary>
    public const double PhiThresholdMax = 100;

    /// <summary>Fewest allowed <see cref="MaxSamples"/> (a deviation needs two samples).</summary>
    public const int MaxSamplesMin = 2;

    /// <summary>Most allowed <see cref="MaxSamples"/>.</summary>
    public const int MaxSamplesMax = 10000;

    /// <summary>Detector kind. <value>Default <see cref="DetectorKind.Fixed"/>.</value></summary>
    public DetectorKind Kind { get; set; } = DetectorKind.Fixed;

    /// <summary>Phi at or above which a peer is Dead. <value>Default 8. Range (0, <see cref="PhiThresholdMax"/>].</value></summary>
    public double PhiThreshold { get; set; } = 8;

    /// <summary>Phi at or above which a peer is Suspect. <value>Default 3. Must be below <see cref="PhiThreshold"/>.</value></summary>
    public double PhiSuspectThreshold { get; set; } = 3;

    /// <summary>Lower bound of the inter-arrival standard deviation, so a perfectly regular history does not make phi explode. <value>Default 50 ms.</value></summary>
    public TimeSpan MinStdDeviation { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Extra pause tolerated on top of the mean inter-arrival time. <value>Default 0.</value></summary>
    public TimeSpan AcceptablePause { get; set; } = TimeSpan.Zero;

    /// <summary>Inter-arrival samples kept. <value>Default 200. Range <see cref="MaxSamplesMin"/>..<see cref="MaxSamplesMax"/>.</value></summary>
    public int MaxSamples { get; set; } = 200;

    /// <summary>Checks this section's values (only the phi-accrual detector has any to check).</summary>
    internal void Validate(OptionsPath path)
    {
        if (Kind != DetectorKind.PhiAccrual)
        {
            return;
        }

        if (PhiThreshold is <= 0 or > PhiThresholdMax || double.IsNaN(PhiThreshold))
        {
            path.Error(nameof(PhiThreshold), PhiThreshold, $"allowed range is (0, {PhiThresholdMax}]; 8 is a common choice");
        }

        if (PhiSuspectThreshold <= 0 || PhiSuspectThreshold >= PhiThreshold || double.IsNaN(PhiSuspectThreshold))
        {
            path.Error(nameof(PhiSuspectThreshold), PhiSuspectThreshold, $"must be positive and below Detector:PhiThreshold ({PhiThreshold})");
        }

        if (MinStdDeviation <= TimeSpan.Zero)
        {
            path.Error(nameof(MinStdDeviation), MinStdDeviation, "must be positive, e.g. 00:00:00.050");
        }

        path.NotNegative(nameof(AcceptablePause), AcceptablePause);
        path.InRange(nameof(MaxSamples), MaxSamples, MaxSamplesMin, MaxSamplesMax);
    }
}
