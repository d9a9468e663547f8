using System.Diagnostics.Metrics;

namespace HaKit.Witness;

/// <summary>
/// The witness's instruments on the <c>HaKit</c> meter: <c>hakit.witness.votes</c> (tags <c>cluster</c>, <c>outcome</c> =
/// <c>granted</c>, <c>renewed</c>, <c>refused</c>), <c>hakit.witness.releases</c> (tag <c>cluster</c>) and
/// <c>hakit.witness.packets.dropped</c> (tags <c>cluster</c>, empty for datagrams of no served cluster, and <c>reason</c>) and
/// <c>hakit.witness.marks</c> (outdated marks stored; tags <c>cluster</c>, <c>change</c> = <c>set</c>, <c>cleared</c>).
/// </summary>
internal sealed class WitnessMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _votes;
    private readonly Counter<long> _releases;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _marks;

    public WitnessMetrics(IMeterFactory? meterFactory)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(HaKitTelemetry.MeterName) ?? new Meter(HaKitTelemetry.MeterName);
        _votes = _meter.CreateCounter<long>("hakit.witness.votes", "{vote}", "Lease requests answered by the witness, per cluster and outcome (granted, renewed, refused)");
        _releases = _meter.CreateCounter<long>("hakit.witness.releases", "{release}", "Leases given back to the witness before they expired, per cluster");
        _marks = _meter.CreateCounter<long>("hakit.witness.marks", "{mark}", "Outdated marks stored by the witness, per cluster and change (set, cleared)");
        _dropped = _meter.CreateCounter<long>("hakit.witness.packets.dropped", "{packet}", "Datagrams the witness dropped, per cluster (empty: no served cluster) and reason");
    }

    public void Vote(string cluster, string outcome) =>
        _votes.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("outcome", outcome));

    public void Release(string cluster) => _releases.Add(1, new KeyValuePair<string, object?>("cluster", cluster));

    public void Dropped(string cluster, string reason) =>
        _dropped.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("reason", reason));

    public void Mark(string cluster, string change) =>
        _marks.Add(1, new KeyValuePair<string, object?>("cluster", cluster), new KeyValuePair<string, object?>("change", change));

    public void Dispose()
    {
        if (_ownsMeter)
        {
            _meter.Dispose();
        }
    }
}
