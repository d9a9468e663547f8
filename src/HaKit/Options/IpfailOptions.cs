using System.Globalization;

namespace HaKit;

/// <summary>
/// ipfail (Heartbeat's <c>ipfail</c>, Pacemaker's <c>ping</c> resource with a location rule on its score, keepalived's
/// <c>track_script</c>): every node probes <see cref="ArbiterOptions.PingTargets"/> in rounds and publishes how many it reaches;
/// a group moves to a peer that steadily reaches more targets than its owner, by the usual graceful handoff.
/// </summary>
/// <remarks>
/// Hysteresis: the owner moves a group only when, in each of its last <see cref="Rounds"/> rounds, it reached fewer targets
/// than the peer reached in the worst of the peer's last <see cref="Rounds"/> rounds. One lost ping moves nothing; equal loss on
/// both nodes moves nothing; a node that reaches nothing keeps its groups when no peer does better (ipfail never fences or stops
/// a group without a better node to hand it to). Works in every arbiter mode.
/// </remarks>
public sealed class IpfailOptions
{
    /// <summary>Most rounds in the hysteresis window.</summary>
    public const int RoundsMax = 100;

    /// <summary>Whether reachability moves groups. Needs <see cref="ArbiterOptions.PingTargets"/>. <value>Default false.</value></summary>
    public bool Enabled { get; set; }

    /// <summary>Time between two probe rounds (every target is probed in each, at once). <value>Default 2 s; above <see cref="ArbiterOptions.PingTimeout"/>.</value></summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Consecutive rounds the owner must reach fewer targets than a peer before the group moves (Pacemaker's <c>dampen</c>): the
    /// move comes about <see cref="Rounds"/> × <see cref="Interval"/> after the loss. <value>Default 3; 2 to <see cref="RoundsMax"/>.</value>
    /// </summary>
    public int Rounds { get; set; } = 3;

    /// <summary>Checks the settings; <paramref name="arbiter"/> holds the targets and their timeout.</summary>
    internal void Validate(OptionsPath path, ArbiterOptions arbiter)
    {
        path.Positive(nameof(Interval), Interval);
        path.InRange(nameof(Rounds), Rounds, 2, RoundsMax, " (one lost round must never move a group)");
        if (!Enabled)
        {
            return;
        }

        if (arbiter.PingTargets.Count == 0)
        {
            path.Error(nameof(Enabled), Enabled, "ipfail needs ping targets: list them in Arbiter:PingTargets (e.g. \"icmp:10.0.0.1\"), or set Arbiter:Ipfail:Enabled to false");
        }

        if (Interval > TimeSpan.Zero && arbiter.PingTimeout >= Interval)
        {
            path.Error(nameof(Interval), Interval, string.Create(CultureInfo.InvariantCulture, $"must be longer than Arbiter:PingTimeout ({arbiter.PingTimeout}): a round ends before the next begins; raise the interval or lower the timeout"));
        }
    }
}
