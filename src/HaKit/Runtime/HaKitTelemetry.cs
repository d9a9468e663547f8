namespace HaKit;

/// <summary>Names under which HaKit publishes telemetry, for exporters and dashboards.</summary>
public static class HaKitTelemetry
{
    /// <summary>The name of the <see cref="System.Diagnostics.Metrics.Meter"/> every HaKit package records on: <c>HaKit</c>.</summary>
    public const string MeterName = "HaKit";
}
